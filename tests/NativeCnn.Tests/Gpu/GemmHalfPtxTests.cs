// The tensor-core float16 GEMM as the GPU will see it, checked without a GPU: ILGPU's PTX for sm_90
// holds the 16 mma.sync of a 32-deep slice (2 k16 steps x 8 tiles per warp); where NVIDIA's ptxas
// is installed (/opt/cuda-ptxas, ../shared/gpu/install-ptxas.sh) it assembles with no stack frame and
// no spills and the expected shared memory; where cuobjdump is installed too, the machine code holds
// 16 HMMA.16816.F32 and no local-memory traffic. The numbers go to benchmarks/results/fp16-gemm-notes.md.
using System.Text.RegularExpressions;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class GemmHalfPtxTests
{
    private readonly ITestOutputHelper _out;

    public GemmHalfPtxTests(ITestOutputHelper output) { _out = output; }

    private static string Ptx() => PtxKernels.Compile(typeof(GemmHalfKernels).GetMethod(nameof(GemmHalfKernels.GemmHalfTensorCoreKernel))!);

    [Fact]
    public void ThePtxHoldsSixteenMmaSyncPerSliceForSm80AndUp()
    {
        string ptx = Ptx();
        Assert.Equal(16, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32").Count);
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.True(target.Success && int.Parse(target.Groups[1].Value) is >= 80 and <= 90, $"PTX target: {target.Value}");
    }

    [Fact]
    public void AssemblesWithoutSpillsAndTheMachineCodeUsesTensorCores()
    {
        if (PtxKernels.AssembleWithoutSpills(Ptx(), _out) is not { } built) return;
        var (registers, shared, sass) = built;
        Assert.Equal(2 * 64 * GemmHalfKernels.RowWords * sizeof(uint), shared);
        Assert.True(registers <= 128, $"{registers} registers: at most 128 keeps 4 groups of 128 threads per SM");
        if (sass is null) return;
        int hmma = Regex.Matches(sass, @"HMMA\.16816\.F32").Count;
        _out.WriteLine($"GemmHalfTensorCoreKernel sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {hmma} HMMA.16816.F32");
        Assert.Equal(16, hmma);
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
        // ILGPU leaves the simulator's shuffle emulation in the PTX behind a constant-true
        // predicate (CudaAsm.IsSupported); ptxas must drop it
        Assert.DoesNotContain("SHFL", sass);
    }
}
