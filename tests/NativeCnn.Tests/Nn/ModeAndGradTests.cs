// Train/Eval switching (BatchNorm batch vs running statistics, Dropout on/off, propagation to
// children) and ZeroGrad (in place, same buffers, no new gradients).
using NativeCnn.Nn;
using Xunit;

namespace NativeCnn.Tests.Nn;

public class ModeAndGradTests
{
    [Fact]
    public void BatchNormUsesBatchStatisticsInTrainingAndRunningStatisticsInEval()
    {
        var bn = new BatchNorm2d(2);
        var values = new float[2 * 2 * 2 * 2];
        for (int i = 0; i < values.Length; i++) values[i] = i * 0.5f - 1f;
        var x = Tensor.FromArray(values, new[] { 2, 2, 2, 2 });
        // Channel c of sample n holds values[n*8 + c*4 .. +4).
        double[] mean = new double[2], var = new double[2];
        for (int c = 0; c < 2; c++)
        {
            var xs = new[] { 0, 1 }.SelectMany(n => Enumerable.Range(0, 4).Select(k => (double)values[n * 8 + c * 4 + k])).ToArray();
            mean[c] = xs.Average();
            var[c] = xs.Sum(v => (v - mean[c]) * (v - mean[c])) / xs.Length;
        }

        var yTrain = bn.Forward(x).ToArray();
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 2; c++)
                for (int k = 0; k < 4; k++)
                {
                    int i = n * 8 + c * 4 + k;
                    Assert.Equal((values[i] - mean[c]) / Math.Sqrt(var[c] + 1e-5), yTrain[i], 4);
                }
        // Running statistics: momentum 0.1, unbiased variance (8 values per channel).
        var rm = bn.RunningMean!.ToArray();
        var rv = bn.RunningVar!.ToArray();
        for (int c = 0; c < 2; c++)
        {
            Assert.Equal(0.1 * mean[c], rm[c], 5);
            Assert.Equal(0.9 + 0.1 * var[c] * 8 / 7, rv[c], 5);
        }

        bn.Eval();
        Assert.False(bn.Training);
        var yEval = bn.Forward(x).ToArray();
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 2; c++)
                for (int k = 0; k < 4; k++)
                {
                    int i = n * 8 + c * 4 + k;
                    Assert.Equal((values[i] - rm[c]) / Math.Sqrt(rv[c] + 1e-5), yEval[i], 4);
                }
        // Eval leaves the running statistics alone.
        Assert.Equal(rm, bn.RunningMean.ToArray());
        Assert.Equal(rv, bn.RunningVar.ToArray());
    }

    [Fact]
    public void TrainAndEvalPropagateToEveryDescendant()
    {
        var inner = new Sequential(new BatchNorm1d(3), new Dropout(0.5f));
        var model = new Sequential(new Linear(4, 3, rng: new Rng(1)), inner);
        model.Eval();
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.Training));
        model.Train();
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.Training));
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndDropsInTraining()
    {
        var drop = new Dropout(0.5f, new Rng(4));
        var x = Tensor.Ones(1000);
        var train = drop.Forward(x).ToArray();
        Assert.All(train, v => Assert.True(v == 0f || v == 2f));
        Assert.InRange(train.Count(v => v == 0f), 400, 600);
        drop.Eval();
        Assert.All(drop.Forward(x).ToArray(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void BatchNormRejectsWrongRankAndChannelCount()
    {
        var e = Assert.Throws<NativeCnnException>(() => new BatchNorm2d(3).Forward(Tensor.Zeros(2, 3)));
        Assert.Contains("4-D", e.Message);
        e = Assert.Throws<NativeCnnException>(() => new BatchNorm1d(3).Forward(Tensor.Zeros(2, 4)));
        Assert.Contains("3 channels", e.Message);
        Assert.Contains("(2, 4)", e.Message);
    }

    [Fact]
    public void BatchNorm1dAcceptsThreeDimensionalInput()
    {
        var bn = new BatchNorm1d(2);
        var x = Tensor.Randn(new[] { 4, 2, 5 }, new Rng(6));
        var y = bn.Forward(x);
        Assert.Equal(new[] { 4, 2, 5 }, y.Shape);
        var v = y.ToArray();
        // Per channel, over batch and length: mean 0.
        for (int c = 0; c < 2; c++)
        {
            double sum = 0;
            for (int n = 0; n < 4; n++) for (int l = 0; l < 5; l++) sum += v[n * 10 + c * 5 + l];
            Assert.Equal(0, sum / 20, 4);
        }
    }

    [Fact]
    public void ZeroGradFillsExistingGradientsInPlace()
    {
        var model = new Sequential(new Linear(3, 4, rng: new Rng(1)), new ReLU(), new Linear(4, 2, rng: new Rng(2)));
        var unused = new Linear(2, 2, rng: new Rng(3));
        var x = Tensor.Randn(new[] { 5, 3 }, new Rng(9));
        model.Forward(x).Sum().Backward();
        var grads = model.Parameters().Select(p => p.Grad!).ToArray();
        Assert.Contains(grads, g => g.ToArray().Any(v => v != 0));

        model.ZeroGrad();
        unused.ZeroGrad();

        var after = model.Parameters().Select(p => p.Grad!).ToArray();
        for (int i = 0; i < grads.Length; i++) Assert.Same(grads[i], after[i]);
        Assert.All(after, g => Assert.All(g.ToArray(), v => Assert.Equal(0f, v)));
        Assert.All(unused.Parameters(), p => Assert.Null(p.Grad));

        // Gradients accumulate into the zeroed buffers again.
        model.Forward(x).Sum().Backward();
        Assert.Same(grads[0], model.Parameters().First().Grad);
        Assert.Contains(model.Parameters().First().Grad!.ToArray(), v => v != 0);
    }

    [Fact]
    public void RegisteringTheSameNameTwiceFails()
    {
        var e = Assert.Throws<NativeCnnException>(() => new TwoWeights());
        Assert.Contains("'w' is already registered", e.Message);
    }

    private sealed class TwoWeights : Module
    {
        public TwoWeights()
        {
            RegisterParameter("w", Tensor.Zeros(1));
            RegisterParameter("w", Tensor.Zeros(1));
        }

        public override Tensor Forward(Tensor x) => x;
    }
}
