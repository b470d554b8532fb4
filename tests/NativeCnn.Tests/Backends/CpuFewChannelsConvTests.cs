// The few-channel convolution kernels (CpuConv.FewChannels.cs), forced on for every geometry
// and every CPU path this machine runs: forward (+ bias) and the weight gradient against float64
// references (odd/even sizes, padding 0/1/3, stride 1/2, C = 1..3, batch 1 and several, K not a
// multiple of the 4-channel blocks, several row bands per image); the weight gradient does not depend
// on the thread count; NaN/Inf come out where the other conv paths put them; and where Auto applies them.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Backends;

[Collection("CPU path switching")]
public class CpuFewChannelsConvTests
{
    public sealed record Case(int N, int C, int H, int W, int K, int R, int S, int Stride, int Pad)
    {
        internal ConvGeometry G => new(N, C, H, W, K, R, S, Stride, Stride, Pad, Pad, 1, 1);
    }

    private static readonly Case[] Cases =
    {
        new(1, 1, 5, 5, 4, 3, 3, 1, 1),     // batch 1, odd size
        new(3, 1, 6, 8, 5, 3, 3, 1, 0),     // even, no padding (Q != W: the gathering unfold), K = 4 + 1
        new(2, 2, 7, 6, 8, 3, 3, 2, 1),     // stride 2, C = 2
        new(2, 3, 9, 9, 9, 3, 3, 1, 1),     // C = 3 (27 taps)
        new(2, 3, 11, 10, 8, 7, 7, 2, 3),   // the resnet stem's kernel, scaled down
        new(4, 1, 28, 28, 8, 3, 3, 1, 1),   // mnist conv1: 784 pixels a band
        new(1, 3, 30, 30, 6, 5, 5, 1, 2),   // bands of 3 rows: 10 units over 8 slots
    };

    public static TheoryData<string> Paths() => CpuPathTests.Paths();

    private static double[] Rand(int seed, int n) => Input.Rand(seed, n, -1, 1).Select(v => (double)(float)v).ToArray();

    private static float[] F(double[] v) => v.Select(x => (float)x).ToArray();

    /// <summary>Runs forward (with bias) and the weight (and bias) gradient through the CPU backend.</summary>
    private static (float[] Y, float[] Gw, float[] Gb) Run(ConvGeometry g, float[] x, float[] w, float[] b, float[] gy)
    {
        var be = CpuBackend.Instance;
        var y = be.FromHost(new float[gy.Length]);
        var gw = be.FromHost(Enumerable.Repeat(float.NaN, w.Length).ToArray());   // must be overwritten
        var gb = be.FromHost(new float[b.Length]);
        be.Conv2dForward(be.FromHost(x), be.FromHost(w), be.FromHost(b), y, g);
        be.Conv2dBackwardWeight(be.FromHost(x), be.FromHost(gy), gw, gb, g);
        var (ry, rw, rb) = (new float[gy.Length], new float[w.Length], new float[b.Length]);
        be.ToHost(y, 0, ry);
        be.ToHost(gw, 0, rw);
        be.ToHost(gb, 0, rb);
        return (ry, rw, rb);
    }

    /// <summary>y = conv(x, w) + b and the weight gradient, in float64.</summary>
    private static (double[] Y, double[] Gw) Reference(ConvGeometry g, double[] x, double[] w, double[] b, double[] gy)
    {
        var (y, _, gw) = ConvReference.Float64(g, x, w, gy);
        int pq = g.P * g.Q;
        for (int i = 0; i < y.Length; i++) y[i] += b[i / pq % g.K];
        return (y, gw);
    }

    private static void With(string path, FewChannelsMode mode, Action body)
    {
        CpuInfo.Select(Enum.Parse<CpuPath>(path));
        var saved = CpuBackend.FewChannelsConv;
        CpuBackend.FewChannelsConv = mode;
        try { body(); }
        finally
        {
            CpuBackend.FewChannelsConv = saved;
            CpuInfo.Select(CpuPath.Auto);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void FewChannelKernelsMatchFloat64(string path) => With(path, FewChannelsMode.Always, () =>
    {
        foreach (var c in Cases)
        {
            var g = c.G;
            var x = Rand(1, g.N * g.C * g.H * g.W);
            var w = Rand(2, g.K * g.Crs);
            var b = Rand(3, g.K);
            var gy = Rand(4, g.N * g.K * g.P * g.Q);
            var (y, gw, _) = Run(g, F(x), F(w), F(b), F(gy));
            var (ey, egw) = Reference(g, x, w, b, gy);
            double tol = 2e-5 * Math.Sqrt(g.Crs) + 1e-6;
            OpCheck.AssertClose(ey, y, tol, $"{path} direct {c} forward");
            OpCheck.AssertClose(egw, gw, 4e-5 * Math.Sqrt(g.N * g.P * g.Q) + 1e-6, $"{path} direct {c} weight gradient");
        }
    });

    [Fact]
    public void WeightGradientDoesNotDependOnTheThreads()
    {
        var g = Cases[^1].G;   // 10 units over 8 slots
        var x = F(Rand(5, g.N * g.C * g.H * g.W));
        var w = F(Rand(6, g.K * g.Crs));
        var gy = F(Rand(7, g.N * g.K * g.P * g.Q));
        int saved = CpuParallel.MaxThreads;
        float[] one, two;
        var savedMode = CpuBackend.FewChannelsConv;
        CpuBackend.FewChannelsConv = FewChannelsMode.Always;
        try
        {
            CpuParallel.MaxThreads = 1;
            one = Run(g, x, w, new float[g.K], gy).Gw;
            CpuParallel.MaxThreads = 2;
            two = Run(g, x, w, new float[g.K], gy).Gw;
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
            CpuBackend.FewChannelsConv = savedMode;
        }
        Assert.Equal(one, two);   // bit for bit
        Assert.Contains(one, v => v != 0);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void NaNAndInfinityPropagateAsThroughTheGemm(string path)
    {
        foreach (var c in new[] { new Case(2, 1, 6, 6, 5, 3, 3, 1, 1), new Case(2, 3, 7, 7, 4, 3, 3, 2, 1) })
        {
            var g = c.G;
            var x = F(Rand(8, g.N * g.C * g.H * g.W));
            var w = F(Rand(9, g.K * g.Crs));
            var b = F(Rand(10, g.K));
            var gy = F(Rand(11, g.N * g.K * g.P * g.Q));
            x[3] = float.PositiveInfinity;
            x[x.Length - 8] = float.NaN;
            w[g.Crs + 1] = float.NegativeInfinity;        // channel 1: meets the padding's zeros (NaN there)
            gy[gy.Length / 2] = float.PositiveInfinity;   // times the padding's zeros: NaN entries in gw
            (float[] Y, float[] Gw, float[] Gb) direct = (new float[0], new float[0], new float[0]), gemm = direct;
            With(path, FewChannelsMode.Always, () => direct = Run(g, x, w, b, gy));
            With(path, FewChannelsMode.Off, () => gemm = Run(g, x, w, b, gy));
            AssertSameSpecials(gemm.Y, direct.Y, $"{path} {c} forward");
            AssertSameSpecials(gemm.Gw, direct.Gw, $"{path} {c} weight gradient");
            Assert.Contains(direct.Y, float.IsNaN);
            Assert.Contains(direct.Y, float.IsInfinity);
            Assert.Contains(direct.Gw, float.IsNaN);
        }
    }

    /// <summary>NaN, +Inf and -Inf in the same places; the finite values close.</summary>
    private static void AssertSameSpecials(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            bool same = float.IsNaN(e) ? float.IsNaN(a) : float.IsInfinity(e) ? a == e : float.IsFinite(a) && Math.Abs(a - e) <= 1e-4 * (1 + Math.Abs(e));
            Assert.True(same, $"{what}: element {i} is {a}, the GEMM path gives {e}");
        }
    }

    [Fact]
    public void AutoAppliesToFewChannelsAndFewTaps()
    {
        var saved = CpuBackend.FewChannelsConv;
        CpuBackend.FewChannelsConv = FewChannelsMode.Auto;
        try
        {
            Assert.True(CpuBackend.FewChannelsApplies(new ConvGeometry(64, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1)));    // mnist conv1
            Assert.True(CpuBackend.FewChannelsApplies(new ConvGeometry(64, 3, 32, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1)));    // 27 taps, stride 2
            Assert.False(CpuBackend.FewChannelsApplies(new ConvGeometry(64, 3, 32, 32, 32, 3, 3, 3, 3, 1, 1, 1, 1)));   // stride 3: not measured
            Assert.False(CpuBackend.FewChannelsApplies(new ConvGeometry(16, 3, 128, 128, 64, 7, 7, 2, 2, 3, 3, 1, 1))); // resnet stem
            Assert.False(CpuBackend.FewChannelsApplies(new ConvGeometry(8, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1)));   // many channels
        }
        finally { CpuBackend.FewChannelsConv = saved; }
    }
}
