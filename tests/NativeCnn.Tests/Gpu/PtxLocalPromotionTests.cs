// PtxLocalPromotion (src/NativeCnn/Backends/Gpu/PtxLocalPromotion.cs) on PTX text written the way ILGPU
// 1.5.3 writes inline-PTX operands: what it promotes (4- and 8-byte slots), what it must leave alone
// (another width, an offset, an address that escapes, the same register name in another function);
// that a compiled kernel can be rewritten in place on the pinned ILGPU (CompiledPtx.cs); and
// PtxTarget's sm_90a header; and, on a kernel where ptxas promotes the slots itself, that the pass
// leaves the same machine code (so it does what ptxas would). The passes' effect on the other kernels
// (no stack frame, no local loads or stores after ptxas) is checked in GemmHalfPtxTests.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

public class PtxLocalPromotionTests
{
    /// <summary>A function with one slot as ILGPU writes an EmitRef operand, and <paramref name="extra"/> lines.</summary>
    private static string Function(string name, string extra = "") => $$"""
        .visible .entry {{name}}(
        	.param .u64 p
        )
        {
        	.local .align 4 .b8 __local_depot0[4];
        	.local .align 4 .b8 __local_depot1[4];
        	.reg .b32 %r<8>;
        	.reg .f32 %f<8>;
        	.reg .b64 %rd<8>;
        	mov.b64	%rd1, __local_depot0;
        	mov.b64	%rd2, __local_depot1;
        	st.local.f32	[%rd1], 0f00000000;
        	st.local.b32	[%rd2], %r1;
        	ld.local.f32	%f2, [%rd1];
        	ld.local.b32	%r3, [%rd2];
        	add.f32 	%f2, %f2, %f2;
        	st.local.f32	[%rd1], %f2;
        	ld.local.f32	%f3, [%rd1];
        {{extra}}
        	ret;
        }
        """;

    [Fact]
    public void SlotsAccessedOnlyAsWholeWordsBecomeRegisters()
    {
        string ptx = PtxLocalPromotion.Apply(Function("k"), out int promoted);
        Assert.Equal(2, promoted);
        Assert.DoesNotContain("__local_depot", ptx);
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains(".reg .b32 %lslot0;", ptx);
        Assert.Contains(".reg .b32 %lslot1;", ptx);
        Assert.Contains("mov.b32\t%lslot0, 0f00000000;", ptx);   // the store
        Assert.Contains("mov.b32\t%lslot1, %r1;", ptx);
        Assert.Contains("mov.b32\t%f2, %lslot0;", ptx);          // the load
        Assert.Contains("mov.b32\t%r3, %lslot1;", ptx);
        Assert.Contains("mov.b32\t%f3, %lslot0;", ptx);
        Assert.Contains("add.f32 \t%f2, %f2, %f2;", ptx);        // everything else as it was
    }

    [Theory]
    [InlineData("\tld.local.u16\t%r4, [%rd1];")]         // another width
    [InlineData("\tst.local.f32\t[%rd1+4], %f1;")]      // an offset
    [InlineData("\tst.global.u64\t[%rd3], %rd1;")]      // the address escapes
    [InlineData("\tadd.u64\t%rd1, %rd1, 4;")]          // the address register changes
    [InlineData("\tld.local.v2.f32\t{%f4, %f5}, [%rd1];")] // a vector access
    public void ASlotUsedAnyOtherWayIsLeftAlone(string use)
    {
        string ptx = PtxLocalPromotion.Apply(Function("k", use), out int promoted);
        Assert.Equal(1, promoted);   // __local_depot1 only
        Assert.Contains(".local .align 4 .b8 __local_depot0[4];", ptx);
        Assert.Contains("mov.b64\t%rd1, __local_depot0;", ptx);
        Assert.Contains("ld.local.f32\t%f2, [%rd1];", ptx);
        Assert.DoesNotContain("__local_depot1", ptx);
    }

    [Fact]
    public void EightByteSlotsBecome64BitRegisters()
    {
        string ptx = PtxLocalPromotion.Apply(Function("k", """
            	.local .align 8 .b8 __local_depot2[8];
            	mov.b64	%rd5, __local_depot2;
            	st.local.b64	[%rd5], %rd3;
            	ld.local.u64	%rd6, [%rd5];
            """), out int promoted);
        Assert.Equal(3, promoted);
        Assert.Contains(".reg .b64 %lslot2;", ptx);
        Assert.Contains("mov.b64\t%lslot2, %rd3;", ptx);   // the stored value may itself be a 64-bit register
        Assert.Contains("mov.b64\t%rd6, %lslot2;", ptx);
        Assert.DoesNotContain("__local_depot", ptx);
    }

    [Theory]
    [InlineData("\tld.local.f64\t%fd1, [%rd1];")]   // a 4-byte slot read as 64 bits
    [InlineData("\tst.local.b32\t[%rd1], %rd1;")]   // its own address stored into it
    public void AnAccessOfTheWrongWidthOrThatStoresTheAddressKeepsTheSlot(string use)
    {
        PtxLocalPromotion.Apply(Function("k", use), out int promoted);
        Assert.Equal(1, promoted);
    }

    [Fact]
    public void EachFunctionIsRewrittenOnItsOwn()
    {
        // the second function reuses %rd1 for something else: its slot 0 stays, the first function's goes
        string second = Function("g", "\tadd.u64\t%rd1, %rd1, 4;");
        string ptx = PtxLocalPromotion.Apply(".version 7.8\n.target sm_80\n\n" + Function("f") + "\n\n" + second + "\n", out int promoted);
        Assert.Equal(3, promoted);
        int split = ptx.IndexOf(".entry g", StringComparison.Ordinal);
        Assert.DoesNotContain("__local_depot", ptx[..split]);
        Assert.Contains(".local .align 4 .b8 __local_depot0[4];", ptx[split..]);
        Assert.StartsWith(".version 7.8\n.target sm_80\n\n", ptx);
        Assert.EndsWith("}\n", ptx);
    }

    [Fact]
    public void TextWithoutSlotsOrAlreadyRewrittenComesBackUnchanged()
    {
        string plain = ".version 7.8\n.visible .entry k()\n{\n\tret;\n}\n";
        Assert.Equal(plain, PtxLocalPromotion.Apply(plain, out int none));
        Assert.Equal(0, none);
        string once = PtxLocalPromotion.Apply(Function("k"), out _);
        Assert.Equal(once, PtxLocalPromotion.Apply(once, out int again));
        Assert.Equal(0, again);
    }

    /// <summary>The backend rewrites the compiled kernel ILGPU hands it, before the accelerator loads it
    /// (CompiledPtx.cs): on the pinned ILGPU, PTXAssembly reads back the rewritten text.</summary>
    [Fact]
    public void ACompiledKernelIsRewrittenInPlace()
    {
        Assert.True(CompiledPtx.CanRewrite);
        var kernel = PtxKernels.CompileKernel(typeof(PromotionKernels).GetMethod(nameof(PromotionKernels.AddThroughAsm))!, KernelSpecialization.Empty);
        string before = kernel.PTXAssembly;
        Assert.Contains("__local_depot", before);
        int promoted = 0;
        CompiledPtx.Rewrite(kernel, text => PtxLocalPromotion.Apply(text, out promoted));
        Assert.True(promoted >= 2, $"{promoted} slots promoted");
        Assert.Equal(PtxLocalPromotion.Apply(before, out _), kernel.PTXAssembly);
        Assert.DoesNotContain("__local_depot", kernel.PTXAssembly);
    }
}

/// <summary>The pass on a real kernel where ptxas promotes the slots by itself (GemmFp16.cs's 128x128 mma.sync
/// kernel: no cp.async, no stack): if the rewrite is only what ptxas would have done, the machine code
/// is the same instruction for instruction. Needs ptxas and cuobjdump (/opt/cuda-ptxas).</summary>
public class PtxLocalPromotionMachineCodeTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _out;

    public PtxLocalPromotionMachineCodeTests(Xunit.Abstractions.ITestOutputHelper output) { _out = output; }

    [Fact]
    public void WhereptxasPromotesTheSlotsItselfThePassLeavesTheSameMachineCode()
    {
        string ptx = PtxKernels.Compile(typeof(NativeCnn.Kernels.GemmHalfKernels).GetMethod(nameof(NativeCnn.Kernels.GemmHalfKernels.GemmHalfTensorCore128Kernel))!,
                                        NativeCnn.Kernels.GemmHalfKernels.Specialization128);
        string promoted = PtxLocalPromotion.Apply(ptx, out int slots);
        Assert.True(slots > 100, $"{slots} slots promoted");
        if (PtxKernels.Ptxas is null || !File.Exists(PtxKernels.CuobjdumpPath)) { _out.WriteLine("ptxas or cuobjdump not installed: not compared"); return; }
        static List<string> Opcodes(string sass) =>
            System.Text.RegularExpressions.Regex.Matches(sass, @"^\s+/\*[0-9a-f]{4}\*/\s+(?:@!?U?P[T0-9]\s+)?([A-Z][A-Z0-9_.]*)", System.Text.RegularExpressions.RegexOptions.Multiline)
                .Select(m => m.Groups[1].Value).ToList();
        var (exit, log, sass) = PtxKernels.AssembleWithSass(ptx);
        var (promotedExit, promotedLog, promotedSass) = PtxKernels.AssembleWithSass(promoted);
        Assert.True(exit == 0 && promotedExit == 0, log + promotedLog);
        Assert.Contains("0 bytes stack frame", log);
        var before = Opcodes(sass!);
        var after = Opcodes(promotedSass!);
        _out.WriteLine($"{before.Count} instructions before, {after.Count} after");
        Assert.True(before.Count > 1000, $"{before.Count} instructions read from the SASS");
        Assert.Equal(before, after);
    }
}

internal static class PromotionKernels
{
    /// <summary>A kernel with one EmitRef (an output and an input through local slots).</summary>
    public static void AddThroughAsm(ArrayView<float> data)
    {
        int i = Grid.GlobalIndex.X;
        Ref<float> x = data[i];
        Input<float> y = 1f;
        CudaAsm.EmitRef("add.f32 %0, %0, %1;", ref x, ref y);
        data[i] = x.Value;
    }
}

/// <summary>PtxTarget.ForSm90a (src/NativeCnn/Backends/Gpu/PtxTarget.cs) on PTX headers as ILGPU writes them.</summary>
public class PtxTargetTests
{
    [Theory]
    [InlineData(".version 7.8\n.target sm_80\n.address_size 64\n", ".version 8.0\n.target sm_90a\n.address_size 64\n")]
    [InlineData(".version 8.8\n.target sm_90\n", ".version 8.8\n.target sm_90a\n")]          // a newer ISA stays
    [InlineData(".version 8.3\n.target sm_86, debug\n", ".version 8.3\n.target sm_90a, debug\n")]
    public void TheTargetBecomesSm90aAndTheIsaAtLeast80(string header, string expected)
    {
        string body = "\n.visible .entry k()\n{\n\tret;\n}\n";
        Assert.Equal(expected + body, PtxTarget.ForSm90a(header + body));
    }

    [Fact]
    public void PtxWithoutAHeaderIsRefused()
    {
        var e = Assert.Throws<NativeCnnException>(() => PtxTarget.ForSm90a(".visible .entry k()\n{\n\tret;\n}\n"));
        Assert.Contains("no .version or .target line", e.Message);
    }
}
