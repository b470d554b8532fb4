// Softmax, log-softmax and the losses: forward against float64 references, backward against central
// differences, PyTorch 1.13 values for cross-entropy with label smoothing and BCE, logits near +-1e4,
// and the errors a user can cause (bad labels, shapes, dtypes).
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class SoftmaxLossTests
{
    /// <summary>float64 log-softmax of each row of a (rows, cols) array.</summary>
    private static double[] LogSoftmaxRows(double[] x, int rows, int cols)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < cols; c++) max = Math.Max(max, x[r * cols + c]);
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] - max - Math.Log(sum);
        }
        return y;
    }

    /// <summary>log-softmax over dimension 1 of a (a, b, c) array, written out independently of the rows version.</summary>
    private static double[] LogSoftmaxMiddle(double[] x, int a, int b, int c)
    {
        var y = new double[x.Length];
        for (int i = 0; i < a; i++)
            for (int k = 0; k < c; k++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < b; j++) max = Math.Max(max, x[(i * b + j) * c + k]);
                for (int j = 0; j < b; j++) sum += Math.Exp(x[(i * b + j) * c + k] - max);
                for (int j = 0; j < b; j++) y[(i * b + j) * c + k] = x[(i * b + j) * c + k] - max - Math.Log(sum);
            }
        return y;
    }

    /// <summary>PyTorch's formula, mean over rows: (1 - eps) * (-logp[y]) + eps * mean_c(-logp[c]).</summary>
    private static double CrossEntropyReference(double[] x, int[] labels, int classes, double eps)
    {
        int rows = labels.Length;
        var logp = LogSoftmaxRows(x, rows, classes);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            double mean = 0;
            for (int c = 0; c < classes; c++) mean += -logp[r * classes + c];
            mean /= classes;
            total += (1 - eps) * -logp[r * classes + labels[r]] + eps * mean;
        }
        return total / rows;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftmaxLastDimMatchesReference(bool log)
    {
        // 7 columns: not a multiple of any vector width
        var input = Input.Random(11, 5, 7);
        OpCheck.Run(new[] { input }, t => log ? F.LogSoftmax(t[0]) : F.Softmax(t[0], dim: 1), v =>
        {
            var y = LogSoftmaxRows(v[0], 5, 7);
            return log ? y : y.Select(Math.Exp).ToArray();
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftmaxMiddleDimMatchesReference(bool log)
    {
        var input = Input.Random(12, 3, 4, 2);
        OpCheck.Run(new[] { input }, t => log ? F.LogSoftmax(t[0], dim: 1) : F.Softmax(t[0], dim: -2), v =>
        {
            var y = LogSoftmaxMiddle(v[0], 3, 4, 2);
            return log ? y : y.Select(Math.Exp).ToArray();
        });
    }

    [Fact]
    public void SoftmaxFirstDimOfMatrixSumsToOneDownColumns()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 0f, -1f }, new[] { 2, 3 });
        var y = F.Softmax(x, dim: 0).ToArray();
        for (int c = 0; c < 3; c++) Assert.Equal(1.0, y[c] + y[3 + c], 6);
        // column 0 holds logits 1 and 4: softmax is 1 / (1 + e^3) and e^3 / (1 + e^3)
        Assert.Equal(1 / (1 + Math.Exp(3)), y[0], 6);
        Assert.Equal(Math.Exp(3) / (1 + Math.Exp(3)), y[3], 6);
    }

    [Fact]
    public void LogSoftmaxOfHugeLogitsIsExactAndFinite()
    {
        var x = Tensor.FromArray(new[] { 1e4f, -1e4f, 0f, 1e4f, 1e4f - 1, 1e4f - 2 }, new[] { 2, 3 }, requiresGrad: true);
        var y = F.LogSoftmax(x);
        var values = y.ToArray();
        Assert.Equal(new[] { 0f, -2e4f, -1e4f }, values[..3]);
        double lse = Math.Log(1 + Math.Exp(-1) + Math.Exp(-2));
        OpCheck.AssertClose(new[] { -lse, -1 - lse, -2 - lse }, values[3..], 1e-6, "log_softmax near 1e4");

        var p = F.Softmax(x).ToArray();
        Assert.Equal(new[] { 1f, 0f, 0f }, p[..3]);
        Assert.All(p, v => Assert.True(float.IsFinite(v)));

        y.Sum().Backward();
        // d/dx sum(log_softmax) = 1 - cols * softmax
        var expected = new[] { 1 - 3.0, 1, 1 }.Concat(p[3..].Select(v => 1 - 3.0 * v)).ToArray();
        OpCheck.AssertClose(expected, x.Grad!.ToArray(), 1e-5, "gradient near 1e4");
    }

    [Fact]
    public void LogSoftmaxNearHugeLogitsPassesGradcheck()
    {
        // rows around +1e4 and -1e4: the float32 inputs are exact in float64, so the reference sees the same numbers
        var values = Input.Rand(5, 8, -3, 3);
        for (int i = 0; i < 4; i++) values[i] += 1e4;
        for (int i = 4; i < 8; i++) values[i] -= 1e4;
        OpCheck.Run(new[] { new Input(new[] { 2, 4 }, values) }, t => F.LogSoftmax(t[0]), v => LogSoftmaxRows(v[0], 2, 4), forwardTol: 1e-6);
    }

    [Fact]
    public void SoftmaxEdgeSizes()
    {
        // a size-1 dimension: softmax 1, log_softmax 0, and no gradient whatever the input
        var x = Tensor.FromArray(new[] { -3f, 50f, 0f }, new[] { 3, 1 }, requiresGrad: true);
        Assert.Equal(new[] { 1f, 1f, 1f }, F.Softmax(x).ToArray());
        var y = F.LogSoftmax(x);
        Assert.Equal(new[] { 0f, 0f, 0f }, y.ToArray());
        (y * Tensor.FromArray(new[] { 1f, 2f, 3f }, new[] { 3, 1 })).Sum().Backward();
        Assert.Equal(new[] { 0f, 0f, 0f }, x.Grad!.ToArray());
        // empty tensors pass through with their shape
        Assert.Equal(new[] { 0, 4 }, F.Softmax(Tensor.Zeros(0, 4)).Shape);
        Assert.Equal(new[] { 2, 0 }, F.LogSoftmax(Tensor.Zeros(2, 0), dim: 0).Shape);
        Assert.Contains("out of range", Assert.Throws<NativeCnnException>(() => F.Softmax(Tensor.Zeros(2, 3), dim: 2)).Message);
        Assert.Contains("Int32", Assert.Throws<NativeCnnException>(() => F.Softmax(Tensor.FromArray(new[] { 1, 2 }))).Message);
    }

    [Fact]
    public void SoftmaxOfFloat16StaysFloat16()
    {
        var x = Tensor.FromArray(new[] { 0f, (float)Math.Log(3) }, new[] { 1, 2 }).To(DType.Float16);
        var y = F.Softmax(x);
        Assert.Equal(DType.Float16, y.DType);
        OpCheck.AssertClose(new[] { 0.25, 0.75 }, y.ToArray(), 1e-3, "float16 softmax");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void CrossEntropyMatchesReference(double eps)
    {
        int[] labels = { 3, 0, 6, 6, 2 };
        var input = Input.Random(21, 5, 7);
        OpCheck.Run(new[] { input }, t => F.CrossEntropy(t[0], Tensor.FromArray(labels), (float)eps),
            v => new[] { CrossEntropyReference(v[0], labels, 7, eps) });
    }

    [Theory]
    [InlineData(0.0f, 2.1089718056148476)]
    [InlineData(0.1f, 2.123555138948181)]
    public void CrossEntropyMatchesPyTorch(float eps, double torchLoss)
    {
        // torch.nn.functional.cross_entropy(logits, [2, 0, 3], label_smoothing=eps) in PyTorch 1.13, float64
        double[][] torchGrad =
        {
            new[] { 0.05323118334403608, 0.009250192644226803, -0.09476772073920521, 0.032286344750942345, -0.1777208507028232, 0.1556124826305101, 0.001048508660360485, 0.021059859411952556, 0.045993512102848605, 0.1250233281761845, 0.1605331310571136, -0.33154997133614666 },
            new[] { 0.044897850010702754, 0.0009168593108934714, -0.0697677207392052, 0.02395301141760902, -0.15272085070282318, 0.14727914929717684, -0.007284824672972848, 0.012726526078619228, 0.03766017876951527, 0.1166899948428512, 0.15219979772378028, -0.3065499713361467 },
        };
        var logits = Tensor.FromArray(new[] { 0.5f, -1.25f, 2.0f, 0.0f, 3.0f, 3.0f, -2.0f, 1.0f, -0.75f, 0.25f, 0.5f, -4.0f }, new[] { 3, 4 }, requiresGrad: true);
        var loss = F.CrossEntropy(logits, Tensor.FromArray(new[] { 2, 0, 3 }), eps);
        Assert.Empty(loss.Shape);
        Assert.Equal(torchLoss, loss.Item(), 5);
        loss.Backward();
        OpCheck.AssertClose(torchGrad[eps == 0 ? 0 : 1], logits.Grad!.ToArray(), 1e-6, "cross_entropy gradient");
    }

    [Theory]
    [InlineData(0.0f, 10000.982184392054)]
    [InlineData(0.1f, 9500.948851058722)]
    public void CrossEntropyOfHugeLogitsIsFinite(float eps, double torchLoss)
    {
        // PyTorch 1.13: cross_entropy([[1e4, -1e4, 0], [2, 1, 0.5]], [1, 2], label_smoothing=eps)
        var logits = Tensor.FromArray(new[] { 1e4f, -1e4f, 0f, 2f, 1f, 0.5f }, new[] { 2, 3 }, requiresGrad: true);
        var loss = F.CrossEntropy(logits, Tensor.FromArray(new[] { 1, 2 }), eps);
        Assert.Equal(torchLoss, loss.Item(), 1e-6 * torchLoss);
        loss.Backward();
        var g = logits.Grad!.ToArray();
        Assert.All(g, v => Assert.True(float.IsFinite(v)));
        // row 0: softmax is (1, 0, 0) and the target is label 1; mean over 2 rows halves it
        double off = eps / 3.0, on = 1 - eps + off;
        OpCheck.AssertClose(new[] { (1 - off) / 2, (0 - on) / 2, (0 - off) / 2 }, g[..3], 1e-6, "row 0 gradient");
    }

    [Fact]
    public void CrossEntropyWithMinusInfinityLogitAndNoSmoothingIsFinite()
    {
        // only the label's log-probability counts without smoothing: a -inf elsewhere must not give 0 * inf
        var logits = Tensor.FromArray(new[] { float.NegativeInfinity, 0f, 0f }, new[] { 1, 3 });
        Assert.Equal(Math.Log(2), F.CrossEntropy(logits, Tensor.FromArray(new[] { 1 })).Item(), 6);
    }

    [Fact]
    public void CrossEntropyBadLabelNamesLabelAndRow()
    {
        var logits = Tensor.Zeros(4, 3);
        var ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 2, 5, 1 })));
        Assert.Contains("label 5", ex.Message);
        Assert.Contains("row 2", ex.Message);
        Assert.Contains("3 classes", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2, -1 })));
        Assert.Contains("label -1", ex.Message);
        Assert.Contains("row 3", ex.Message);
    }

    [Fact]
    public void CrossEntropyRejectsWrongLabelTensors()
    {
        var logits = Tensor.Zeros(4, 3);
        var ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(logits, Tensor.Zeros(4)));
        Assert.Contains("Int32", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2 })));
        Assert.Contains("3 entries", ex.Message);
        Assert.Contains("4 rows", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(Tensor.Zeros(4), Tensor.FromArray(new[] { 0, 1, 2, 0 })));
        Assert.Contains("(4)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => F.CrossEntropy(logits, Tensor.FromArray(new[] { 0, 1, 2, 0 }), 1.5f));
        Assert.Contains("1.5", ex.Message);
    }

    [Fact]
    public void CrossEntropyAcceptsStridedLabels()
    {
        // every other entry of (0, 9, 2, 9, 1, 9): the 9s would be out of range if the stride were ignored
        var labels = Tensor.FromArray(new[] { 0, 9, 2, 9, 1, 9 }).Slice(0, 0, 6, 2);
        var logits = Tensor.FromArray(new[] { 5f, 0f, 0f, 0f, 0f, 5f, 0f, 5f, 0f }, new[] { 3, 3 });
        double expected = Math.Log(1 + 2 * Math.Exp(-5));
        Assert.Equal(expected, F.CrossEntropy(logits, labels).Item(), 6);
    }

    [Fact]
    public void BceWithLogitsMatchesReference()
    {
        var logits = Input.Random(31, 3, 5);
        var targets = new Input(new[] { 3, 5 }, Input.Rand(32, 15, 0, 1));
        OpCheck.Run(new[] { logits, targets }, t => F.BinaryCrossEntropyWithLogits(t[0], t[1]), v =>
        {
            double total = 0;
            for (int i = 0; i < 15; i++)
            {
                double p = 1 / (1 + Math.Exp(-v[0][i]));
                total += -(v[1][i] * Math.Log(p) + (1 - v[1][i]) * Math.Log(1 - p));
            }
            return new[] { total / 15 };
        });
    }

    [Fact]
    public void BceWithLogitsOfExtremeLogitsMatchesPyTorch()
    {
        // PyTorch 1.13 binary_cross_entropy_with_logits, float64
        var x = Tensor.FromArray(new[] { 1e4f, -1e4f, 100f, -100f, 0f, 3f }, new[] { 6 }, requiresGrad: true);
        var t = Tensor.FromArray(new[] { 1f, 0f, 0f, 1f, 0.5f, 0.25f });
        var loss = F.BinaryCrossEntropyWithLogits(x, t);
        Assert.Equal(33.831955755355615, loss.Item(), 4);
        loss.Backward();
        OpCheck.AssertClose(new[] { 0.0, 0.0, 0.16666666666666666, -0.16666666666666666, 0.0, 0.1170956878037389 }, x.Grad!.ToArray(), 1e-6, "bce gradient");
    }

    [Fact]
    public void BceWithLogitsOfTinyLossKeepsPrecision()
    {
        // log(1 + e^-30) = 9.36e-14: 1 + e rounds to 1 in double, a plain log would give 0
        var loss = F.BinaryCrossEntropyWithLogits(Tensor.FromArray(new[] { 30f }), Tensor.FromArray(new[] { 1f }));
        Assert.Equal(Math.Exp(-30), loss.Item(), 1e-18);
        Assert.True(loss.Item() > 0);
    }

    [Fact]
    public void BceWithLogitsRejectsShapeMismatch()
    {
        var ex = Assert.Throws<NativeCnnException>(() => F.BinaryCrossEntropyWithLogits(Tensor.Zeros(2, 3), Tensor.Zeros(3, 2)));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(3, 2)", ex.Message);
    }

    [Fact]
    public void MseLossMatchesReference()
    {
        var x = Input.Random(41, 4, 3);
        var target = Input.Random(42, 4, 3);
        OpCheck.Run(new[] { x, target }, t => F.MseLoss(t[0], t[1]), v =>
        {
            double total = 0;
            for (int i = 0; i < 12; i++) total += (v[0][i] - v[1][i]) * (v[0][i] - v[1][i]);
            return new[] { total / 12 };
        });
    }

    [Fact]
    public void MseLossKnownValueAndShapeCheck()
    {
        var loss = F.MseLoss(Tensor.FromArray(new[] { 1f, 2f, 3f }), Tensor.FromArray(new[] { 1f, 0f, 6f }));
        Assert.Equal((0 + 4 + 9) / 3.0, loss.Item(), 6);
        var ex = Assert.Throws<NativeCnnException>(() => F.MseLoss(Tensor.Zeros(3), Tensor.Zeros(3, 1)));
        Assert.Contains("(3, 1)", ex.Message);
    }
}
