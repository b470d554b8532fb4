// Dropout: the mask is a function of (seed, index) only, keeps 1 - p of the elements scaled by
// 1 / (1 - p), and is the gradient; evaluation and p = 0 pass the input through.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class DropoutTests
{
    /// <summary>The mask the engine must use for a generator made with <paramref name="rngSeed"/>.</summary>
    private static double[] ExpectedMask(ulong rngSeed, int n, float p)
    {
        ulong seed = new Rng(rngSeed).NextSeed();
        return Enumerable.Range(0, n).Select(i => Rng.Uniform(seed, i) >= p ? 1.0 / (1.0 - p) : 0.0).ToArray();
    }

    [Fact]
    public void MatchesReferenceMaskForwardAndBackward()
    {
        var shape = new[] { 3, 4, 5 };
        var mask = ExpectedMask(42, 60, 0.4f);
        Assert.Contains(0.0, mask);               // the case really drops something
        Assert.Contains(mask, m => m > 0);
        OpCheck.Run(new[] { Input.Random(5, shape) }, t => F.Dropout(t[0], 0.4f, training: true, new Rng(42)),
                    v => v[0].Select((x, i) => x * mask[i]).ToArray());
    }

    [Fact]
    public void SameSeedSameMask()
    {
        var x = Tensor.Ones(1000);
        var a = F.Dropout(x, 0.5f, true, new Rng(7)).ToArray();
        var b = F.Dropout(x, 0.5f, true, new Rng(7)).ToArray();
        var c = F.Dropout(x, 0.5f, true, new Rng(8)).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void MaskStatisticsMatchP(float p)
    {
        const int n = 200_000;   // large enough to run on both cores in chunks
        var y = F.Dropout(Tensor.Ones(n), p, true, new Rng(11)).ToArray();
        float scale = 1f / (1f - p);
        Assert.True(y.All(v => v == 0f || v == scale), $"every value must be 0 or {scale}");
        double dropped = y.Count(v => v == 0f) / (double)n;
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange(dropped, p - 5 * sigma, p + 5 * sigma);
        // inverted dropout keeps the expectation
        Assert.InRange(y.Average(v => (double)v), 1 - 5 * sigma * scale, 1 + 5 * sigma * scale);
        // and the mask is exactly the counter-based draw, independent of how the work was split
        var expected = ExpectedMask(11, n, p);
        Assert.Equal(expected.Select(m => (float)m).ToArray(), y);
    }

    [Fact]
    public void GradientIsTheMask()
    {
        var x = Tensor.FromArray(Enumerable.Range(1, 50).Select(i => (float)i).ToArray(), new[] { 5, 10 }, requiresGrad: true);
        var y = F.Dropout(x, 0.3f, true, new Rng(1));
        y.Backward(Tensor.Full(new[] { 5, 10 }, 2f));
        var mask = ExpectedMask(1, 50, 0.3f);
        OpCheck.AssertClose(mask.Select(m => 2 * m).ToArray(), x.Grad!.ToArray(), 1e-7, "gradient");
    }

    [Fact]
    public void EvaluationAndZeroPReturnTheInput()
    {
        var x = Tensor.Ones(4, 4);
        Assert.Same(x, F.Dropout(x, 0.5f, training: false));
        Assert.Same(x, F.Dropout(x, 0f, training: true));
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(-0.1f)]
    [InlineData(float.NaN)]
    public void InvalidPIsRejected(float p)
    {
        var ex = Assert.Throws<NativeCnnException>(() => F.Dropout(Tensor.Ones(3), p, true));
        Assert.Contains("[0, 1)", ex.Message);
    }
}

/// <summary>Reseeds Rng.Global, so it runs alone: a test drawing from the global generator in
/// parallel would shift the sequence.</summary>
[CollectionDefinition("Dropout global Rng", DisableParallelization = true)]
public class DropoutGlobalRngCollection { }

[Collection("Dropout global Rng")]
public class DropoutGlobalRngTests
{
    [Fact]
    public void WithoutAnRngTheGlobalGeneratorIsUsedAndAdvances()
    {
        var x = Tensor.Ones(1000);
        Rng.Manual(3);
        var g1 = F.Dropout(x, 0.5f, true).ToArray();
        var g2 = F.Dropout(x, 0.5f, true).ToArray();
        Rng.Manual(3);
        var g3 = F.Dropout(x, 0.5f, true).ToArray();
        Assert.NotEqual(g1, g2);   // each call draws a new seed
        Assert.Equal(g1, g3);      // reseeding replays the sequence
        Rng.Manual(3);
        var seed = Rng.Global.NextSeed();
        for (int i = 0; i < 1000; i++) Assert.Equal(Rng.Uniform(seed, i) >= 0.5f ? 2f : 0f, g1[i]);
    }
}
