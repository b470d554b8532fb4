// A PTX pass that does what ptxas does not always do: keep ILGPU's inline-PTX operands in registers.
// ILGPU 1.5.3 passes every operand of CudaAsm.EmitRef (the Ref/Output values an asm block writes, and its
// Input values) through a local variable of its size: `.local .align 4 .b8 __local_depotN[4];` (8 for
// 64-bit operands), whose address is taken once (`mov.b64 %rdX, __local_depotN;`) and then only stored
// to and loaded from (`st.local.f32 [%rdX], v;`, `ld.local.b32 d, [%rdX];`). ptxas usually turns such
// a slot into a register, but not always: never in a function that holds a cp.async (ptxas 11.8 and
// 12.4; the float16 cp.async GEMM, GemmFp16Async.cs, then keeps 1.5 KB of accumulators and fragments on
// the stack, ~800 local loads and stores in its loop), and not in the register-staged ldmatrix kernels
// either once they read their shared base once. This pass rewrites each such slot, function by
// function, as a `.reg .b32` (`.b64`) register: the store becomes a mov into it, the load a mov out of
// it (.b32 moves take f32, u32 and s32 registers alike), and the address mov goes. A slot used in any
// other way (another width, an offset, a vector access, an address that reaches any other instruction)
// is left as it is.
// Used on the PTX of the ldmatrix and cp.async kernels before the CUDA driver sees it (CompiledPtx.cs); the PTX test (GemmHalfPtxTests) assembles the result with ptxas and checks that no local memory is left.
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NativeCnn.Backends.Gpu;

internal static partial class PtxLocalPromotion
{
    /// <summary>The prefix of the registers this pass declares; ILGPU's own are %r, %rd, %rs, %f, %fd, %p.</summary>
    public const string RegisterPrefix = "%lslot";

    /// <summary><paramref name="ptx"/> with every promotable 4-byte local slot of every function held in a
    /// register; <paramref name="promoted"/> counts them. The text is returned unchanged where it already
    /// uses the pass's register names.</summary>
    public static string Apply(string ptx, out int promoted)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        promoted = 0;
        if (ptx.Contains(RegisterPrefix, StringComparison.Ordinal)) return ptx;
        var lines = ptx.Split('\n');
        var output = new StringBuilder(ptx.Length);
        int start = 0;
        while (start < lines.Length)
        {
            int end = FunctionEnd(lines, start);
            if (end < 0)
            {
                for (int i = start; i < lines.Length; i++) Append(output, lines[i], i == lines.Length - 1);
                break;
            }
            promoted += PromoteFunction(lines, start, end);
            for (int i = start; i <= end; i++) Append(output, lines[i], i == lines.Length - 1);
            start = end + 1;
        }
        return output.ToString();
    }

    private static void Append(StringBuilder output, string line, bool last)
    {
        output.Append(line);
        if (!last) output.Append('\n');
    }

    /// <summary>The line that closes the first function body at or after <paramref name="start"/> (the brace
    /// that brings the depth back to 0), or -1 if none opens.</summary>
    private static int FunctionEnd(string[] lines, int start)
    {
        int depth = 0;
        bool opened = false;
        for (int i = start; i < lines.Length; i++)
        {
            foreach (char ch in lines[i])
            {
                if (ch == '{') { depth++; opened = true; }
                else if (ch == '}') depth--;
            }
            if (opened && depth == 0) return i;
        }
        return -1;
    }

    /// <summary>Promotes the slots of the function in lines <paramref name="start"/>..<paramref name="end"/> in place.</summary>
    private static int PromoteFunction(string[] lines, int start, int end)
    {
        // the slots (with their sizes) and the one register that holds each one's address
        var declarations = new Dictionary<string, (int Line, int Bytes)>();
        var addressMoves = new Dictionary<string, List<(int Line, string Register)>>();
        for (int i = start; i <= end; i++)
        {
            var d = SlotDeclaration().Match(lines[i]);
            if (d.Success) { declarations[d.Groups[1].Value] = (i, int.Parse(d.Groups[2].Value, CultureInfo.InvariantCulture)); continue; }
            var m = AddressMove().Match(lines[i]);
            if (m.Success)
            {
                if (!addressMoves.TryGetValue(m.Groups[2].Value, out var list)) addressMoves[m.Groups[2].Value] = list = new();
                list.Add((i, m.Groups[1].Value));
            }
        }
        if (declarations.Count == 0) return 0;

        // every line each address register appears on
        var slotsByRegister = new Dictionary<string, string>();
        foreach (var (slot, _) in declarations)
            if (addressMoves.TryGetValue(slot, out var moves) && moves.Count == 1) slotsByRegister[moves[0].Register] = slot;
        var uses = new Dictionary<string, List<int>>();
        for (int i = start; i <= end; i++)
            foreach (Match r in Register64().Matches(lines[i]))
                if (slotsByRegister.ContainsKey(r.Value))
                {
                    if (!uses.TryGetValue(r.Value, out var list)) uses[r.Value] = list = new();
                    if (list.Count == 0 || list[^1] != i) list.Add(i);
                }

        int promoted = 0;
        foreach (var (register, slot) in slotsByRegister)
        {
            int moveLine = addressMoves[slot][0].Line;
            var (declarationLine, bytes) = declarations[slot];
            var lineUses = uses.GetValueOrDefault(register) ?? new List<int>();
            var accesses = lineUses.Where(i => i != moveLine).Select(i => (Line: i, Access: ScalarAccess(lines[i], register, bytes))).ToList();
            if (accesses.Any(a => a.Access is null)) continue;

            string slotRegister = RegisterPrefix + slot["__local_depot".Length..], bits = bytes == 8 ? "b64" : "b32";
            lines[declarationLine] = Indent(lines[declarationLine]) + $".reg .{bits} {slotRegister};";
            lines[moveLine] = "";
            foreach (var (i, access) in accesses)
            {
                var (isStore, operand) = access!.Value;
                lines[i] = Indent(lines[i]) + (isStore ? $"mov.{bits}\t{slotRegister}, {operand};" : $"mov.{bits}\t{operand}, {slotRegister};");
            }
            promoted++;
        }
        return promoted;
    }

    /// <summary>When the line is exactly one scalar store to, or load from, [register] of the slot's width
    /// (32 or 64 bits) and names the register nowhere else: whether it stores, and the value stored or the
    /// register loaded; null otherwise.</summary>
    private static (bool IsStore, string Operand)? ScalarAccess(string line, string register, int bytes)
    {
        var m = Access().Match(line);
        if (!m.Success || m.Groups["address"].Value != register) return null;
        if (m.Groups["bits"].Value != (bytes * 8).ToString(CultureInfo.InvariantCulture)) return null;
        if (Register64().Matches(line).Count(r => r.Value == register) != 1) return null;
        return m.Groups["op"].Value == "st" ? (true, m.Groups["value"].Value) : (false, m.Groups["target"].Value);
    }

    private static string Indent(string line) => line[..(line.Length - line.TrimStart().Length)];

    [GeneratedRegex(@"^\s*\.local\s+\.align\s+\d+\s+\.b8\s+(__local_depot\d+)\[(4|8)\];\s*$")]
    private static partial Regex SlotDeclaration();

    [GeneratedRegex(@"^\s*mov\.(?:b64|u64)\s+(%rd\d+),\s*(__local_depot\d+);\s*$")]
    private static partial Regex AddressMove();

    [GeneratedRegex(@"%rd\d+(?!\d)")]
    private static partial Regex Register64();

    /// <summary>st.local.T [%rdN], value; or ld.local.T target, [%rdN]; with T a 32- or 64-bit scalar type.</summary>
    [GeneratedRegex(@"^\s*(?:(?<op>st)\.local\.[bfus](?<bits>32|64)\s+\[(?<address>%rd\d+)\],\s*(?<value>[^;\s,]+)|(?<op>ld)\.local\.[bfus](?<bits>32|64)\s+(?<target>%\w+),\s*\[(?<address>%rd\d+)\]);\s*$")]
    private static partial Regex Access();
}
