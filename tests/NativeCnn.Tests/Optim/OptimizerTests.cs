// Optimizers against hand-written PyTorch update rules (float64), parameter groups with their own
// hyper-parameters (the no-allocation check of a warm step is in Core/SteadyStateAllocationTests.cs).
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Optim;

public class OptimizerTests
{
    private static Tensor Param(params float[] values) => Tensor.FromArray(values, new[] { values.Length }, requiresGrad: true);

    private static void SetGrad(Tensor p, params float[] g)
    {
        if (p.Grad is null) p.Grad = Tensor.FromArray(g, new[] { g.Length }).Keep();
        else p.Grad.CopyFrom(Tensor.FromArray(g, new[] { g.Length }));
    }

    private static readonly float[][] Grads = { new[] { 0.5f, -1f, 2f }, new[] { -0.25f, 0.75f, 1f }, new[] { 1f, 1f, -3f } };

    [Theory]
    [InlineData(0f, 0f, 0f, false)]
    [InlineData(0.9f, 0f, 1e-2f, false)]
    [InlineData(0.9f, 0.1f, 0f, false)]
    [InlineData(0.8f, 0f, 1e-2f, true)]
    public void SgdFollowsTorchRule(float momentum, float dampening, float wd, bool nesterov)
    {
        const float lr = 0.1f;
        var p = Param(1f, -2f, 3f);
        var opt = new SGD(new[] { p }, lr, momentum, dampening, wd, nesterov);
        double[] w = { 1, -2, 3 }, buf = new double[3];
        for (int step = 0; step < Grads.Length; step++)
        {
            SetGrad(p, Grads[step]);
            opt.Step();
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[step][i] + wd * w[i];
                if (momentum != 0)
                {
                    buf[i] = step == 0 ? g : momentum * buf[i] + (1 - dampening) * g;
                    g = nesterov ? g + momentum * buf[i] : buf[i];
                }
                w[i] -= lr * g;
            }
            var actual = p.ToArray();
            for (int i = 0; i < 3; i++) Assert.Equal(w[i], actual[i], 1e-5);
        }
    }

    [Theory]
    [InlineData(false, 0f)]
    [InlineData(false, 0.1f)]
    [InlineData(true, 0.1f)]
    public void AdamAndAdamWFollowTorchRule(bool decoupled, float wd)
    {
        const double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-5;
        var p = Param(1f, -2f, 3f);
        Optimizer opt = decoupled
            ? new AdamW(new[] { p }, (float)lr, (float)b1, (float)b2, (float)eps, wd)
            : new Adam(new[] { p }, (float)lr, (float)b1, (float)b2, (float)eps, wd);
        double[] w = { 1, -2, 3 }, m = new double[3], v = new double[3];
        for (int step = 1; step <= Grads.Length; step++)
        {
            SetGrad(p, Grads[step - 1]);
            opt.Step();
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[step - 1][i];
                if (decoupled) w[i] *= 1 - lr * wd;
                else g += wd * w[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mHat = m[i] / (1 - Math.Pow(b1, step)), vHat = v[i] / (1 - Math.Pow(b2, step));
                w[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
            var actual = p.ToArray();
            for (int i = 0; i < 3; i++) Assert.Equal(w[i], actual[i], 1e-5);
        }
    }

    [Fact]
    public void ParamGroupsUseTheirOwnLearningRateAndDecay()
    {
        var a = Param(1f, 1f);
        var b = Param(1f, 1f);
        var opt = new SGD(new[] { new ParamGroup(new[] { a }), new ParamGroup(new[] { b }, lr: 0.01f, weightDecay: 0f) }, lr: 0.1f, weightDecay: 0.5f);
        Assert.Equal(0.1f, opt.ParamGroups[0].Lr);
        Assert.Equal(0.5f, opt.ParamGroups[0].WeightDecay);
        Assert.Equal(0.01f, opt.ParamGroups[1].Lr);
        Assert.Equal(0f, opt.ParamGroups[1].WeightDecay);
        SetGrad(a, 1f, 2f);
        SetGrad(b, 1f, 2f);
        opt.Step();
        Assert.Equal(new[] { 1 - 0.1f * 1.5f, 1 - 0.1f * 2.5f }, a.ToArray());
        Assert.Equal(new[] { 1 - 0.01f * 1f, 1 - 0.01f * 2f }, b.ToArray());

        // A schedule changes a group's lr between steps.
        opt.ParamGroups[1].Lr = 0.1f;
        opt.Step();
        Assert.Equal(1 - 0.01f - 0.1f, b.ToArray()[0], 6);
    }

    [Fact]
    public void ZeroGradSetToNoneWritesTheNextGradientIntoTheOldBuffer()
    {
        // y = sum(p * x): dy/dp = x, so each backward's gradient is known exactly
        var p = Param(1f, -2f, 3f);
        var opt = new SGD(new[] { p }, 0.1f, momentum: 0.9f);
        void Backward(params float[] x) => (p * Tensor.FromArray(x, new[] { 3 })).Sum().Backward();

        Backward(0.5f, -1f, 2f);
        var first = p.Grad!;
        Assert.Equal(new[] { 0.5f, -1f, 2f }, first.ToArray());
        opt.ZeroGrad(setToNone: true);
        Assert.Null(p.Grad);   // as torch's zero_grad(set_to_none=True): no gradient until the next backward
        Backward(-0.25f, 0f, 1f);
        Backward(1f, -0f, 1f);   // accumulates onto the written one as usual
        Assert.Same(first, p.Grad);   // written into the buffer set aside, not a new allocation
        Assert.Equal(new[] { 0.75f, 0f, 2f }, p.Grad!.ToArray());
        Assert.Equal(0, BitConverter.SingleToInt32Bits(p.Grad.ToArray()[1]));   // 0 + -0 = +0, as adding to zeros gives

        // a step without a backward after ZeroGrad(setToNone: true) skips the parameter
        opt.ZeroGrad(setToNone: true);
        var before = p.ToArray();
        opt.Step();
        Assert.Equal(before, p.ToArray());

        // the default still zero-fills the same buffer in place
        Backward(2f, 2f, 2f);
        opt.ZeroGrad();
        Assert.Same(first, p.Grad);
        Assert.Equal(new[] { 0f, 0f, 0f }, p.Grad!.ToArray());
    }

    [Fact]
    public void ParametersWithoutGradientAreSkipped()
    {
        var a = Param(1f);
        var b = Param(2f);
        var opt = new Adam(new[] { a, b }, lr: 0.1f);
        SetGrad(a, 1f);
        opt.Step();
        Assert.NotEqual(1f, a.ToArray()[0]);
        Assert.Equal(2f, b.ToArray()[0]);
    }

    [Fact]
    public void BadParametersAndSettingsAreRejected()
    {
        var p = Param(1f);
        Assert.Contains("more than once", Assert.Throws<NativeCnnException>(() => new SGD(new[] { p, p }, 0.1f)).Message);
        Assert.Contains("RequiresGrad", Assert.Throws<NativeCnnException>(() => new SGD(new[] { Tensor.Zeros(2) }, 0.1f)).Message);
        Assert.Contains("lr", Assert.Throws<NativeCnnException>(() => new SGD(new[] { Param(1f) }, -1f)).Message);
        Assert.Contains("nesterov", Assert.Throws<NativeCnnException>(() => new SGD(new[] { Param(1f) }, 0.1f, nesterov: true)).Message);
        Assert.Contains("beta2", Assert.Throws<NativeCnnException>(() => new Adam(new[] { Param(1f) }, beta2: 1f)).Message);
    }
}
