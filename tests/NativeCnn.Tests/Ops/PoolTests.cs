// Pooling ops: forward against float64 references written from PyTorch's definitions, backward by
// central differences; ties in max-pool (where central differences are invalid) by exact gradients.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class PoolTests
{
    // ---- float64 references over flat (N, C, H, W) arrays ----------------------------------

    private static int Out(int size, int k, int s, int p) => (size + 2 * p - k) / s + 1;

    private static double[] MaxPoolRef(double[] x, int[] sh, int k, int s, int pad)
    {
        int n = sh[0], c = sh[1], h = sh[2], w = sh[3], ph = Out(h, k, s, pad), qw = Out(w, k, s, pad);
        var y = new double[n * c * ph * qw];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < ph; i++)
                for (int j = 0; j < qw; j++)
                {
                    double best = double.NegativeInfinity;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int hh = i * s - pad + a, ww = j * s - pad + b;
                            double v = hh < 0 || hh >= h || ww < 0 || ww >= w ? double.NegativeInfinity : x[(pl * h + hh) * w + ww];
                            best = Math.Max(best, v);
                        }
                    y[(pl * ph + i) * qw + j] = best;
                }
        return y;
    }

    private static double[] AvgPoolRef(double[] x, int[] sh, int k, int s, int pad, bool includePad)
    {
        int n = sh[0], c = sh[1], h = sh[2], w = sh[3], ph = Out(h, k, s, pad), qw = Out(w, k, s, pad);
        var y = new double[n * c * ph * qw];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < ph; i++)
                for (int j = 0; j < qw; j++)
                {
                    double sum = 0;
                    int inside = 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int hh = i * s - pad + a, ww = j * s - pad + b;
                            if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
                            sum += x[(pl * h + hh) * w + ww];
                            inside++;
                        }
                    // with floor mode and pad <= k/2 a window never runs past the padded edge, so
                    // PyTorch's count_include_pad divisor is the full k*k
                    y[(pl * ph + i) * qw + j] = sum / (includePad ? k * k : inside);
                }
        return y;
    }

    private static double[] AdaptiveRef(double[] x, int[] sh, int ph, int qw, bool max)
    {
        int n = sh[0], c = sh[1], h = sh[2], w = sh[3];
        var y = new double[n * c * ph * qw];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < ph; i++)
                for (int j = 0; j < qw; j++)
                {
                    int hs = (int)Math.Floor((double)i * h / ph), he = (int)Math.Ceiling((double)(i + 1) * h / ph);
                    int ws = (int)Math.Floor((double)j * w / qw), we = (int)Math.Ceiling((double)(j + 1) * w / qw);
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int a = hs; a < he; a++)
                        for (int b = ws; b < we; b++)
                        {
                            double v = x[(pl * h + a) * w + b];
                            acc = max ? Math.Max(acc, v) : acc + v;
                        }
                    y[(pl * ph + i) * qw + j] = max ? acc : acc / ((he - hs) * (we - ws));
                }
        return y;
    }

    // ---- max pool ---------------------------------------------------------------------------

    [Theory]
    [InlineData(2, 0, 0, 6, 6)]   // stride defaults to the kernel
    [InlineData(3, 2, 1, 7, 5)]   // resnet stem shape: overlapping windows, padding
    [InlineData(3, 1, 1, 5, 5)]
    [InlineData(2, 1, 0, 4, 5)]
    [InlineData(1, 1, 0, 3, 3)]
    [InlineData(3, 3, 1, 8, 7)]
    [InlineData(2, 3, 1, 5, 6)]   // stride larger than the kernel skips inputs
    public void MaxPoolMatchesReference(int k, int stride, int pad, int h, int w)
    {
        var sh = new[] { 2, 3, h, w };
        int? s = stride == 0 ? null : stride;
        OpCheck.Run(new[] { Input.Random(11, sh) }, t => F.MaxPool2d(t[0], k, s, pad),
                    v => MaxPoolRef(v[0], sh, k, s ?? k, pad));
    }

    [Fact]
    public void MaxPoolTiesRouteTheGradientToTheFirstElementOfEachWindow()
    {
        // 3x3 constant input, k=2, stride 1: windows start at (0,0), (0,1), (1,0), (1,1)
        var x = Tensor.Full(new[] { 1, 1, 3, 3 }, 2f, requiresGrad: true);
        var y = F.MaxPool2d(x, 2, 1);
        Assert.Equal(new[] { 2f, 2f, 2f, 2f }, y.ToArray());
        y.Backward(Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, new[] { 1, 1, 2, 2 }));
        Assert.Equal(new[] { 1f, 2f, 0f, 3f, 4f, 0f, 0f, 0f, 0f }, x.Grad!.ToArray());
    }

    [Fact]
    public void MaxPoolTiesWithPaddingAccumulateOverlappingWindows()
    {
        // k=3, stride 1, pad 1 on a 3x3 constant: the first real element of each window is
        // (0,0) for four windows, (0,1) and (1,0) for two each, (1,1) for one
        var x = Tensor.Full(new[] { 1, 1, 3, 3 }, -1f, requiresGrad: true);
        var y = F.MaxPool2d(x, 3, 1, 1);
        Assert.All(y.ToArray(), v => Assert.Equal(-1f, v));   // padding is -inf, never 0
        y.Sum().Backward();
        Assert.Equal(new[] { 4f, 2f, 0f, 2f, 1f, 0f, 0f, 0f, 0f }, x.Grad!.ToArray());
    }

    [Fact]
    public void MaxPoolPaddingNeverWinsOverNegativeInputs()
    {
        var x = Tensor.Full(new[] { 1, 2, 4, 4 }, -5f);
        var y = F.MaxPool2d(x, 3, 2, 1);
        Assert.Equal(new[] { 1, 2, 2, 2 }, y.Shape.ToArray());
        Assert.All(y.ToArray(), v => Assert.Equal(-5f, v));
    }

    [Fact]
    public void MaxPoolPropagatesNaN()
    {
        var x = Tensor.FromArray(new[] { 1f, float.NaN, 3f, 4f }, new[] { 1, 1, 2, 2 });
        Assert.True(float.IsNaN(F.MaxPool2d(x, 2).Item()));
    }

    // ---- average pool -----------------------------------------------------------------------

    [Theory]
    [InlineData(2, 2, 0, true)]
    [InlineData(3, 2, 1, true)]
    [InlineData(3, 2, 1, false)]
    [InlineData(3, 1, 1, false)]
    [InlineData(2, 1, 1, true)]
    [InlineData(2, 1, 1, false)]
    [InlineData(5, 2, 2, false)]
    public void AvgPoolMatchesReference(int k, int s, int pad, bool includePad)
    {
        var sh = new[] { 2, 2, 7, 6 };
        OpCheck.Run(new[] { Input.Random(12, sh) }, t => F.AvgPool2d(t[0], k, s, pad, includePad),
                    v => AvgPoolRef(v[0], sh, k, s, pad, includePad));
    }

    [Fact]
    public void AvgPoolDivisorFollowsCountIncludePad()
    {
        var x = Tensor.Ones(1, 1, 3, 3);
        // counting padding: corners see 4 of 9 cells, edges 6 of 9, the centre all 9
        var with = F.AvgPool2d(x, 3, 1, 1, countIncludePad: true).ToArray();
        OpCheck.AssertClose(new[] { 4 / 9f, 6 / 9f, 4 / 9f, 6 / 9f, 1f, 6 / 9f, 4 / 9f, 6 / 9f, 4 / 9f }, with, 1e-7, "count_include_pad=True");
        var without = F.AvgPool2d(x, 3, 1, 1, countIncludePad: false).ToArray();
        OpCheck.AssertClose(Enumerable.Repeat(1f, 9).ToArray(), without, 1e-7, "count_include_pad=False");
    }

    // ---- adaptive pools ---------------------------------------------------------------------

    [Theory]
    [InlineData(7, 7, 3, 3)]
    [InlineData(5, 5, 2, 2)]
    [InlineData(1, 1, 1, 1)]
    [InlineData(7, 5, 3, 2)]
    [InlineData(4, 6, 4, 6)]   // identity
    [InlineData(3, 3, 5, 4)]   // output larger than the input: windows repeat elements
    [InlineData(6, 5, 1, 1)]   // global pooling
    public void AdaptiveAvgPoolMatchesReference(int h, int w, int p, int q)
    {
        var sh = new[] { 2, 2, h, w };
        OpCheck.Run(new[] { Input.Random(13, sh) }, t => F.AdaptiveAvgPool2d(t[0], p, q), v => AdaptiveRef(v[0], sh, p, q, max: false));
    }

    [Theory]
    [InlineData(7, 7, 3, 3)]
    [InlineData(5, 5, 2, 2)]
    [InlineData(1, 1, 1, 1)]
    [InlineData(7, 5, 3, 2)]
    [InlineData(3, 3, 5, 4)]
    [InlineData(6, 5, 1, 1)]
    public void AdaptiveMaxPoolMatchesReference(int h, int w, int p, int q)
    {
        var sh = new[] { 2, 2, h, w };
        OpCheck.Run(new[] { Input.Random(14, sh) }, t => F.AdaptiveMaxPool2d(t[0], p, q), v => AdaptiveRef(v[0], sh, p, q, max: true));
    }

    [Fact]
    public void AdaptiveWindowsOverlapOnNonDivisibleSizes()
    {
        // 5 -> 2: windows [0, 3) and [2, 5) share element 2
        var x = Tensor.FromArray(new[] { 0f, 1f, 2f, 3f, 4f }, new[] { 1, 1, 1, 5 }, requiresGrad: true);
        var y = F.AdaptiveAvgPool2d(x, 1, 2);
        OpCheck.AssertClose(new[] { 1f, 3f }, y.ToArray(), 1e-7, "forward");
        y.Sum().Backward();
        OpCheck.AssertClose(new[] { 1 / 3f, 1 / 3f, 2 / 3f, 1 / 3f, 1 / 3f }, x.Grad!.ToArray(), 1e-7, "gradient");

        var xm = Tensor.FromArray(new[] { 0f, 1f, 9f, 3f, 4f }, new[] { 1, 1, 1, 5 }, requiresGrad: true);
        var ym = F.AdaptiveMaxPool2d(xm, 1, 2);
        Assert.Equal(new[] { 9f, 9f }, ym.ToArray());
        ym.Sum().Backward();
        Assert.Equal(new[] { 0f, 0f, 2f, 0f, 0f }, xm.Grad!.ToArray());
    }

    [Fact]
    public void AdaptiveMaxPoolTiesPickTheFirstElement()
    {
        var x = Tensor.Full(new[] { 1, 1, 3, 3 }, 1f, requiresGrad: true);
        F.AdaptiveMaxPool2d(x, 2, 2).Sum().Backward();   // windows [0,2) and [1,3) on both axes
        Assert.Equal(new[] { 1f, 1f, 0f, 1f, 1f, 0f, 0f, 0f, 0f }, x.Grad!.ToArray());
    }

    [Fact]
    public void AdaptiveConcatPoolIsMaxThenAvgOnChannels()
    {
        var sh = new[] { 2, 3, 5, 4 };
        OpCheck.Run(new[] { Input.Random(15, sh) }, t => F.AdaptiveConcatPool2d(t[0], 2, 1), v =>
        {
            var mx = AdaptiveRef(v[0], sh, 2, 1, max: true);
            var av = AdaptiveRef(v[0], sh, 2, 1, max: false);
            var y = new double[2 * 6 * 2];
            for (int n = 0; n < 2; n++)
                for (int j = 0; j < 3 * 2; j++)
                {
                    y[n * 12 + j] = mx[n * 6 + j];
                    y[n * 12 + 6 + j] = av[n * 6 + j];
                }
            return y;
        });
        Assert.Equal(new[] { 2, 6, 1, 1 }, F.AdaptiveConcatPool2d(Tensor.Zeros(2, 3, 4, 4), 1, 1).Shape.ToArray());
    }

    // ---- dtypes and errors --------------------------------------------------------------------

    [Fact]
    public void Float16InputGivesFloat16Output()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, new[] { 1, 1, 2, 2 }).To(DType.Float16);
        var y = F.AvgPool2d(x, 2);
        Assert.Equal(DType.Float16, y.DType);
        Assert.Equal(2.5f, y.Item());
        Assert.Equal(4f, F.MaxPool2d(x, 2).Item());
    }

    [Fact]
    public void InvalidArgumentsNameTheProblem()
    {
        var x = Tensor.Zeros(1, 1, 4, 4);
        var ex = Assert.Throws<NativeCnnException>(() => F.MaxPool2d(Tensor.Zeros(1, 4, 4), 2));
        Assert.Contains("(1, 4, 4)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.MaxPool2d(x, 3, 1, 2));
        Assert.Contains("padding", ex.Message);
        Assert.Contains("got 2", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.AvgPool2d(x, 5));
        Assert.Contains("larger than the padded input 4x4", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.AvgPool2d(x, 2, 0));
        Assert.Contains("stride", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.AdaptiveAvgPool2d(x, 0, 1));
        Assert.Contains("outH", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.AdaptiveMaxPool2d(Tensor.Zeros(1, 1, 0, 3), 1, 1));
        Assert.Contains("(1, 1, 0, 3)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.MaxPool2d(Tensor.FromArray(new[] { 1, 2, 3, 4 }, new[] { 1, 1, 2, 2 }), 2));
        Assert.Contains("Int32", ex.Message);
    }
}
