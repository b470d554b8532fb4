// The tensor-core float16 GEMMs as the GPU will see them, checked without a GPU: ILGPU's PTX for sm_90
// holds one mma.sync per warp tile and k16 step of a 32-deep slice (64x64 kernel: 2 x 8 = 16; 128x128
// kernel: 2 x 16 = 32; the cp.async ldmatrix kernels of 64x64 warps: 2 x 32 = 64); where
// NVIDIA's ptxas is installed (/opt/cuda-ptxas, ../shared/gpu/install-ptxas.sh) each assembles with no
// stack frame, no spills, the expected shared memory and registers for its groups per SM (the 128x128
// ones with their launch bounds, as the backend loads them); where cuobjdump is installed too, the
// machine code holds those HMMA.16816.F32, no local-memory traffic, and in the cp.async ldmatrix kernels
// one LDSM per ldmatrix (16 per slice), one LDGSTS per cp.async and no 16-byte global load. Also their
// shared declaration, which their inline PTX names. They are checked as the backend loads them, after
// PtxLocalPromotion, and before it (that ptxas keeps them on the stack is why the pass exists). The
// numbers go to benchmarks/results/fp16-gemm-notes.md; the lab's variants are not checked here.
using System.Text.RegularExpressions;
using ILGPU.Runtime;
using NativeCnn.Backends.Gpu;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class GemmHalfPtxTests
{
    private readonly ITestOutputHelper _out;

    public GemmHalfPtxTests(ITestOutputHelper output) { _out = output; }

    /// <summary>Kernel, launch bounds, mma per slice, shared bytes, and the register budget of its occupancy.</summary>
    public static IEnumerable<object[]> Kernels() => new[]
    {
        new object[] { nameof(GemmHalfKernels.GemmHalfTensorCoreKernel), 16, 2 * 2 * GemmHalfKernels.TileM * GemmHalfKernels.RowWords * sizeof(uint), 128 },
        new object[] { nameof(GemmHalfKernels.GemmHalfTensorCore128Kernel), 32, 2 * 2 * GemmHalfKernels.Tile128 * GemmHalfKernels.RowWords * sizeof(uint), 128 },
        new object[] { nameof(GemmHalfKernels.GemmHalfAsyncW64NNKernel), 64, GemmHalfKernels.AsyncSharedBytes, 255 },
        new object[] { nameof(GemmHalfKernels.GemmHalfAsyncW64NTKernel), 64, GemmHalfKernels.AsyncSharedBytes, 255 },
        new object[] { nameof(GemmHalfKernels.GemmHalfAsyncW64TNKernel), 64, GemmHalfKernels.AsyncSharedBytes, 255 },
        new object[] { nameof(GemmHalfKernels.GemmHalfAsyncW64TTKernel), 64, GemmHalfKernels.AsyncSharedBytes, 255 },
    };

    private static bool IsAsync(string kernel) => kernel.StartsWith("GemmHalfAsync", StringComparison.Ordinal);
    private static bool IsWarp64(string kernel) => kernel.Contains("W64", StringComparison.Ordinal);

    /// <summary>The kernel's PTX as the backend loads it: with its launch bounds, and for the ldmatrix and
    /// cp.async kernels after PtxLocalPromotion (<paramref name="raw"/>: before).</summary>
    private static string Ptx(string kernel, bool raw = false)
    {
        string ptx = PtxKernels.Compile(typeof(GemmHalfKernels).GetMethod(kernel)!,
            kernel == nameof(GemmHalfKernels.GemmHalfTensorCoreKernel) ? KernelSpecialization.Empty
            : kernel.StartsWith("GemmHalfLdmatrix", StringComparison.Ordinal) || IsAsync(kernel)
                ? IsWarp64(kernel) ? GemmHalfKernels.SpecializationWarp64 : GemmHalfKernels.Specialization128
            : GemmHalfKernels.Specialization128);
        bool promoted = IsAsync(kernel) || kernel.StartsWith("GemmHalfLdmatrix", StringComparison.Ordinal);
        return promoted && !raw ? PtxLocalPromotion.Apply(ptx, out _) : ptx;
    }

    /// <summary>ldmatrix.x4 per warp and slice: op(A)'s 8 (4 m16 tiles, 2 k16 steps) and op(B)'s (2 or 4 n16 pairs, 2 steps).</summary>
    private static (int A, int B) LdmatrixPerSlice(string kernel) =>
        !kernel.Contains("Ldmatrix", StringComparison.Ordinal) && !IsAsync(kernel) ? (0, 0) : IsWarp64(kernel) ? (8, 8) : (8, 4);

    /// <summary>16-byte chunks a thread moves per slice, op(A)'s and op(B)'s: 2 + 2 (256 threads) or 4 + 4 (128).</summary>
    private static int ChunksPerSlice(string kernel) => IsWarp64(kernel) ? 8 : 4;

    [Theory]
    [MemberData(nameof(Kernels))]
    public void ThePtxHoldsOneMmaSyncPerWarpTileAndStep(string kernel, int mma, int sharedBytes, int maxRegisters)
    {
        _ = (sharedBytes, maxRegisters);
        string ptx = Ptx(kernel);
        Assert.Equal(mma, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32").Count);
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.True(target.Success && int.Parse(target.Groups[1].Value) is >= 80 and <= 90, $"PTX target: {target.Value}");
    }

    [PtxasTheory(Sass = true)]
    [MemberData(nameof(Kernels))]
    public void AssemblesWithoutSpillsAndTheMachineCodeUsesTensorCores(string kernel, int mma, int sharedBytes, int maxRegisters)
    {
        var (registers, shared, sass) = PtxKernels.AssembleWithoutSpills(Ptx(kernel), _out);
        Assert.Equal(sharedBytes, shared);
        Assert.True(registers <= maxRegisters, $"{registers} registers: more than {maxRegisters} costs groups per SM");
        int hmma = Regex.Matches(sass, @"HMMA\.16816\.F32").Count;
        _out.WriteLine($"{kernel} sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {hmma} HMMA.16816.F32");
        Assert.Equal(mma, hmma);
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
        // the ldmatrix kernels: one LDSM.x4 per ldmatrix of a slice in the machine code (none predicated away), the others none
        var (ldsmA, ldsmB) = LdmatrixPerSlice(kernel);
        Assert.Equal(ldsmA + ldsmB, Regex.Matches(sass, @"LDSM\.16\.MT?88\.4").Count);
        // the cp.async kernels: one LDGSTS per cp.async (each thread's chunks of slices 0 and 1 before the
        // loop, of slice i + 2 in it; each site with a whole-slice path and an edge path, whose copies zero-fill)
        // and no 16-byte LDG (the global loads left read C for beta); the others no LDGSTS
        int copies = IsAsync(kernel) ? 3 * ChunksPerSlice(kernel) : 0;
        Assert.Equal(copies, Regex.Matches(sass, @"LDGSTS\.E\.BYPASS\.128 ").Count);
        Assert.Equal(copies, Regex.Matches(sass, @"LDGSTS\.E\.BYPASS\.128\.ZFILL ").Count);
        if (IsAsync(kernel)) Assert.DoesNotMatch(@"\bLDG\.E\.128", sass);
        // ILGPU leaves the simulator's emulation in the PTX behind a constant-true predicate
        // (CudaAsm.IsSupported); ptxas must drop it
        Assert.DoesNotContain("SHFL", sass);
    }

    public static IEnumerable<object[]> LdmatrixKernels() =>
        from pair in new[] { "NN", "NT", "TN", "TT" } select new object[] { $"GemmHalfAsyncW64{pair}Kernel" };

    /// <summary>ldmatrix's (and cp.async's) inline PTX names the slice buffers by their symbol: they must be the
    /// kernel's one shared allocation, declared as ILGPU 1.5.3 does (16-byte aligned, __shared_alloca0, 32 KB,
    /// 48 KB for the cp.async ring). Per
    /// 32-deep slice a warp issues 4 + 4 ldmatrix.x4 of op(A) and 2 + 2 (64x32 warps) or 4 + 4 (64x64) of
    /// op(B), all of one kind for each operand: .trans exactly where the operand's rows run along k
    /// (op(A) transposed, op(B) as stored).</summary>
    [Theory]
    [MemberData(nameof(LdmatrixKernels))]
    public void TheLdmatrixKernelsReadTheirOneSharedBufferBySymbol(string kernel)
    {
        string ptx = Ptx(kernel);
        var shared = Regex.Matches(ptx, @"^\s*\.shared\s.*$", RegexOptions.Multiline).Select(m => m.Value.Trim()).ToList();
        Assert.Equal(new[] { $".shared .align 16 .b8 __shared_alloca0[{GemmHalfKernels.AsyncSharedBytes}];" }, shared);
        int plain = Regex.Matches(ptx, @"ldmatrix\.sync\.aligned\.m8n8\.x4\.shared\.b16").Count;
        int trans = Regex.Matches(ptx, @"ldmatrix\.sync\.aligned\.m8n8\.x4\.trans\.shared\.b16").Count;
        string pair = kernel[^8..^6];   // "NN", "NT", "TN" or "TT" before "Kernel"
        bool aTrans = pair[0] == 'T', bTrans = pair[1] == 'T';
        var (ldsmA, ldsmB) = LdmatrixPerSlice(kernel);
        // op(A) tiles are read with .trans when A is transposed; op(B) tiles when B is not
        int expectTrans = (aTrans ? ldsmA : 0) + (bTrans ? 0 : ldsmB);
        Assert.Equal((expectTrans, ldsmA + ldsmB - expectTrans), (trans, plain));
        // the ldmatrix kernels' optional L1 prefetch (GemmArgs.Prefetch): one per chunk a thread moves per slice;
        // the cp.async kernels: none, and a cp.async per chunk of slices 0 and 1 and of the slice in the loop, on
        // the whole-slice path (a constant 16-byte source size) and on the edge path (a computed one)
        bool async = IsAsync(kernel);
        Assert.Equal(async ? 0 : ChunksPerSlice(kernel), Regex.Matches(ptx, @"prefetch\.global\.L1 \[").Count);
        Assert.Equal(async ? 3 * ChunksPerSlice(kernel) : 0, Regex.Matches(ptx, @"cp\.async\.cg\.shared\.global \[\s*%r\d+\], \[%rd\d+\], 16, 16;").Count);
        Assert.Equal(async ? 3 * ChunksPerSlice(kernel) : 0, Regex.Matches(ptx, @"cp\.async\.cg\.shared\.global \[\s*%r\d+\], \[%rd\d+\], 16, %r\d+;").Count);
        Assert.Equal(async ? (3, 1) : (0, 0), (Regex.Matches(ptx, @"cp\.async\.commit_group;").Count, Regex.Matches(ptx, @"cp\.async\.wait_group 1;").Count));
    }

    /// <summary>After PtxLocalPromotion no local slot is left in the cp.async kernels' PTX.</summary>
    [Theory]
    [InlineData(nameof(GemmHalfKernels.GemmHalfAsyncW64NNKernel))]
    [InlineData(nameof(GemmHalfKernels.GemmHalfAsyncW64TNKernel))]
    public void TheLdmatrixKernelsLeaveNoLocalSlotAfterThePass(string kernel)
    {
        string promoted = Ptx(kernel);
        Assert.DoesNotContain(".local", promoted);
        Assert.DoesNotContain("__local_depot", promoted);
    }

    /// <summary>Why the cp.async kernels load through PtxLocalPromotion: as ILGPU writes them, ptxas keeps their
    /// inline-PTX operands in local memory (a stack frame and local loads and stores in the loop). (If a later
    /// ptxas promotes them itself, the last assertion says so.)</summary>
    [PtxasTheory]
    [InlineData(nameof(GemmHalfKernels.GemmHalfAsyncW64NNKernel))]
    [InlineData(nameof(GemmHalfKernels.GemmHalfAsyncW64TNKernel))]
    public void TheLdmatrixKernelsNeedTheirLocalsPromoted(string kernel)
    {
        var (exit, log) = PtxKernels.Assemble(Ptx(kernel, raw: true));
        _out.WriteLine(log);
        Assert.Equal(0, exit);
        int stack = int.Parse(Regex.Match(log, @"(\d+) bytes stack frame").Groups[1].Value);
        Assert.True(stack > 0, "ptxas now keeps the raw cp.async kernel's asm operands in registers by itself: PtxLocalPromotion may no longer be needed");
    }
}
