// PyTorch's default initialisation: Conv2d/Linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// (kaiming_uniform_ with a = sqrt(5)), BatchNorm weight 1 / bias 0 / running_var 1, seeded draws.
using NativeCnn.Nn;
using Xunit;

namespace NativeCnn.Tests.Nn;

public class InitTests
{
    private static void AssertUniform(float[] values, double bound)
    {
        // float32 rounding of the bound itself: one part in 1e6.
        double edge = bound * (1 + 1e-6);
        Assert.All(values, v => Assert.InRange(v, -edge, edge));
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        double expectedVar = bound * bound / 3;
        // Standard errors for n draws: mean sd = bound/sqrt(3n); 5 sigma margins.
        Assert.InRange(mean, -5 * bound / Math.Sqrt(3.0 * values.Length), 5 * bound / Math.Sqrt(3.0 * values.Length));
        Assert.InRange(variance, expectedVar * (1 - 5 * Math.Sqrt(0.8 / values.Length)), expectedVar * (1 + 5 * Math.Sqrt(0.8 / values.Length)));
        // The draw spans the interval (not a narrower one).
        Assert.True(values.Max() > 0.95 * bound && values.Min() < -0.95 * bound);
    }

    [Fact]
    public void Conv2dWeightAndBiasFollowTorchDefaults()
    {
        var conv = new Conv2d(32, 64, 3, rng: new Rng(7));
        double bound = 1 / Math.Sqrt(32 * 9);
        AssertUniform(conv.Weight.ToArray(), bound);
        Assert.All(conv.Bias!.ToArray(), v => Assert.InRange(v, -bound * (1 + 1e-6), bound * (1 + 1e-6)));
        Assert.Equal(new[] { 64, 32, 3, 3 }, conv.Weight.Shape);
    }

    [Fact]
    public void LinearWeightAndBiasFollowTorchDefaults()
    {
        var linear = new Linear(128, 100, rng: new Rng(8));
        double bound = 1 / Math.Sqrt(128);
        AssertUniform(linear.Weight.ToArray(), bound);
        AssertUniform(linear.Bias!.ToArray(), bound);
    }

    [Fact]
    public void BatchNormStartsAsIdentityWithUnitRunningVariance()
    {
        var bn = new BatchNorm1d(5);
        Assert.All(bn.Weight!.ToArray(), v => Assert.Equal(1f, v));
        Assert.All(bn.Bias!.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(bn.RunningMean!.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(bn.RunningVar!.ToArray(), v => Assert.Equal(1f, v));
        Assert.Equal(0f, bn.NumBatchesTracked!.Item());
    }

    [Fact]
    public void SameSeedSameWeightsOtherSeedOtherWeights()
    {
        var a = new Conv2d(3, 4, 3, rng: new Rng(1)).Weight.ToArray();
        var b = new Conv2d(3, 4, 3, rng: new Rng(1)).Weight.ToArray();
        var c = new Conv2d(3, 4, 3, rng: new Rng(2)).Weight.ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void ParametersArePersistentLeavesRequiringGrad()
    {
        Conv2d conv;
        using (MemoryScope.Begin()) conv = new Conv2d(2, 3, 3, rng: new Rng(1));
        // Made inside a scope, still usable after it ended.
        Assert.Equal(54, conv.Weight.ToArray().Length);
        Assert.True(conv.Weight.RequiresGrad && conv.Weight.IsLeaf);
    }

    [Fact]
    public void KaimingNormalAndGainFollowTorch()
    {
        Assert.Equal(Math.Sqrt(2), Init.Gain("relu"), 12);
        Assert.Equal(Math.Sqrt(2.0 / 6), Init.Gain("leaky_relu", Math.Sqrt(5)), 12);
        var t = Tensor.Zeros(256, 64, 3, 3);
        Init.KaimingNormal(t, fanOut: true, nonlinearity: "relu", rng: new Rng(3));
        var v = t.ToArray();
        double std = Math.Sqrt(v.Average(x => (double)x * x));
        Assert.Equal(Math.Sqrt(2.0 / (256 * 9)), std, 3);
        var e = Assert.Throws<NativeCnnException>(() => Init.Gain("swish"));
        Assert.Contains("swish", e.Message);
    }
}
