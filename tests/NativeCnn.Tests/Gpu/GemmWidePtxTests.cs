// The 128x128 SGEMM kernel as ptxas builds it for sm_90 with the backend's launch bounds: at most
// 128 registers (two groups of 256 threads per SM), no spills or stack, the double-buffered shared
// slices, the fragment reads as 16-byte shared loads (LDS.128), 64 FMAs per four of them, and the
// main loop's barrier after its shared loads (ILGPU 1.5.3's O2 code placement once put it ahead).
using System.Text.RegularExpressions;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class GemmWidePtxTests
{
    private readonly ITestOutputHelper _out;

    public GemmWidePtxTests(ITestOutputHelper output) { _out = output; }

    private static string Ptx() =>
        PtxKernels.Compile(typeof(GemmWideKernels).GetMethod(nameof(GemmWideKernels.GemmWideKernel))!, GemmWideKernels.Specialization);

    [Fact]
    public void ThePtxCarriesTheLaunchBoundsAndVectorSharedLoads()
    {
        string ptx = Ptx();
        Assert.Contains($".maxntid {GemmWideKernels.GroupThreads}, 1, 1", ptx);
        Assert.Contains(".minnctapersm 2", ptx);
        Assert.DoesNotContain(".local", ptx);
        // the k loop's body: 4 k steps x (2 of op(A) + 2 of op(B))
        Assert.Equal(16, Regex.Matches(ptx, @"ld\.shared\.v4\.f32").Count);
    }

    [Fact]
    public void TheSliceBarrierFollowsTheSharedLoads()
    {
        // With the eight k steps written straight into the block that ends in Group.Barrier(), ILGPU
        // 1.5.3 (O2) emitted the bar.sync first and the shared loads after it: a race on the GPU (a
        // fast thread overwrites the buffer a slow one still reads), invisible on the simulator. In
        // the PTX the loop's barrier then came before every ld.shared.v4; now it must come after.
        string ptx = Ptx();
        int lastLoad = ptx.LastIndexOf("ld.shared.v4.f32", StringComparison.Ordinal);
        int lastBarrier = ptx.LastIndexOf("bar.sync", StringComparison.Ordinal);
        Assert.True(lastLoad > 0 && lastBarrier > lastLoad, "the k loop's bar.sync must follow its shared loads");
        Assert.Equal(2, Regex.Matches(ptx, @"bar\.sync").Count);   // one after the first slice's stores, one per slice
    }

    [PtxasFact(Sass = true)]
    public void AssemblesInto128RegistersWithoutSpills()
    {
        var (registers, shared, sass) = PtxKernels.AssembleWithoutSpills(Ptx(), _out);
        Assert.Equal(GemmWideKernels.SharedBytes, shared);
        Assert.True(registers <= 128, $"{registers} registers: at most 128 keeps 2 groups of 256 threads per SM");
        int lds128 = Regex.Matches(sass, @"LDS\.128").Count, ffma = Regex.Matches(sass, @"\bFFMA\b").Count;
        _out.WriteLine($"GemmWideKernel sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {lds128} LDS.128, {ffma} FFMA");
        Assert.Equal(16, lds128);
        Assert.True(ffma >= 256, $"{ffma} FFMA: the loop body alone has 4 x 64");
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
    }
}
