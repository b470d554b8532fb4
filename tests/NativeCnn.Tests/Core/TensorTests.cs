// Tensors: factories (zeros/ones/full/arange, seeded rand/randn), host round trips and their errors,
// float16 storage and arithmetic, int32 tensors, and the view ops (reshape, permute, transpose,
// slice, expand, squeeze/unsqueeze, flatten, concat, contiguous, CopyFrom) with their gradients.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Core;

public class TensorTests
{
    private static float[] Range(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    [Fact]
    public void FactoriesFillShapeAndValue()
    {
        var z = Tensor.Zeros(2, 3);
        Assert.Equal(new[] { 2, 3 }, z.Shape);
        Assert.Equal(DType.Float32, z.DType);
        Assert.Equal(new float[6], z.ToArray());
        Assert.All(Tensor.Ones(4).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(Tensor.Full(new[] { 3, 1 }, -2.5f).ToArray(), v => Assert.Equal(-2.5f, v));
        var h = Tensor.Full(new[] { 2 }, 0.1f, DType.Float16);
        Assert.Equal(DType.Float16, h.DType);
        Assert.Equal((float)(Half)0.1f, h.ToArray()[0]);
        var i = Tensor.Full(new[] { 2 }, 7f, DType.Int32);
        Assert.Equal(new[] { 7, 7 }, i.ToInt32Array());
        var s = Tensor.Scalar(3f);
        Assert.Empty(s.Shape);
        Assert.Equal(3f, s.Item());
        Assert.False(z.RequiresGrad);
        Assert.True(Tensor.Full(new[] { 1 }, 0f, requiresGrad: true).RequiresGrad);
    }

    [Fact]
    public void ArangeMatchesTorch()
    {
        Assert.Equal(new[] { 0f, 1, 2, 3, 4 }, Tensor.Arange(0, 5).ToArray());
        Assert.Equal(new[] { 1f, 1.25f, 1.5f, 1.75f }, Tensor.Arange(1, 2, 0.25f).ToArray());
        Assert.Equal(new[] { 5f, 3, 1 }, Tensor.Arange(5, 0, -2).ToArray());
        Assert.Equal(10, Tensor.Arange(0, 1, 0.1f).Numel);
        Assert.Equal(0, Tensor.Arange(3, 1).Numel);
        var ex = Assert.Throws<NativeCnnException>(() => Tensor.Arange(0, 1, 0));
        Assert.Contains("step", ex.Message);
    }

    [Fact]
    public void RandIsSeededAndUniform()
    {
        var a = Tensor.Rand(new[] { 100, 100 }, new Rng(42)).ToArray();
        var b = Tensor.Rand(new[] { 100, 100 }, new Rng(42)).ToArray();
        var c = Tensor.Rand(new[] { 100, 100 }, new Rng(43)).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.All(a, v => Assert.InRange(v, 0f, 0.99999994f));
        // mean 0.5 and variance 1/12; the standard error of the mean over 10^4 draws is 0.003
        Assert.InRange(a.Average(), 0.49, 0.51);
        Assert.InRange(a.Select(v => (v - 0.5) * (v - 0.5)).Average(), 1 / 12.0 - 0.005, 1 / 12.0 + 0.005);
        // each tenth of [0, 1) gets about 1000 draws
        var counts = new int[10];
        foreach (var v in a) counts[(int)(v * 10)]++;
        Assert.All(counts, n => Assert.InRange(n, 880, 1120));
        var shifted = Tensor.Rand(new[] { 1000 }, new Rng(1), lo: -3, hi: -1).ToArray();
        Assert.All(shifted, v => Assert.InRange(v, -3f, -1f));
    }

    [Fact]
    public void RandnIsSeededAndNormal()
    {
        var a = Tensor.Randn(new[] { 20000 }, new Rng(7)).ToArray();
        Assert.Equal(a, Tensor.Randn(new[] { 20000 }, new Rng(7)).ToArray());
        double mean = a.Average();
        double std = Math.Sqrt(a.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(std, 0.97, 1.03);
        // about 68.3% within one standard deviation
        Assert.InRange(a.Count(v => Math.Abs(v) < 1) / 20000.0, 0.67, 0.70);
        var shifted = Tensor.Randn(new[] { 20000 }, new Rng(8), mean: 5, std: 0.5f).ToArray();
        Assert.InRange(shifted.Average(), 4.98, 5.02);
    }

    [Fact]
    public void GlobalRngReseedsLikeManualSeed()
    {
        Rng.Manual(123);
        var a = Tensor.Rand(new[] { 8 }).ToArray();
        var b = Tensor.Rand(new[] { 8 }).ToArray();
        Rng.Manual(123);
        Assert.Equal(a, Tensor.Rand(new[] { 8 }).ToArray());
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void FromArrayChecksLengthAndShape()
    {
        var ex = Assert.Throws<NativeCnnException>(() => Tensor.FromArray(new float[5], new[] { 2, 3 }));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("6", ex.Message);
        Assert.Contains("5", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => Tensor.FromArray(new float[0], new[] { -1, 0 }));
        Assert.Contains("(-1, 0)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => Tensor.FromArray(new int[3], new[] { 4 }));
        Assert.Contains("(4)", ex.Message);
        // the tensor owns a copy: changing the source array afterwards does not change it
        var src = new[] { 1f, 2f };
        var t = Tensor.FromArray(src);
        src[0] = 9;
        Assert.Equal(new[] { 1f, 2f }, t.ToArray());
    }

    [Fact]
    public void Float16RoundTripRoundsLikeTorchHalf()
    {
        // torch.tensor([...]).half().float() in PyTorch 1.13
        var values = new[] { 1f, 0.1f, 65504f, 1e-8f, 70000f, -2.5e-5f };
        var h = Tensor.FromArray(values).To(DType.Float16);
        Assert.Equal(DType.Float16, h.DType);
        Assert.Equal(new[] { 1f, 0.0999755859375f, 65504f, 0f, float.PositiveInfinity, -2.4974346160888672e-05f }, h.ToArray());
        Assert.Equal(h.ToArray(), h.To(DType.Float32).ToArray());
    }

    [Fact]
    public void Float16ArithmeticNarrowsOnlyWhenAllInputsAreHalf()
    {
        var one = Tensor.FromArray(new[] { 1f, 1000f }).To(DType.Float16);
        var small = Tensor.FromArray(new[] { 0.0004f, 3.3f }).To(DType.Float16);
        var sum = one + small;
        Assert.Equal(DType.Float16, sum.DType);
        // 1 + 0.0004 is below half's resolution at 1; PyTorch gives 1.0
        Assert.Equal(1f, sum.ToArray()[0]);
        var prod = one * small;
        Assert.Equal(DType.Float16, prod.DType);
        Assert.Equal(3300f, prod.ToArray()[1]);          // PyTorch: 1000 * half(3.3) = 3300 in half
        var mixed = one + Tensor.FromArray(new[] { 0.0004f, 0f });
        Assert.Equal(DType.Float32, mixed.DType);
        Assert.Equal(1.0004f, mixed.ToArray()[0], 6);
        Assert.Equal(DType.Float16, one.Relu().DType);
    }

    [Fact]
    public void Int32TensorsHoldLabels()
    {
        var labels = Tensor.FromArray(new[] { 3, -1, 7 });
        Assert.Equal(DType.Int32, labels.DType);
        Assert.Equal(new[] { 3, -1, 7 }, labels.ToInt32Array());
        Assert.Equal(new[] { 3f, -1f, 7f }, labels.ToArray());
        Assert.Equal(new[] { 3f, -1f, 7f }, labels.To(DType.Float32).ToArray());
        Assert.Equal(new[] { 2, 0 }, Tensor.FromArray(new[] { 2.7f, -0.5f }).To(DType.Int32).ToInt32Array());
        var ex = Assert.Throws<NativeCnnException>(() => labels.RequiresGrad = true);
        Assert.Contains("Int32", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => labels + labels);
        Assert.Contains("Int32", ex.Message);
        Assert.Equal(new[] { 7, 3 }, labels.Slice(0, 0, 3, 2).ToInt32Array().Reverse().ToArray());
    }

    [Fact]
    public void ReshapeInfersMinusOne()
    {
        var x = Tensor.FromArray(Range(24), new[] { 2, 3, 4 });
        var r = x.Reshape(-1, 4);
        Assert.Equal(new[] { 6, 4 }, r.Shape);
        Assert.Equal(Range(24), r.ToArray());
        Assert.Equal(new[] { 2, 12 }, x.Reshape(2, -1).Shape);
        Assert.Contains("only one", Assert.Throws<NativeCnnException>(() => x.Reshape(-1, -1)).Message);
        Assert.Contains("(5, -1)", Assert.Throws<NativeCnnException>(() => x.Reshape(5, -1)).Message);
        Assert.Contains("(5, 5)", Assert.Throws<NativeCnnException>(() => x.Reshape(5, 5)).Message);
        // a transposed tensor reshapes in its logical (row-major) order
        var t = Tensor.FromArray(Range(6), new[] { 2, 3 }).T.Reshape(6);
        Assert.Equal(new[] { 0f, 3, 1, 4, 2, 5 }, t.ToArray());
    }

    [Fact]
    public void PermuteAndTransposeReorderElements()
    {
        var x = Tensor.FromArray(Range(24), new[] { 2, 3, 4 });
        var p = x.Permute(2, 0, 1);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape);
        Assert.False(p.IsContiguous);
        var v = p.ToArray();
        for (int k = 0; k < 4; k++) for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++)
            Assert.Equal((i * 3 + j) * 4 + k, v[(k * 2 + i) * 3 + j]);
        var t = x.Transpose(0, -1);
        Assert.Equal(new[] { 4, 3, 2 }, t.Shape);
        Assert.Equal(x.ToArray()[1 * 12 + 2 * 4 + 3], t.ToArray()[3 * 6 + 2 * 2 + 1]);
        Assert.Contains("repeats", Assert.Throws<NativeCnnException>(() => x.Permute(0, 0, 1)).Message);
        Assert.Throws<NativeCnnException>(() => x.Permute(0, 1));
        Assert.Throws<NativeCnnException>(() => x.T);
    }

    [Fact]
    public void PermuteGradientIsInversePermute()
    {
        var input = Input.Random(3, 2, 3, 4);
        OpCheck.Run(new[] { input }, t => t[0].Permute(1, 2, 0), v =>
        {
            var y = new double[24];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++)
                y[(j * 4 + k) * 2 + i] = v[0][(i * 3 + j) * 4 + k];
            return y;
        });
    }

    [Fact]
    public void SliceWithStepIsAViewWithGradient()
    {
        var x = Tensor.FromArray(Range(10));
        Assert.Equal(new[] { 1f, 4, 7 }, x.Slice(0, 1, 8, 3).ToArray());
        Assert.Equal(new[] { 7f, 8, 9 }, x.Slice(0, -3, 10).ToArray());
        Assert.Equal(new[] { 8f, 9 }, x.Slice(0, 8, 100).ToArray());
        Assert.Equal(0, x.Slice(0, 4, 4).Numel);
        Assert.Throws<NativeCnnException>(() => x.Slice(0, 0, 5, 0));
        Assert.Contains("out of bounds", Assert.Throws<NativeCnnException>(() => x.Slice(0, 11, 12)).Message);

        var m = Tensor.FromArray(Range(12), new[] { 3, 4 });
        var cols = m.Slice(1, 1, 4, 2);
        Assert.Equal(new[] { 3, 2 }, cols.Shape);
        Assert.Equal(new[] { 1f, 3, 5, 7, 9, 11 }, cols.ToArray());
        // a view: writes go to the parent
        cols.CopyFrom(Tensor.Zeros(3, 2));
        Assert.Equal(new[] { 0f, 0, 2, 0, 4, 0, 6, 0, 8, 0, 10, 0 }, m.ToArray());

        OpCheck.Run(new[] { Input.Random(4, 3, 7) }, t => t[0].Slice(1, 1, 7, 2), v =>
        {
            var y = new double[9];
            for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) y[i * 3 + j] = v[0][i * 7 + 1 + 2 * j];
            return y;
        });
    }

    [Fact]
    public void ExpandBroadcastsWithoutCopyAndSumsItsGradient()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f, 3f }, new[] { 3, 1 }, requiresGrad: true);
        var e = x.Expand(2, 3, 4);
        Assert.Equal(new[] { 2, 3, 4 }, e.Shape);
        Assert.Equal(new[] { 0, 1, 0 }, e.Strides);
        Assert.Equal(new[] { 1f, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, e.ToArray()[..12]);
        Assert.Equal(new[] { 3, 4 }, x.Expand(-1, 4).Shape);
        // each input element feeds 2 * 4 outputs; weights make the sum distinguish them
        var w = Tensor.FromArray(Range(24), new[] { 2, 3, 4 });
        (e * w).Sum().Backward();
        var expected = new float[3];
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) expected[j] += (i * 3 + j) * 4 + k;
        Assert.Equal(expected, x.Grad!.ToArray());
        Assert.Contains("(3, 1)", Assert.Throws<NativeCnnException>(() => x.Expand(2, 4, 4)).Message);
        Assert.Throws<NativeCnnException>(() => x.Expand(3));
    }

    [Fact]
    public void ExpandRejectsMinusOneInNewLeadingDimension()
    {
        // torch: "the expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension"
        var ex = Assert.Throws<NativeCnnException>(() => Tensor.Zeros(3).Expand(-1, 3));
        Assert.Contains("-1", ex.Message);
    }

    [Fact]
    public void UnsqueezeSqueezeFlatten()
    {
        var x = Tensor.FromArray(Range(6), new[] { 2, 3 });
        Assert.Equal(new[] { 1, 2, 3 }, x.Unsqueeze(0).Shape);
        Assert.Equal(new[] { 2, 3, 1 }, x.Unsqueeze(-1).Shape);
        Assert.Equal(new[] { 2, 1, 3 }, x.Unsqueeze(1).Shape);
        Assert.Throws<NativeCnnException>(() => x.Unsqueeze(3));
        Assert.Equal(new[] { 2, 3 }, x.Unsqueeze(1).Squeeze(1).Shape);
        Assert.Equal(new[] { 2, 3 }, x.Squeeze(0).Shape);   // size 2: unchanged, as torch
        var f = Tensor.FromArray(Range(24), new[] { 2, 3, 4 });
        Assert.Equal(new[] { 24 }, f.Flatten().Shape);
        Assert.Equal(new[] { 2, 12 }, f.Flatten(1).Shape);
        Assert.Equal(new[] { 6, 4 }, f.Flatten(0, 1).Shape);
        Assert.Equal(Range(24), f.Flatten(1).ToArray());
        Assert.Throws<NativeCnnException>(() => f.Flatten(2, 1));
        Assert.Equal(new[] { 1 }, Tensor.Scalar(2f).Flatten().Shape);
    }

    [Fact]
    public void UnsqueezeAndSqueezeOfAViewStayViews()
    {
        // torch.unsqueeze/squeeze never copy: writing through them reaches the original storage
        var m = Tensor.Zeros(3, 2);
        var t = m.T;                             // (2, 3), not contiguous
        t.Unsqueeze(0).CopyFrom(Tensor.Ones(1, 2, 3));
        Assert.All(m.ToArray(), v => Assert.Equal(1f, v));
        var col = Tensor.Zeros(4, 3).Slice(1, 1, 2);   // (4, 1) with row stride 3
        col.Squeeze(1).CopyFrom(Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }));
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, col.ToArray());
    }

    [Fact]
    public void UnsqueezeSqueezeGradients()
    {
        OpCheck.Run(new[] { Input.Random(6, 3, 2) }, t => t[0].T.Unsqueeze(1).Squeeze(1).Unsqueeze(0), v =>
        {
            var y = new double[6];
            for (int i = 0; i < 3; i++) for (int j = 0; j < 2; j++) y[j * 3 + i] = v[0][i * 2 + j];
            return y;
        });
    }

    [Fact]
    public void ConcatForwardAndBackward()
    {
        var a = Input.Random(1, 2, 2);
        var b = Input.Random(2, 2, 3);
        OpCheck.Run(new[] { a, b }, t => Tensor.Concat(new[] { t[0], t[1] }, 1), v =>
        {
            var y = new double[10];
            for (int i = 0; i < 2; i++)
            {
                for (int j = 0; j < 2; j++) y[i * 5 + j] = v[0][i * 2 + j];
                for (int j = 0; j < 3; j++) y[i * 5 + 2 + j] = v[1][i * 3 + j];
            }
            return y;
        });
        var c = Tensor.Concat(new[] { Tensor.FromArray(new[] { 1f, 2f }), Tensor.FromArray(new[] { 3f }) }, 0);
        Assert.Equal(new[] { 1f, 2f, 3f }, c.ToArray());
        // a permuted (strided) input is copied in its logical order
        var p = Tensor.Concat(new[] { Tensor.FromArray(Range(4), new[] { 2, 2 }).T, Tensor.Zeros(1, 2) }, 0);
        Assert.Equal(new[] { 0f, 2, 1, 3, 0, 0 }, p.ToArray());
        Assert.Contains("differ", Assert.Throws<NativeCnnException>(() => Tensor.Concat(new[] { Tensor.Zeros(2, 2), Tensor.Zeros(3, 3) }, 0)).Message);
        Assert.Throws<NativeCnnException>(() => Tensor.Concat(Array.Empty<Tensor>(), 0));
        Assert.Throws<NativeCnnException>(() => Tensor.Concat(new[] { Tensor.Zeros(2), Tensor.FromArray(new[] { 1, 2 }) }, 0));
    }

    [Fact]
    public void ContiguousOfPermutedViewCopiesInLogicalOrder()
    {
        var x = Tensor.FromArray(Range(6), new[] { 2, 3 });
        var t = x.T;
        Assert.False(t.IsContiguous);
        var c = t.Contiguous();
        Assert.True(c.IsContiguous);
        Assert.Equal(new[] { 2, 1 }, c.Strides);
        Assert.Equal(new[] { 0f, 3, 1, 4, 2, 5 }, c.ToArray());
        Assert.Same(x, x.Contiguous());
        // a slice with an offset is contiguous but not dense: Contiguous() makes it start at 0
        var s = x.Reshape(6).Slice(0, 2, 5);
        Assert.Equal(new[] { 2f, 3, 4 }, s.Contiguous().ToArray());
        Assert.Equal(0, s.Contiguous().Offset);
    }

    [Fact]
    public void CopyFromBroadcastsAndConverts()
    {
        var x = Tensor.Zeros(2, 3);
        x.CopyFrom(Tensor.FromArray(new[] { 1f, 2f, 3f }));
        Assert.Equal(new[] { 1f, 2, 3, 1, 2, 3 }, x.ToArray());
        x.CopyFrom(Tensor.FromArray(new[] { 0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f }, new[] { 2, 3 }).To(DType.Float16));
        Assert.Equal(new[] { 0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f }, x.ToArray());
        var h = Tensor.Zeros(new[] { 2 }, DType.Float16);
        h.CopyFrom(Tensor.FromArray(new[] { 0.1f, 2f }));
        Assert.Equal(new[] { (float)(Half)0.1f, 2f }, h.ToArray());
        Assert.Throws<NativeCnnException>(() => x.CopyFrom(Tensor.Zeros(4)));
    }

    [Fact]
    public void ToStringShowsShapeDtypeAndLeadingValues()
    {
        var s = Tensor.FromArray(new[] { 1.5f, -2f }, new[] { 1, 2 }).ToString();
        Assert.Contains("(1, 2)", s);
        Assert.Contains("Float32", s);
        Assert.Contains("cpu", s);
        Assert.Contains("[1.5, -2]", s);
        var big = Tensor.Arange(0, 20).ToString();
        Assert.Contains("7, ...", big);
        Assert.DoesNotContain("8", big.Split('[')[1]);
    }

    [Fact]
    public void CastOfAPrefixSliceConvertsOnlyItsElements()
    {
        // a leading slice is dense (offset 0, contiguous) but its storage is longer than the view
        var prefix = Tensor.FromArray(Range(10)).Slice(0, 0, 3);
        var h = prefix.To(DType.Float16);
        Assert.Equal(new[] { 0f, 1f, 2f }, h.ToArray());
        Assert.Equal(new[] { 0, 1, 2 }, prefix.To(DType.Int32).ToInt32Array());
        var hp = Tensor.FromArray(Range(10)).To(DType.Float16).Slice(0, 0, 4);
        Assert.Equal(new[] { 0f, 2f, 4f, 6f }, (hp + hp).ToArray());
        var target = Tensor.Zeros(3);
        target.CopyFrom(hp.Slice(0, 0, 3));
        Assert.Equal(new[] { 0f, 1f, 2f }, target.ToArray());
    }
}
