// Batch norm: training forward/backward against a float64 reference and central differences for
// x, weight and bias; running statistics against a hand computation; evaluation mode; precision on
// offset data; errors.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class BatchNormTests
{
    private const double Eps = 1e-5;

    /// <summary>Training-mode batch norm in float64: x (N, C, rest...) flat; weight/bias may be null.</summary>
    private static double[] TrainRef(double[] x, int n, int c, int hw, double[]? w, double[]? b)
    {
        var y = new double[x.Length];
        int m = n * hw;
        for (int ch = 0; ch < c; ch++)
        {
            double mean = 0, v = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) mean += x[(i * c + ch) * hw + j];
            mean /= m;
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) { double d = x[(i * c + ch) * hw + j] - mean; v += d * d; }
            v /= m;   // biased, as the normalisation uses
            for (int i = 0; i < n; i++)
                for (int j = 0; j < hw; j++)
                {
                    int k = (i * c + ch) * hw + j;
                    y[k] = (x[k] - mean) / Math.Sqrt(v + Eps) * (w?[ch] ?? 1) + (b?[ch] ?? 0);
                }
        }
        return y;
    }

    [Theory]
    [InlineData(new[] { 3, 2, 3, 2 })]
    [InlineData(new[] { 5, 3 })]        // BatchNorm1d on (N, C)
    [InlineData(new[] { 2, 3, 5 })]     // BatchNorm1d on (N, C, L)
    [InlineData(new[] { 2, 2, 1, 1 })]  // two values per channel: the smallest batch training allows
    [InlineData(new[] { 1, 2, 3, 7 })]  // one image; rows longer than a vector with a tail
    public void TrainingMatchesReferenceForInputWeightAndBias(int[] shape)
    {
        int n = shape[0], c = shape[1], hw = shape.Skip(2).Aggregate(1, (a, s) => a * s);
        var inputs = new[]
        {
            Input.Random(21, shape),
            new Input(new[] { c }, Input.Rand(22, c, 0.5, 1.5)),
            Input.Random(23, c),
        };
        OpCheck.Run(inputs, t => F.BatchNorm(t[0], null, null, t[1], t[2], training: true),
                    v => TrainRef(v[0], n, c, hw, v[1], v[2]), forwardTol: 2e-5, gradTol: 2e-4);
    }

    [Fact]
    public void TrainingWithoutAffineParametersMatchesReference()
    {
        var shape = new[] { 4, 3, 2, 3 };
        OpCheck.Run(new[] { Input.Random(24, shape) }, t => F.BatchNorm(t[0], null, null, null, null, training: true),
                    v => TrainRef(v[0], 4, 3, 6, null, null), forwardTol: 2e-5, gradTol: 2e-4);
    }

    [Fact]
    public void LargeOffsetBatchMatchesReferenceForwardAndBackward()
    {
        // big enough to split channels over threads, rows of 23*23 (not a vector multiple), mean 100
        // and std ~0.6: a naive sum-of-squares variance or x*scale+shift form would lose digits
        int n = 64, c = 4, h = 23, w = 23, hw = h * w;
        var x = Input.Rand(25, n * c * hw, 99, 101).Select(v => (double)(float)v).ToArray();
        var gy = Input.Rand(26, x.Length, -1, 1).Select(v => (double)(float)v).ToArray();
        var gamma = new[] { 0.5, 1.0, 1.5, 2.0 };
        var xt = Tensor.FromArray(x.Select(v => (float)v).ToArray(), new[] { n, c, h, w }, requiresGrad: true);
        var wt = Tensor.FromArray(gamma.Select(v => (float)v).ToArray(), new[] { c }, requiresGrad: true);
        var bt = Tensor.FromArray(new[] { 0f, 1f, -1f, 2f }, new[] { c }, requiresGrad: true);
        var y = F.BatchNorm(xt, null, null, wt, bt, training: true);
        OpCheck.AssertClose(TrainRef(x, n, c, hw, gamma, new[] { 0.0, 1, -1, 2 }), y.ToArray(), 1e-6, "forward");
        y.Backward(Tensor.FromArray(gy.Select(v => (float)v).ToArray(), new[] { n, c, h, w }));

        // analytic float64 backward: gx = w/std * (gy - mean(gy) - xhat * mean(gy * xhat))
        var gx = new double[x.Length];
        var gw = new double[c];
        var gb = new double[c];
        int m = n * hw;
        for (int ch = 0; ch < c; ch++)
        {
            var idx = Enumerable.Range(0, n).SelectMany(i => Enumerable.Range((i * c + ch) * hw, hw)).ToArray();
            double mean = idx.Average(k => x[k]);
            double std = Math.Sqrt(idx.Sum(k => (x[k] - mean) * (x[k] - mean)) / m + Eps);
            double sg = idx.Sum(k => gy[k]), sgx = idx.Sum(k => gy[k] * (x[k] - mean) / std);
            gw[ch] = sgx;
            gb[ch] = sg;
            foreach (var k in idx) gx[k] = gamma[ch] / std * (gy[k] - sg / m - (x[k] - mean) / std * sgx / m);
        }
        OpCheck.AssertClose(gx, xt.Grad!.ToArray(), 1e-4, "gx");
        OpCheck.AssertClose(gw, wt.Grad!.ToArray(), 1e-4, "gweight");
        OpCheck.AssertClose(gb, bt.Grad!.ToArray(), 1e-4, "gbias");
    }

    [Fact]
    public void RunningStatisticsFollowPyTorchAfterTwoSteps()
    {
        // PyTorch's defaults: running mean 0, running variance 1, momentum 0.1
        var rm = Tensor.Zeros(2);
        var rv = Tensor.Ones(2);
        // batch 1: channel 0 = 1,2,3,4 (mean 2.5, unbiased var 5/3); channel 1 = 0,0,2,2 (mean 1, var 4/3)
        F.BatchNorm(Tensor.FromArray(new[] { 1f, 0, 2, 0, 3, 2, 4, 2 }, new[] { 4, 2 }), rm, rv, null, null, training: true);
        // batch 2: channel 0 = 2,2,2,6 (mean 3, var 12/3 = 4); channel 1 = -1,1,-1,1 (mean 0, var 4/3)
        F.BatchNorm(Tensor.FromArray(new[] { 2f, -1, 2, 1, 2, -1, 6, 1 }, new[] { 4, 2 }), rm, rv, null, null, training: true);
        // mean: 0.9*(0.9*0 + 0.1*2.5) + 0.1*3 = 0.525; 0.9*(0.1*1) + 0.1*0 = 0.09
        OpCheck.AssertClose(new[] { 0.525, 0.09 }, rm.ToArray(), 1e-7, "running mean");
        // var: 0.9*(0.9 + 0.1*5/3) + 0.1*4 = 1.36; 0.9*(0.9 + 0.1*4/3) + 0.1*4/3 = 1.0633333
        OpCheck.AssertClose(new[] { 1.36, 0.9 * (0.9 + 0.4 / 3) + 0.4 / 3 }, rv.ToArray(), 1e-7, "running var");
    }

    [Fact]
    public void EvaluationUsesRunningStatisticsAndLeavesThemUnchanged()
    {
        var shape = new[] { 3, 2, 2, 3 };
        var inputs = new[]
        {
            Input.Random(31, shape),
            new Input(new[] { 2 }, new[] { 0.3, -0.2 }, Differentiable: false),
            new Input(new[] { 2 }, new[] { 0.5, 2.0 }, Differentiable: false),
            new Input(new[] { 2 }, new[] { 1.5, -0.7 }),
            new Input(new[] { 2 }, new[] { 0.1, 0.2 }),
        };
        Tensor? rm = null, rv = null;
        OpCheck.Run(inputs, t =>
        {
            rm = t[1]; rv = t[2];
            return F.BatchNorm(t[0], t[1], t[2], t[3], t[4], training: false);
        }, v =>
        {
            var y = new double[v[0].Length];
            for (int k = 0; k < y.Length; k++)
            {
                int ch = k / 6 % 2;
                y[k] = (v[0][k] - v[1][ch]) / Math.Sqrt(v[2][ch] + Eps) * v[3][ch] + v[4][ch];
            }
            return y;
        });
        Assert.Equal(new[] { 0.3f, -0.2f }, rm!.ToArray());
        Assert.Equal(new[] { 0.5f, 2.0f }, rv!.ToArray());
    }

    [Fact]
    public void EvaluationWithoutAffineParametersMatchesReference()
    {
        var inputs = new[]
        {
            Input.Random(32, 4, 3),
            new Input(new[] { 3 }, new[] { 0.1, 0.2, -0.3 }, Differentiable: false),
            new Input(new[] { 3 }, new[] { 0.25, 1.0, 4.0 }, Differentiable: false),
        };
        OpCheck.Run(inputs, t => F.BatchNorm(t[0], t[1], t[2], null, null, training: false),
                    v => v[0].Select((x, k) => (x - v[1][k % 3]) / Math.Sqrt(v[2][k % 3] + Eps)).ToArray());
    }

    [Fact]
    public void Float16InputGivesFloat16OutputAndFloat32Statistics()
    {
        var x = Tensor.FromArray(new[] { 1f, 3f, 5f, 7f }, new[] { 2, 2 }).To(DType.Float16);   // channel 0: 1, 5; channel 1: 3, 7
        var rm = Tensor.Zeros(2);
        var rv = Tensor.Ones(2);
        var y = F.BatchNorm(x, rm, rv, null, null, training: true, momentum: 1f);
        Assert.Equal(DType.Float16, y.DType);
        OpCheck.AssertClose(new[] { -1.0, -1, 1, 1 }, y.ToArray(), 1e-3, "forward");
        Assert.Equal(new[] { 3f, 5f }, rm.ToArray());   // momentum 1: the batch mean
        Assert.Equal(new[] { 8f, 8f }, rv.ToArray());   // unbiased: ((2^2 + 2^2) / 1)
    }

    [Fact]
    public void EvaluationAcceptsASingleValuePerChannel()
    {
        var y = F.BatchNorm(Tensor.FromArray(new[] { 3f, 5f }, new[] { 1, 2 }), Tensor.FromArray(new[] { 1f, 1f }),
                            Tensor.FromArray(new[] { 4f, 1f }), null, null, training: false, eps: 0f + 1e-5f);
        OpCheck.AssertClose(new[] { 2 / Math.Sqrt(4 + Eps), 4 / Math.Sqrt(1 + Eps) }, y.ToArray(), 1e-6, "forward");
    }

    [Fact]
    public void ErrorsNameTheProblem()
    {
        var ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(1, 3), null, null, null, null, training: true));
        Assert.Contains("more than 1 value per channel", ex.Message);
        Assert.Contains("(1, 3)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(1, 3, 1, 1), Tensor.Zeros(3), Tensor.Ones(3), null, null, training: true));
        Assert.Contains("(1, 3, 1, 1)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(4, 3), null, null, Tensor.Ones(4), null, training: true));
        Assert.Contains("weight must have shape (3)", ex.Message);
        Assert.Contains("(4)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(4, 3), null, null, null, null, training: false));
        Assert.Contains("evaluation mode", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(4), null, null, null, null, training: true));
        Assert.Contains("(N, C)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.BatchNorm(Tensor.Zeros(4, 3), Tensor.Zeros(new[] { 3 }, DType.Float16), Tensor.Ones(3), null, null, training: true));
        Assert.Contains("runningMean must be a dense float32", ex.Message);
    }
}
