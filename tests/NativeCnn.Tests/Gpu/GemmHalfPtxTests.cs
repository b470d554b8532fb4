// The tensor-core float16 GEMM as the GPU will see it, checked without a GPU: ILGPU's PTX for sm_90
// holds the 16 mma.sync of a 32-deep slice (2 k16 steps x 8 tiles per warp); where NVIDIA's ptxas
// is installed (/opt/cuda-ptxas, ../shared/gpu/install-ptxas.sh) it assembles with no stack frame and
// no spills and the expected shared memory; where cuobjdump is installed too, the machine code holds
// 16 HMMA.16816.F32 and no local-memory traffic. The numbers go to benchmarks/results/fp16-gemm-notes.md.
using System.Diagnostics;
using System.Text.RegularExpressions;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class GemmHalfPtxTests
{
    private const string Cuobjdump = "/opt/cuda-ptxas/bin/cuobjdump";
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
        if (PtxKernels.Ptxas is null) { _out.WriteLine("ptxas not installed: PTX checked, not assembled"); return; }
        string dir = Path.Combine(Path.GetTempPath(), "nativecnn-hgemm-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string ptxPath = Path.Combine(dir, "k.ptx"), cubin = Path.Combine(dir, "k.cubin");
            File.WriteAllText(ptxPath, Ptx());
            var (exit, log) = Run(PtxKernels.PtxasPath, $"-arch=sm_90 -v \"{ptxPath}\" -o \"{cubin}\"");
            _out.WriteLine(log);
            Assert.Equal(0, exit);
            var (registers, spill, shared) = PtxKernels.Usage(log);
            Assert.Equal(0, spill);
            Assert.Contains("0 bytes stack frame", log);
            Assert.Equal(2 * 64 * GemmHalfKernels.RowWords * sizeof(uint), shared);
            Assert.True(registers <= 128, $"{registers} registers: at most 128 keeps 4 groups of 128 threads per SM");
            if (!File.Exists(Cuobjdump)) { _out.WriteLine("cuobjdump not installed: SASS not checked"); return; }
            var (dumpExit, sass) = Run(Cuobjdump, $"-sass \"{cubin}\"");
            Assert.Equal(0, dumpExit);
            int hmma = Regex.Matches(sass, @"HMMA\.16816\.F32").Count;
            _out.WriteLine($"GemmHalfTensorCoreKernel sm_90: {registers} registers, {shared} bytes shared, {spill} bytes spilled, {hmma} HMMA.16816.F32");
            Assert.Equal(16, hmma);
            Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
            // ILGPU leaves the simulator's shuffle emulation in the PTX behind a constant-true
            // predicate (CudaAsm.IsSupported); ptxas must drop it
            Assert.DoesNotContain("SHFL", sass);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static (int Exit, string Output) Run(string exe, string args)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }
}
