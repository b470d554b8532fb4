// The TF32 kernels (ConvImplicitTf32.cs, GemmTf32.cs) as ptxas builds them for sm_90 with the backend's
// launch bounds (GemmHalfKernels.ConvSpecialization: two groups of 128 per SM): one 8-word k step of
// 16 mma.sync.m16n8k8.tf32 in the PTX (the step loop's body), every staged operand rounded by
// cvt.rna.tf32.f32 and no float16 mma; the slice's last barrier after its fragment loads; 15,360 bytes
// of shared memory, no spills or stack, and HMMA.1688.F32.TF32 in the machine code. Numbers in
// benchmarks/results/ptxas-sm90.md. Where ptxas is not installed the assembly test is skipped.
using System.Reflection;
using System.Text.RegularExpressions;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class Tf32PtxTests
{
    private readonly ITestOutputHelper _out;

    public Tf32PtxTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> Kernels() => new[]
    {
        new object[] { nameof(ConvImplicitTf32Kernels.ConvImplicitTf32ForwardKernel) },
        new object[] { nameof(ConvImplicitTf32Kernels.ConvImplicitTf32BackwardDataKernel) },
        new object[] { nameof(ConvImplicitTf32Kernels.ConvImplicitTf32BackwardWeightKernel) },
        new object[] { nameof(GemmTf32Kernels.GemmTf32Kernel) },
    };

    private static string Ptx(string name)
    {
        var method = typeof(ConvImplicitTf32Kernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)
                     ?? typeof(GemmTf32Kernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)!;
        return PtxKernels.Compile(method, GemmHalfKernels.ConvSpecialization);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void OneK8StepOfTf32MmaOnRoundedOperands(string name)
    {
        string ptx = Ptx(name);
        Assert.Contains($".maxntid {GemmHalfKernels.ConvThreads}, 1, 1", ptx);
        Assert.Equal(16, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k8\.row\.col\.f32\.tf32\.tf32\.f32").Count);
        Assert.DoesNotMatch(@"m16n8k16", ptx);
        Assert.True(Regex.Matches(ptx, @"cvt\.rna\.tf32\.f32").Count >= 2, "both operands are rounded to TF32 as they are staged");
        int lastLoad = ptx.LastIndexOf("ld.shared", StringComparison.Ordinal);
        int lastBarrier = ptx.LastIndexOf("bar.sync", StringComparison.Ordinal);
        Assert.True(lastLoad > 0 && lastBarrier > lastLoad, "the slice loop's last bar.sync must follow its fragment loads");
    }

    [PtxasTheory(Sass = true)]
    [MemberData(nameof(Kernels))]
    public void AssembleWithoutSpills(string name)
    {
        var (registers, shared, sass) = PtxKernels.AssembleWithoutSpills(Ptx(name), _out);
        Assert.Equal(GemmHalfKernels.ConvSharedBytes, shared);
        Assert.True(registers <= 255, $"{registers} registers");
        int hmma = Regex.Matches(sass, @"HMMA\.1688\.F32\.TF32").Count;
        _out.WriteLine($"{name} sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled, {hmma} HMMA.1688.F32.TF32");
        Assert.True(hmma >= 16, $"{hmma} HMMA.1688.F32.TF32: a k8 step has 16");
        Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
    }
}
