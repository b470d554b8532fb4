// FitOneCycle's schedule against PyTorch's OneCycleLR (pct_start 0.3, div_factor 25,
// final_div_factor 1e4, cos, momentum 0.95 -> 0.85 -> 0.95): Goldens/onecycle.json was written by
// tests/goldens/make_onecycle_golden.py with torch 1.13. The schedule (double) must match to 1e-9
// relative at every step; what the Learner puts on the optimizer is float32, so there the check is
// one float rounding of the golden value (relative 1.2e-7, the float32 ulp).
using System.Text.Json;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;
using Probe = NativeCnn.Tests.Training.LearnerTests.Probe;

namespace NativeCnn.Tests.Training;

public class OneCycleGoldenTests
{
    private sealed record Case(int TotalSteps, double[] MaxLr, double Div, double FinalDivFactor, double[][] Lr, double[] Momentum);

    private static List<Case> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Goldens", "onecycle.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("total_steps").GetInt32(),
            c.GetProperty("max_lr").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
            c.GetProperty("div_factor").GetDouble(),
            c.GetProperty("final_div_factor").GetDouble(),
            c.GetProperty("lr").EnumerateArray().Select(g => g.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray(),
            c.GetProperty("momentum").EnumerateArray().Select(v => v.GetDouble()).ToArray())).ToList();
    }

    private static void Rel(double expected, double actual, double tol, string what)
    {
        double err = Math.Abs(actual - expected) / Math.Abs(expected);
        Assert.True(err <= tol, $"{what}: expected {expected:R}, got {actual:R} (relative error {err:E2} > {tol:E0})");
    }

    [Fact]
    public void TheScheduleEqualsTorchOneCycleLrAtEveryStep()
    {
        var cases = Cases();
        Assert.Equal(5, cases.Count);
        int checkedSteps = 0;
        foreach (var c in cases)
        {
            // fastai's finalDiv (relative to the peak) = torch's div_factor * final_div_factor (25 * 1e4 = 25e4).
            var s = new OneCycle(c.MaxLr, c.TotalSteps, 0.3, c.Div, c.Div * c.FinalDivFactor, 0.95, 0.85);
            Assert.Equal(c.TotalSteps, c.Momentum.Length);
            for (int step = 0; step < c.TotalSteps; step++)
            {
                for (int g = 0; g < c.MaxLr.Length; g++)
                    Rel(c.Lr[g][step], s.LrAt(step, c.MaxLr[g]), 1e-9, $"lr of group {g}, step {step} of {c.TotalSteps}");
                Rel(c.Momentum[step], s.MomentumAt(step), 1e-9, $"momentum, step {step} of {c.TotalSteps}");
                checkedSteps++;
            }
        }
        Assert.Equal(10 + 97 + 1000 + 1000 + 7, checkedSteps);
    }

    [Fact]
    public void FitOneCycleSetsTheGoldenValuesOnTheOptimizer()
    {
        var c = Cases().Single(x => x.TotalSteps == 97);
        Assert.Equal(2, c.MaxLr.Length);
        // 97 batches of 2 items, one epoch: the schedule has exactly the golden's 97 steps.
        var rng = new Rng(4);
        var batches = Enumerable.Range(0, 97).Select(_ =>
        {
            var x = new[] { (float)rng.NextDouble(), (float)rng.NextDouble() };
            return (Tensor.FromArray(x, new[] { 2, 1 }), Tensor.FromArray(x.Select(v => 2 * v).ToArray(), new[] { 2, 1 }));
        }).ToList();
        var learn = new Learner(DataBunch.From(batches, batches.Take(1).ToList()),
            new Sequential(new Linear(1, 3, rng: new Rng(1)), new Linear(3, 1, rng: new Rng(2))), F.MseLoss).SplitAt(1);
        var seen = new List<(float Lr0, float Lr1, float Mom)>();
        learn.FitOneCycle(1, LrRange.PerGroup(c.MaxLr), finalDiv: c.Div * c.FinalDivFactor, extra: new Probe((l, e) =>
        {
            if (e == "AfterStep") { var g = l.Opt!.ParamGroups; seen.Add((g[0].Lr, g[1].Lr, g[1].Momentum)); Assert.Equal(g[0].Momentum, g[1].Momentum); }
        }));
        Assert.Equal(97, seen.Count);
        for (int step = 0; step < 97; step++)
        {
            Rel((float)c.Lr[0][step], seen[step].Lr0, 1.2e-7, $"group 0 lr at step {step}");
            Rel((float)c.Lr[1][step], seen[step].Lr1, 1.2e-7, $"group 1 lr at step {step}");
            Rel((float)c.Momentum[step], seen[step].Mom, 1.2e-7, $"momentum at step {step}");
        }
        // The Adam beta1 the optimizer used is the momentum (fastai's moms for Adam).
        Assert.IsType<AdamW>(learn.Opt);
    }
}
