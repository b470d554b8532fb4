// The one-cycle schedule: PyTorch OneCycleLR's formula written out independently (phase ends at
// pct*n - 1 and n - 1, cosine), the monotone shape, per-group peaks, and errors. The golden values
// torch itself printed are checked in Training/OneCycleGoldenTests.cs.
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Optim;

public class OneCycleTests
{
    // Half cosine from start (pct 0) to end (pct 1).
    private static double Cos(double start, double end, double pct) => start + (end - start) * (1 - Math.Cos(Math.PI * pct)) / 2;

    [Fact]
    public void StartPeakAndEndMatchTheFormula()
    {
        const double lr = 0.01;
        var s = new OneCycle(lr, 1000);
        Assert.Equal(lr / 25, s.LrAt(0), 1e-15);
        Assert.Equal(0.95, s.MomentumAt(0), 1e-15);
        Assert.Equal(lr, s.LrAt(299), 1e-15);           // pct*n - 1: the peak
        Assert.Equal(0.85, s.MomentumAt(299), 1e-15);
        Assert.Equal(Cos(lr / 25, lr, 150 / 299.0), s.LrAt(150), 1e-15);
        Assert.Equal(Cos(0.95, 0.85, 150 / 299.0), s.MomentumAt(150), 1e-15);
        Assert.Equal(Cos(lr, lr / 25e4, (650 - 299) / 700.0), s.LrAt(650), 1e-15);
        Assert.Equal(lr / 25e4, s.LrAt(999), 1e-20);   // the last step is exactly lr/finalDiv
        Assert.Equal(0.95, s.MomentumAt(999), 1e-15);
    }

    [Fact]
    public void LearningRateRisesThenFalls()
    {
        var s = new OneCycle(1.0, 100);
        for (int i = 1; i <= 29; i++) Assert.True(s.LrAt(i) > s.LrAt(i - 1));
        for (int i = 30; i < 100; i++) Assert.True(s.LrAt(i) < s.LrAt(i - 1));
    }

    [Fact]
    public void AZeroLengthWarmUpStartsAtThePeak()
    {
        // pct*n - 1 = 0: torch divides by zero here; step 0 is the end of the warm-up.
        var s = new OneCycle(1.0, 2, pctStart: 0.5);
        Assert.Equal(1.0, s.LrAt(0));
        Assert.Equal(1.0 / 25e4, s.LrAt(1), 1e-18);
        // Fewer steps than one warm-up step: torch's formula starts already in the second phase.
        var t = new OneCycle(1.0, 1);
        Assert.Equal(1.0 / 25e4, t.LrAt(0), 1e-18);
    }

    [Fact]
    public void ApplySetsEveryGroupWithItsOwnPeak()
    {
        var a = Tensor.FromArray(new[] { 1f }, new[] { 1 }, requiresGrad: true);
        var b = Tensor.FromArray(new[] { 1f }, new[] { 1 }, requiresGrad: true);
        var opt = new AdamW(new[] { new ParamGroup(new[] { a }), new ParamGroup(new[] { b }) });
        var s = new OneCycle(new[] { 1e-3, 1e-2 }, 11);
        s.Apply(opt, 2);   // pct*n - 1 = 2.3: not yet the peak
        Assert.Equal((float)s.LrAt(2, 1e-3), opt.ParamGroups[0].Lr);
        Assert.Equal((float)s.LrAt(2, 1e-2), opt.ParamGroups[1].Lr);
        Assert.Equal((float)Cos(1e-2 / 25, 1e-2, 2 / 2.3), opt.ParamGroups[1].Lr, 1e-9);
        Assert.Equal((float)Cos(0.95, 0.85, 2 / 2.3), opt.ParamGroups[0].Momentum);
        Assert.Equal(opt.ParamGroups[0].Momentum, opt.ParamGroups[1].Momentum);
        Assert.Contains("step must be in [0, 11)", Assert.Throws<NativeCnnException>(() => s.Apply(opt, 11)).Message);
        Assert.Contains("3 peak learning rates", Assert.Throws<NativeCnnException>(() => new OneCycle(new[] { 1.0, 2.0, 3.0 }, 10).Apply(opt, 0)).Message);
        Assert.Contains("pctStart must be in (0, 1), got 1", Assert.Throws<NativeCnnException>(() => new OneCycle(1.0, 10, pctStart: 1)).Message);
    }
}
