// Metric values against hand computations, accumulated over several batches so that a mean of
// per-batch means (instead of the whole-set value) would fail.
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class MetricsTests
{
    private static Tensor P(float[,] v)
    {
        int n = v.GetLength(0), c = v.GetLength(1);
        var flat = new float[n * c];
        for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) flat[i * c + j] = v[i, j];
        return Tensor.FromArray(flat, new[] { n, c });
    }

    private static double Run(Metric m, params (Tensor Pred, Tensor Target)[] batches)
    {
        m.Reset();
        foreach (var (p, t) in batches) m.Accumulate(p, t);
        return m.Value;
    }

    // Batch 1: 3 items, 2 right (item 2's argmax is class 0, target 2); batch 2: 1 item, right.
    private static readonly (Tensor, Tensor)[] Single =
    {
        (P(new float[,] { { 0.1f, 2f, 0.3f }, { 5f, -1f, 0f }, { 3f, 1f, 2f } }), Tensor.FromArray(new[] { 1, 0, 2 })),
        (P(new float[,] { { 0f, 0f, 9f } }), Tensor.FromArray(new[] { 2 })),
    };

    [Fact]
    public void AccuracyAndErrorRateCountItemsOverTheWholeSet()
    {
        Assert.Equal(0.75, Run(Metrics.Accuracy(), Single), 1e-12);      // 3 of 4, not mean(2/3, 1) = 0.833
        Assert.Equal(0.25, Run(Metrics.ErrorRate(), Single), 1e-12);
        Assert.Equal("accuracy", Metrics.Accuracy().Name);
        Assert.Equal("error_rate", Metrics.ErrorRate().Name);
    }

    [Fact]
    public void AccuracyBreaksTiesForTheFirstMaximumAsArgMaxDoes()
    {
        var p = P(new float[,] { { 1f, 1f }, { 1f, 1f } });
        Assert.Equal(0.5, Run(Metrics.Accuracy(), (p, Tensor.FromArray(new[] { 0, 1 }))), 1e-12);
    }

    [Fact]
    public void TopKAccuracyCountsTargetsAmongTheKHighest()
    {
        // Item 2's target (class 2, score 2) ranks second; everything else ranks first.
        Assert.Equal(1.0, Run(Metrics.TopKAccuracy(2), Single), 1e-12);
        var p = P(new float[,] { { 4f, 3f, 2f, 1f }, { 4f, 3f, 2f, 1f }, { 4f, 3f, 2f, 1f } });
        var y = Tensor.FromArray(new[] { 3, 2, 1 });
        Assert.Equal(1 / 3.0, Run(Metrics.TopKAccuracy(2), (p, y)), 1e-12);
        Assert.Equal(2 / 3.0, Run(Metrics.TopKAccuracy(3), (p, y)), 1e-12);
        Assert.Equal(0.0, Run(Metrics.TopKAccuracy(1), (p, y)), 1e-12);
        Assert.Equal("top_k_accuracy", Metrics.TopKAccuracy().Name);
    }

    // Logits; sigmoid(l) > 0.5 iff l > 0, sigmoid(l) > 0.2 iff l > ln(0.25) = -1.386.
    private static readonly Tensor MlPred = P(new float[,] { { 2f, -1f, -3f, 0.5f }, { -2f, -0.5f, 1f, -5f } });
    private static readonly Tensor MlTrue = P(new float[,] { { 1f, 0f, 0f, 0f }, { 0f, 1f, 1f, 0f } });

    [Fact]
    public void AccuracyThreshComparesEveryCell()
    {
        // thresh 0.5: row 0 predicts {0, 3} vs {0}: 3 of 4 right; row 1 predicts {2} vs {1, 2}: 3 of 4.
        Assert.Equal(6 / 8.0, Run(Metrics.AccuracyThresh(), (MlPred, MlTrue)), 1e-12);
        // thresh 0.2: row 0 predicts {0, 1, 3}: 2 of 4; row 1 predicts {1, 2}: 4 of 4.
        Assert.Equal(6 / 8.0, Run(Metrics.AccuracyThresh(0.2f), (MlPred, MlTrue)), 1e-12);
        // Without the sigmoid the values are compared as given: 0.9 > 0.5 only in cell (0, 0)... and (1, 2).
        var probs = P(new float[,] { { 0.9f, 0.1f, 0.6f, 0.4f } });
        Assert.Equal(2 / 4.0, Run(Metrics.AccuracyThresh(0.5f, sigmoid: false), (probs, P(new float[,] { { 1f, 1f, 0f, 0f } }))), 1e-12);
        // Over two batches: the cell counts add up.
        Assert.Equal((6 + 2) / 12.0, Run(Metrics.AccuracyThresh(0.5f),
            (MlPred, MlTrue), (P(new float[,] { { 1f, 1f, 1f, 1f } }), P(new float[,] { { 1f, 1f, 0f, 0f } }))), 1e-12);
    }

    [Fact]
    public void FBetaIsTheMeanOfPerItemScores()
    {
        static double F(double tp, double predicted, double actual, double beta)
        {
            double eps = 1e-9, b2 = beta * beta, prec = tp / (predicted + eps), rec = tp / (actual + eps);
            return prec * rec / (prec * b2 + rec + eps) * (1 + b2);
        }
        // thresh 0.2: row 0 predicts {0, 1, 3}, true {0}: tp 1; row 1 predicts {1, 2}, true {1, 2}: tp 2.
        double expected = (F(1, 3, 1, 2) + F(2, 2, 2, 2)) / 2;
        Assert.Equal(expected, Run(Metrics.FBeta(), (MlPred, MlTrue)), 1e-6);
        Assert.Equal((5.0 / 7 + 1) / 2, expected, 1e-6);           // row 0: prec 1/3, rec 1 -> 5*(1/3)/(4/3+1) = 5/7
        // beta 1, thresh 0.5: row 0 predicts {0, 3}: prec 1/2, rec 1 -> F1 2/3; row 1 {2}: prec 1, rec 1/2 -> 2/3.
        Assert.Equal(2 / 3.0, Run(Metrics.FBeta(beta: 1f, thresh: 0.5f), (MlPred, MlTrue)), 1e-6);
        // Two batches of one row each give the same mean over items.
        var r0 = (P(new float[,] { { 2f, -1f, -3f, 0.5f } }), P(new float[,] { { 1f, 0f, 0f, 0f } }));
        var r1 = (P(new float[,] { { -2f, -0.5f, 1f, -5f } }), P(new float[,] { { 0f, 1f, 1f, 0f } }));
        Assert.Equal(expected, Run(Metrics.FBeta(), r0, r1), 1e-6);
        // An item with nothing predicted scores 0, not NaN.
        Assert.Equal(0.0, Run(Metrics.FBeta(), (P(new float[,] { { -9f, -9f } }), P(new float[,] { { 1f, 0f } }))), 1e-9);
    }

    [Fact]
    public void MetricsRejectMismatchedInputsAndReportNaNWhenEmpty()
    {
        var acc = Metrics.Accuracy();
        Assert.True(double.IsNaN(acc.Value));
        var ex = Assert.Throws<NativeCnnException>(() => acc.Accumulate(P(new float[,] { { 1f, 2f } }), Tensor.FromArray(new[] { 5 })));
        Assert.Contains("target class 5 is outside [0, 2)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => acc.Accumulate(P(new float[,] { { 1f, 2f } }), Tensor.FromArray(new[] { 0, 1 })));
        Assert.Contains("batch size 1", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => Metrics.FBeta().Accumulate(MlPred, Tensor.FromArray(new[] { 0, 1 })));
        Assert.Contains("multi-label targets must be (2, 4)", ex.Message);
    }
}
