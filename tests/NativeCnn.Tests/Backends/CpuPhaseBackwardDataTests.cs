// Strided backward-data by stride phases (src/NativeCnn/Backends/Cpu/CpuConv.PhaseBackwardData.cs),
// called directly on every CPU path against a float64 reference: odd and even sizes, kernels 1/3/7,
// paddings 0/1/3 and one past the kernel's reach (negative sub-padding), per-axis strides 2x1 and 3,
// phases that no tap reaches (1x1 stride 2), gy read by masked copies, gathers and plain copies,
// and a batch split into chunks; and the output-channel kernel per phase (CpuConv.PhaseOc.cs) through
// Conv2dBackwardData on each vector path. Which path Conv2d takes is checked in tests/NativeCnn.Tests/Ops/ConvTests.cs.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Backends;

/// <summary>The test classes that switch the CPU path (CpuInfo.Select) or the backend's process-wide
/// convolution switches (ImplicitColumns, DirectConvolution, GatherTables, MaskedShifts,
/// PhaseBackwardData, PhaseGathers) and assert which path ran: one collection, so xunit never runs two
/// of them at once.</summary>
[CollectionDefinition(CpuConvSwitches.Name)]
public class CpuConvSwitches
{
    public const string Name = "CPU path switching";
}

[Collection(CpuConvSwitches.Name)]
public class CpuPhaseBackwardDataTests
{
    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        foreach (var p in CpuInfo.Supported()) data.Add(p.ToString());
        return data;
    }

    private static ConvGeometry G(int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph, int pw) =>
        new(n, c, h, w, k, r, s, sh, sw, ph, pw, 1, 1);

    private static readonly ConvGeometry[] Cases =
    {
        G(2, 8, 8, 8, 6, 3, 3, 2, 2, 1, 1),      // 3x3 pad 1, even: phases of 1, 2, 2 and 4 taps
        G(3, 5, 7, 9, 4, 3, 3, 2, 2, 1, 1),      // odd sizes: phases of unequal lengths
        G(2, 3, 11, 10, 4, 7, 7, 2, 2, 3, 3),    // the stem's 7x7 pad 3
        G(2, 6, 9, 8, 5, 1, 1, 2, 2, 0, 0),      // 1x1 shortcut: three phases without taps
        G(2, 4, 9, 10, 3, 3, 3, 2, 2, 0, 0),     // pad 0
        G(2, 4, 6, 7, 3, 1, 1, 2, 2, 1, 1),      // padding past the kernel's reach
        G(1, 4, 10, 11, 3, 3, 5, 2, 1, 1, 2),    // stride 2 x 1, per-axis padding
        G(2, 3, 10, 10, 2, 3, 3, 3, 3, 1, 1),    // stride 3
        G(1, 4, 36, 34, 3, 3, 3, 2, 2, 1, 1),    // phase rows of 17-18 pixels: segment copies
    };

    /// <summary>gx in float64 (it does not depend on x).</summary>
    private static double[] Reference(ConvGeometry g, double[] gy, double[] w) =>
        ConvReference.Float64(g, new double[g.N * g.C * g.H * g.W], w, gy).Gx;

    private static double[] Rand(int seed, int n) => Input.Rand(seed, n, -1, 1).Select(v => (double)(float)v).ToArray();

    private static void Check(ConvGeometry g, string label)
    {
        var gy = Rand(g.K + g.H, g.N * g.K * g.P * g.Q);
        var w = Rand(g.C + g.R, g.K * g.C * g.R * g.S);
        var gx = Enumerable.Repeat(float.NaN, g.N * g.C * g.H * g.W).ToArray();   // every element must be written
        CpuBackend.Instance.BackwardDataByPhases(gy.Select(v => (float)v).ToArray(), w.Select(v => (float)v).ToArray(), gx, g);
        var expected = Reference(g, gy, w);
        Assert.Contains(expected, v => Math.Abs(v) > 0.5);
        OpCheck.AssertClose(expected, gx, 2e-5 * Math.Sqrt(g.K * g.R * g.S) + 1e-6, label);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void MatchesFloat64OnEveryPath(string path)
    {
        var selected = Enum.Parse<CpuPath>(path);
        CpuInfo.Select(selected);
        try
        {
            Assert.Equal(selected, CpuInfo.Path);
            // gy read through masked shifted copies (the default), index-table gathers where rows
            // are short, and plain copies plus zeroing
            foreach (var (gathers, masks) in new[] { (false, true), (true, true), (false, false) })
            {
                CpuBackend.PhaseGathers = gathers;
                CpuBackend.ConvColumns.MaskedShifts = masks;
                foreach (var g in Cases) Check(g, $"{path} gathers {gathers} masks {masks} {g}");
            }
        }
        finally
        {
            CpuInfo.Select(CpuPath.Auto);
            CpuBackend.PhaseGathers = false;
            CpuBackend.ConvColumns.MaskedShifts = true;
        }
    }

    public static TheoryData<string> VectorPaths()
    {
        var data = new TheoryData<string>();
        foreach (var p in CpuInfo.Supported())
            if (p != CpuPath.Portable) data.Add(p.ToString());
        return data;
    }

    // the output-channel kernel per phase (CpuConv.PhaseOc.cs), through Conv2dBackwardData: mnist's conv2,
    // odd sizes (phases of 7 and 6 pixels a row), one image (its tiles shared over the cores), 5x5 pad 2
    // (phases of 9, 6, 6 and 4 taps, leading paddings 1 and 0), no padding, 16-pixel rows
    private static readonly ConvGeometry[] OcCases =
    {
        G(2, 32, 28, 28, 64, 3, 3, 2, 2, 1, 1),
        G(3, 32, 13, 13, 16, 3, 3, 2, 2, 1, 1),
        G(1, 32, 14, 14, 8, 3, 3, 2, 2, 1, 1),
        G(2, 32, 12, 12, 8, 5, 5, 2, 2, 2, 2),
        G(2, 32, 9, 10, 8, 3, 3, 2, 2, 0, 0),
        G(2, 32, 32, 32, 16, 3, 3, 2, 2, 1, 1),   // 16-pixel output rows (the per-phase GEMMs stop below)
        G(1, 32, 10, 11, 8, 3, 5, 2, 1, 1, 2),    // stride 2 x 1, per-axis padding: two phases
        G(2, 32, 9, 9, 8, 3, 3, 3, 3, 0, 0),      // stride 3: nine phases of one tap
    };

    [Theory]
    [MemberData(nameof(VectorPaths))]
    public void OutputChannelKernelPerPhaseMatchesFloat64(string path)
    {
        CpuInfo.Select(Enum.Parse<CpuPath>(path));
        try
        {
            var backend = CpuBackend.Instance;
            foreach (var g in OcCases)
            {
                Assert.True(CpuBackend.PhaseOcApplies(g), $"{path}: the output-channel kernel should take {g}");
                var gy = Rand(g.K + g.H, g.N * g.K * g.P * g.Q);
                var w = Rand(g.C + g.R, g.K * g.C * g.R * g.S);
                var gx = Enumerable.Repeat(float.NaN, g.N * g.C * g.H * g.W).ToArray();   // every element must be written
                var gxs = backend.FromHost(gx);
                backend.Conv2dBackwardData(backend.FromHost(gy.Select(v => (float)v).ToArray()), backend.FromHost(w.Select(v => (float)v).ToArray()), gxs, g);
                OpCheck.AssertClose(Reference(g, gy, w), ((CpuStorage)gxs).F32, 2e-5 * Math.Sqrt(g.K * g.R * g.S) + 1e-6, $"{path} phase oc {g}");
            }
            var mnist = OcCases[0];
            Assert.False(CpuBackend.PhaseOcApplies(mnist with { C = 40 }));            // not whole channel panels
            Assert.False(CpuBackend.PhaseOcApplies(mnist with { PadH = 3, PadW = 3 }));   // a phase's leading padding below 0
            Assert.False(CpuBackend.PhaseOcApplies(mnist with { C = 256 }));            // C*R*S = 2304: col2im
            Assert.False(CpuBackend.PhaseOcApplies(mnist with { StrideH = 3, StrideW = 3 }));   // stride 3 pad 1: a phase's padding below 0
            CpuBackend.PhaseOcBackwardData = false;
            Assert.False(CpuBackend.PhaseOcApplies(mnist));
        }
        finally
        {
            CpuBackend.PhaseOcBackwardData = true;
            CpuInfo.Select(CpuPath.Auto);
        }
    }

    [Fact]
    public void ChunkedBatchMatchesFloat64()
    {
        // 5 images of 4*20*20 floats under a limit of 3 images' worth: chunks of 3 and 2 images
        long saved = CpuBackend.ColLimitFloats;
        try
        {
            CpuBackend.ColLimitFloats = 3 * 4 * 20 * 20;
            Check(G(5, 4, 20, 20, 3, 3, 3, 2, 2, 1, 1), "chunked");
        }
        finally { CpuBackend.ColLimitFloats = saved; }
    }

    [Fact]
    public void DilationIsRefused()
    {
        var g = new ConvGeometry(2, 32, 9, 9, 8, 3, 3, 2, 2, 2, 2, 2, 2);
        Assert.Throws<InvalidOperationException>(() => CpuBackend.Instance.BackwardDataByPhases(
            new float[g.N * g.K * g.P * g.Q], new float[g.K * g.Crs], new float[g.N * g.C * g.H * g.W], g));
    }
}
