// The autograd engine: accumulation into leaves, shared subgraphs, explicit output gradients,
// retained and freed graphs, NoGrad, Detach, and the errors a user can run into.
using NativeCnn.Autograd;
using Xunit;

namespace NativeCnn.Tests.Core;

public class AutogradTests
{
    private static Tensor Leaf(params float[] v) => Tensor.FromArray(v, new[] { v.Length }, requiresGrad: true);

    [Fact]
    public void TwoBackwardCallsAccumulateIntoLeafGrad()
    {
        var x = Leaf(1f, -2f, 3f);
        (x * x).Sum().Backward();
        Assert.Equal(new[] { 2f, -4f, 6f }, x.Grad!.ToArray());
        var firstGrad = x.Grad;
        (x * 3f).Sum().Backward();
        Assert.Equal(new[] { 5f, -1f, 9f }, x.Grad!.ToArray());
        Assert.Same(firstGrad, x.Grad);   // accumulated in place, as torch does
    }

    [Fact]
    public void TensorUsedTwiceGetsBothContributions()
    {
        var x = Leaf(0.5f, 2f);
        var a = x.Exp();
        // y = e^x * x + e^x: a is consumed twice, x three times along paths of different lengths
        var y = a * x + a;
        y.Sum().Backward();
        var expected = new[] { 0.5, 2.0 }.Select(v => Math.Exp(v) * v + 2 * Math.Exp(v)).ToArray();
        var g = x.Grad!.ToArray();
        for (int i = 0; i < 2; i++) Assert.Equal(expected[i], g[i], 5);
    }

    [Fact]
    public void DiamondWithBroadcastAccumulatesOnce()
    {
        var x = Leaf(1f, 2f, 3f);
        var b = Tensor.FromArray(new[] { 2f }, new[] { 1 }, requiresGrad: true);
        var h = x * b;          // b broadcast over 3 elements
        var y = (h + h * h).Sum();
        y.Backward();
        // dy/dx = b (1 + 2 x b); dy/db = sum x (1 + 2 x b)
        Assert.Equal(new[] { 2f * 5, 2f * 9, 2f * 13 }, x.Grad!.ToArray());
        Assert.Equal(new[] { 1f * 5 + 2 * 9 + 3 * 13 }, b.Grad!.ToArray());
    }

    [Fact]
    public void BackwardWithExplicitGradient()
    {
        var x = Leaf(1f, 2f, 3f);
        var y = x * 3f;
        y.Backward(Tensor.FromArray(new[] { 1f, 0.5f, -2f }));
        Assert.Equal(new[] { 3f, 1.5f, -6f }, x.Grad!.ToArray());
    }

    [Fact]
    public void BackwardOnLeafAccumulatesTheGradient()
    {
        var x = Tensor.FromArray(new[] { 4f }, new[] { 1 }, requiresGrad: true);
        x.Backward();
        x.Backward();
        Assert.Equal(new[] { 2f }, x.Grad!.ToArray());
    }

    [Fact]
    public void NonScalarBackwardWithoutGradientIsAClearError()
    {
        var y = Leaf(1f, 2f) * 2f;
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("(2)", ex.Message);
        Assert.Contains("gradient", ex.Message);
        var shapeEx = Assert.Throws<NativeCnnException>(() => y.Backward(Tensor.Ones(3)));
        Assert.Contains("(3)", shapeEx.Message);
        Assert.Contains("(2)", shapeEx.Message);
    }

    [Fact]
    public void SecondBackwardThroughFreedGraphIsAClearError()
    {
        var x = Leaf(1f, 2f);
        var loss = (x * x).Sum();
        loss.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("second time", ex.Message);
        Assert.Contains("retainGraph", ex.Message);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackward()
    {
        var x = Leaf(1f, 2f);
        var loss = (x * x).Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        Assert.Equal(new[] { 4f, 8f }, x.Grad!.ToArray());
    }

    [Fact]
    public void NoGradRecordsNothing()
    {
        var x = Leaf(1f, 2f);
        Tensor y;
        using (new NoGrad())
        {
            Assert.False(NoGrad.IsGradEnabled);
            y = (x * 2f).Exp().Sum();
        }
        Assert.True(NoGrad.IsGradEnabled);
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        Assert.Equal((float)(Math.Exp(2) + Math.Exp(4)), y.Item(), 4);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        // recording resumes after the scope, and scopes nest
        using (new NoGrad()) using (new NoGrad()) { }
        Assert.True((x * 2f).RequiresGrad);
    }

    [Fact]
    public void DetachSharesValuesButCutsTheGraph()
    {
        var x = Leaf(1f, 2f, 3f);
        var d = x.Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        Assert.Equal(x.ToArray(), d.ToArray());
        // only the attached factor carries gradient: d(sum(stop(x) * x))/dx = x
        (d * x).Sum().Backward();
        Assert.Equal(new[] { 1f, 2f, 3f }, x.Grad!.ToArray());
        Assert.Null(d.Grad);
        // shared storage: writing through the detached view changes x
        d.CopyFrom(Tensor.Zeros(3));
        Assert.Equal(new float[3], x.ToArray());
    }

    [Fact]
    public void RequiresGradOnNonLeafIsAnError()
    {
        var y = Leaf(1f) * Leaf(2f);
        Assert.False(y.IsLeaf);
        Assert.Equal("mul", y.GradFn!.Name);
        var ex = Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Assert.Contains("leaf", ex.Message);
        Assert.Contains("Detach", ex.Message);
    }

    [Fact]
    public void InputsWithoutRequiresGradGetNoGradient()
    {
        var x = Leaf(1f, 2f);
        var c = Tensor.FromArray(new[] { 3f, 4f });
        (x * c).Sum().Backward();
        Assert.Null(c.Grad);
        Assert.Equal(new[] { 3f, 4f }, x.Grad!.ToArray());
        var ex = Assert.Throws<InvalidOperationException>(() => (c * c).Sum().Backward());
        Assert.Contains("does not require grad", ex.Message);
    }

    [Fact]
    public void Float16LeafGetsFloat16Grad()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f }).To(DType.Float16);
        x.RequiresGrad = true;
        (x * x).Sum().Backward();
        Assert.Equal(DType.Float16, x.Grad!.DType);
        Assert.Equal(new[] { 2f, 4f }, x.Grad.ToArray());
    }
}
