// The three implicit-GEMM conv kernels as ptxas builds them for sm_90 with the backend's launch
// bounds: at most 128 registers (four groups of 128 threads per SM), no spills or stack, the
// double-buffered shared slices (12,800 bytes), the tile's reads as 16-byte shared loads (LDS.128),
// 64 FMAs per four of them, and each main loop's barrier after its shared loads (ILGPU 1.5.3's O2
// code placement once put it ahead in the GEMM kernel). The float16 kernels (ConvImplicitFp16.cs): at
// most 255 registers with their launch bounds (two groups of 128 per SM), no spills or stack, 15,360
// bytes of shared memory, 16 HMMA.16816 per k16 step, the slice's last barrier after its fragment
// loads. Where ptxas is not installed the PTX checks still run and the assembly tests are skipped
// with the reason ([PtxasTheory]).
using System.Reflection;
using System.Text.RegularExpressions;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class ConvImplicitPtxTests
{
    private readonly ITestOutputHelper _out;

    public ConvImplicitPtxTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> Kernels() => new[]
    {
        new object[] { nameof(ConvImplicitKernels.ConvImplicitForwardKernel) },
        new object[] { nameof(ConvImplicitKernels.ConvImplicitBackwardDataKernel) },
        new object[] { nameof(ConvImplicitKernels.ConvImplicitBackwardWeightKernel) },
    };

    public static IEnumerable<object[]> HalfKernels() => new[]
    {
        new object[] { nameof(GemmHalfKernels.ConvImplicitHalfForwardKernel) },
        new object[] { nameof(GemmHalfKernels.ConvImplicitHalfBackwardDataKernel) },
        new object[] { nameof(GemmHalfKernels.ConvImplicitHalfBackwardWeightKernel) },
    };

    private static string HalfPtx(string name) =>
        PtxKernels.Compile(typeof(GemmHalfKernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!, GemmHalfKernels.ConvSpecialization);

    [Theory]
    [MemberData(nameof(HalfKernels))]
    public void HalfKernelsIssueOneK16StepOfMmaBeforeTheirBarrier(string name)
    {
        string ptx = HalfPtx(name);
        Assert.Contains($".maxntid {GemmHalfKernels.ConvThreads}, 1, 1", ptx);
        Assert.Equal(16, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k16").Count);   // the k-pair loop's body: one k16 step
        int lastLoad = ptx.LastIndexOf("ld.shared", StringComparison.Ordinal);
        int lastBarrier = ptx.LastIndexOf("bar.sync", StringComparison.Ordinal);
        Assert.True(lastLoad > 0 && lastBarrier > lastLoad, "the slice loop's last bar.sync must follow its fragment loads");
    }

    [PtxasTheory(Sass = true)]
    [MemberData(nameof(HalfKernels))]
    public void HalfKernelsAssembleWithoutSpills(string name)
    {
        var (registers, shared, sass) = PtxKernels.AssembleWithoutSpills(HalfPtx(name), _out);
        Assert.Equal(GemmHalfKernels.ConvSharedBytes, shared);
        Assert.True(registers <= 255, $"{registers} registers");
        int hmma = Regex.Matches(sass, @"HMMA\.16816\.F32").Count;
        _out.WriteLine($"{name} sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {hmma} HMMA.16816.F32");
        Assert.True(hmma >= 16, $"{hmma} HMMA: a k16 step has 16");
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
    }

    private static string Ptx(string name) =>
        PtxKernels.Compile(typeof(ConvImplicitKernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!, ConvImplicitKernels.Specialization);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void ThePtxCarriesTheLaunchBoundsVectorLoadsAndBarrierOrder(string name)
    {
        string ptx = Ptx(name);
        Assert.Contains($".maxntid {ConvImplicitKernels.GroupThreads}, 1, 1", ptx);
        Assert.Contains(".minnctapersm 4", ptx);
        Assert.DoesNotContain(".local", ptx);
        // the k loop's body: 4 k steps x (2 of A + 2 of B)
        Assert.Equal(16, Regex.Matches(ptx, @"ld\.shared\.v4\.f32").Count);
        int lastLoad = ptx.LastIndexOf("ld.shared.v4.f32", StringComparison.Ordinal);
        int lastBarrier = ptx.LastIndexOf("bar.sync", StringComparison.Ordinal);
        Assert.True(lastLoad > 0 && lastBarrier > lastLoad, "the k loop's bar.sync must follow its shared loads");
        Assert.Equal(2, Regex.Matches(ptx, @"bar\.sync").Count);   // one after the first slice's stores, one per slice
    }

    [PtxasTheory(Sass = true)]
    [MemberData(nameof(Kernels))]
    public void AssemblesInto128RegistersWithoutSpills(string name)
    {
        var (registers, shared, sass) = PtxKernels.AssembleWithoutSpills(Ptx(name), _out);
        Assert.Equal(2 * (8 * 68 + 8 * 132) * sizeof(float), shared);
        Assert.True(registers <= 128, $"{registers} registers: at most 128 keeps 4 groups of 128 threads per SM");
        int lds128 = Regex.Matches(sass, @"LDS\.128").Count, ffma = Regex.Matches(sass, @"\bFFMA\b").Count;
        _out.WriteLine($"{name} sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {lds128} LDS.128, {ffma} FFMA");
        Assert.Equal(16, lds128);
        Assert.True(ffma >= 256, $"{ffma} FFMA: the loop body alone has 4 x 64");
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
    }
}
