// Reductions: sum, mean, var and max over each dimension with and without keepDim, several
// dimensions at once, arg-max ties and NaN, gradients by central differences, and the errors.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class ReduceTests
{
    private static readonly int[] Shape3 = { 2, 3, 4 };

    /// <summary>Applies <paramref name="f"/> to every fibre of x along dimension d (float64, row-major).</summary>
    private static double[] AlongDim(double[] x, int[] shape, int d, Func<double[], double> f)
    {
        int outer = shape[..d].Aggregate(1, (p, s) => p * s), n = shape[d], inner = shape[(d + 1)..].Aggregate(1, (p, s) => p * s);
        var y = new double[outer * inner];
        var fibre = new double[n];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                for (int k = 0; k < n; k++) fibre[k] = x[(o * n + k) * inner + i];
                y[o * inner + i] = f(fibre);
            }
        return y;
    }

    private static int[] Reduced(int[] shape, int d, bool keepDim) =>
        keepDim ? shape.Select((s, i) => i == d ? 1 : s).ToArray() : shape.Where((_, i) => i != d).ToArray();

    public static TheoryData<int, bool> DimCases()
    {
        var data = new TheoryData<int, bool>();
        foreach (var d in new[] { 0, 1, 2, -1 }) foreach (var keep in new[] { false, true }) data.Add(d, keep);
        return data;
    }

    [Theory]
    [MemberData(nameof(DimCases))]
    public void SumOverDim(int dim, bool keepDim)
    {
        int d = dim < 0 ? dim + 3 : dim;
        OpCheck.Run(new[] { Input.Random(1, Shape3) }, t =>
        {
            var y = t[0].Sum(dim, keepDim);
            Assert.Equal(Reduced(Shape3, d, keepDim), y.Shape);
            return y;
        }, v => AlongDim(v[0], Shape3, d, f => f.Sum()));
    }

    [Theory]
    [MemberData(nameof(DimCases))]
    public void MeanOverDim(int dim, bool keepDim)
    {
        int d = dim < 0 ? dim + 3 : dim;
        OpCheck.Run(new[] { Input.Random(2, Shape3) }, t =>
        {
            var y = t[0].Mean(dim, keepDim);
            Assert.Equal(Reduced(Shape3, d, keepDim), y.Shape);
            return y;
        }, v => AlongDim(v[0], Shape3, d, f => f.Average()));
    }

    [Theory]
    [InlineData(1, true, false)] [InlineData(1, false, true)] [InlineData(0, true, true)] [InlineData(2, false, false)]
    public void VarOverDim(int dim, bool unbiased, bool keepDim)
    {
        OpCheck.Run(new[] { Input.Random(3, Shape3) }, t =>
        {
            var y = t[0].Var(dim, unbiased, keepDim);
            Assert.Equal(Reduced(Shape3, dim, keepDim), y.Shape);
            return y;
        }, v => AlongDim(v[0], Shape3, dim, f =>
        {
            double m = f.Average();
            return f.Sum(e => (e - m) * (e - m)) / (f.Length - (unbiased ? 1 : 0));
        }));
    }

    [Fact]
    public void SumAndMeanOverSeveralDims()
    {
        OpCheck.Run(new[] { Input.Random(4, Shape3) }, t => t[0].Sum(new[] { 0, 2 }), v =>
        {
            var y = new double[3];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) y[j] += v[0][(i * 3 + j) * 4 + k];
            return y;
        });
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), Shape3);
        var m = x.Mean(new[] { -1, 0 }, keepDim: true);
        Assert.Equal(new[] { 1, 3, 1 }, m.Shape);
        // mean over i and k of (12 i + 4 j + k) = 6 + 4 j + 1.5
        Assert.Equal(new[] { 7.5f, 11.5f, 15.5f }, m.ToArray());
        Assert.Equal(new[] { 3 }, x.Sum(new[] { 0, 2, 0 }).Shape);
    }

    [Fact]
    public void WholeTensorReductions()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 10f, -2f }, new[] { 2, 3 });
        Assert.Equal(18f, x.Sum().Item());
        Assert.Empty(x.Sum().Shape);
        Assert.Equal(3f, x.Mean().Item());
        Assert.Equal(10f, x.Max().Item());
        double m = 3, var = new[] { 1.0, 2, 3, 4, 10, -2 }.Sum(v => (v - m) * (v - m)) / 5;
        Assert.Equal(var, x.Var().Item(), 5);
        Assert.Equal(0f, Tensor.Zeros(0, 3).Sum().Item());
        Assert.Equal(new float[3], Tensor.Zeros(0, 3).Sum(0).ToArray());
    }

    [Fact]
    public void MaxOverDimMatchesReference()
    {
        OpCheck.Run(new[] { Input.Random(5, Shape3) }, t => t[0].Max(1).Values, v => AlongDim(v[0], Shape3, 1, f => f.Max()));
        var x = Tensor.FromArray(new[] { 1f, 5f, 3f, 7f, -1f, 0f }, new[] { 2, 3 });
        var (values, indices) = x.Max(1, keepDim: true);
        Assert.Equal(new[] { 2, 1 }, values.Shape);
        Assert.Equal(new[] { 5f, 7f }, values.ToArray());
        Assert.Equal(DType.Int32, indices.DType);
        Assert.Equal(new[] { 1, 0 }, indices.ToInt32Array());
        Assert.Equal(new[] { 1, 0, 0 }, x.ArgMax(0).ToInt32Array());
    }

    [Fact]
    public void MaxTiesPickTheFirstIndexAndRouteTheGradientThere()
    {
        var x = Tensor.FromArray(new[] { 2f, 5f, 5f, 1f, 3f, 3f, 3f, 0f }, new[] { 2, 4 }, requiresGrad: true);
        var (values, indices) = x.Max(1);
        Assert.Equal(new[] { 5f, 3f }, values.ToArray());
        Assert.Equal(new[] { 1, 0 }, indices.ToInt32Array());
        (values * Tensor.FromArray(new[] { 10f, 20f })).Sum().Backward();
        Assert.Equal(new[] { 0f, 10f, 0f, 0f, 20f, 0f, 0f, 0f }, x.Grad!.ToArray());
    }

    [Fact]
    public void MaxPropagatesNaNLikeTorch()
    {
        var (values, indices) = Tensor.FromArray(new[] { 1f, float.NaN, 9f, float.NaN }, new[] { 1, 4 }).Max(1);
        Assert.True(float.IsNaN(values.ToArray()[0]));
        Assert.Equal(1, indices.ToInt32Array()[0]);
    }

    [Fact]
    public void ReductionsOfFloat16StayFloat16()
    {
        var h = Tensor.FromArray(new[] { 1f, 2f, 3.5f }).To(DType.Float16);
        Assert.Equal(DType.Float16, h.Sum(0).DType);
        Assert.Equal(6.5f, h.Sum(0).Item());
        Assert.Equal(DType.Float16, h.Max(0).Values.DType);
    }

    [Fact]
    public void ReductionErrorsNameTheProblem()
    {
        var x = Tensor.Zeros(2, 0);
        Assert.Contains("empty", Assert.Throws<NativeCnnException>(() => x.Mean(1)).Message);
        Assert.Contains("empty", Assert.Throws<NativeCnnException>(() => x.Max(1)).Message);
        Assert.Contains("empty", Assert.Throws<NativeCnnException>(() => x.Mean()).Message);
        Assert.Contains("1 elements", Assert.Throws<NativeCnnException>(() => Tensor.Zeros(3, 1).Var(1)).Message);
        Assert.Equal(new float[3], Tensor.Zeros(3, 1).Var(1, unbiased: false).ToArray());
        Assert.Contains("out of range", Assert.Throws<NativeCnnException>(() => Tensor.Zeros(2, 3).Sum(2)).Message);
        Assert.Contains("Int32", Assert.Throws<NativeCnnException>(() => Tensor.FromArray(new[] { 1, 2 }).Sum(0)).Message);
    }
}
