// The one-cycle schedule against fastai's formulas: lr from lrMax/25 up to lrMax over the first 30%
// of the steps (half cosine), then down to lrMax/25e4; momentum 0.95 -> 0.85 -> 0.95.
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Optim;

public class OneCycleTests
{
    // fastai's SchedCos, written out independently of the implementation.
    private static double Cos(double start, double end, double pct) => start + (end - start) * (1 - Math.Cos(Math.PI * pct)) / 2;

    [Fact]
    public void StartPeakAndEndMatchTheFormula()
    {
        const float lr = 0.01f;
        var s = new OneCycle(lr, 1000);
        Assert.Equal(lr / 25, s.LrAt(0), 1e-9);
        Assert.Equal(0.95f, s.MomentumAt(0), 1e-6);
        Assert.Equal(lr, s.LrAt(300), 1e-9);           // pct 0.3: the peak
        Assert.Equal(0.85f, s.MomentumAt(300), 1e-6);
        Assert.Equal(Cos(lr / 25, lr, 150 / 300.0), s.LrAt(150), 1e-8);
        Assert.Equal(Cos(0.95, 0.85, 150 / 300.0), s.MomentumAt(150), 1e-6);
        Assert.Equal(Cos(lr, lr / 25e4, (650 - 300) / 700.0), s.LrAt(650), 1e-8);
        double lastPct = (999 - 300) / 700.0;
        Assert.Equal(Cos(lr, lr / 25e4, lastPct), s.LrAt(999), 1e-9);
        Assert.True(s.LrAt(999) < lr / 1000, "the last step is close to lr/25e4");
        Assert.Equal(Cos(0.85, 0.95, lastPct), s.MomentumAt(999), 1e-6);
    }

    [Fact]
    public void LearningRateRisesThenFalls()
    {
        var s = new OneCycle(1f, 100);
        for (int i = 1; i <= 30; i++) Assert.True(s.LrAt(i) > s.LrAt(i - 1));
        for (int i = 31; i < 100; i++) Assert.True(s.LrAt(i) < s.LrAt(i - 1));
    }

    [Fact]
    public void ApplySetsEveryGroupWithItsOwnPeak()
    {
        var a = Tensor.FromArray(new[] { 1f }, new[] { 1 }, requiresGrad: true);
        var b = Tensor.FromArray(new[] { 1f }, new[] { 1 }, requiresGrad: true);
        var opt = new AdamW(new[] { new ParamGroup(new[] { a }), new ParamGroup(new[] { b }) });
        var s = new OneCycle(new[] { 1e-3f, 1e-2f }, 10);
        s.Apply(opt, 3);
        Assert.Equal(1e-3f, opt.ParamGroups[0].Lr, 9);
        Assert.Equal(1e-2f, opt.ParamGroups[1].Lr, 9);
        Assert.Equal(0.85f, opt.ParamGroups[0].Momentum, 6);
        Assert.Contains("step must be in [0, 10)", Assert.Throws<NativeCnnException>(() => s.Apply(opt, 10)).Message);
        Assert.Contains("3 peak learning rates", Assert.Throws<NativeCnnException>(() => new OneCycle(new[] { 1f, 2f, 3f }, 10).Apply(opt, 0)).Message);
    }
}
