// The lr finder: the exponential schedule per batch across epochs, fastai's smoothing (beta 0.98,
// debiased) recomputed here from the raw losses, the divergence stop, exact restoration of weights,
// batch-norm statistics and the optimizer (a later fit is bit-identical to one without LrFind), and
// the two suggestions on curves whose answer is known.
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class LrFinderTests
{
    private static List<(Tensor, Tensor)> Line(int batches, int size, ulong seed)
    {
        var rng = new Rng(seed);
        var list = new List<(Tensor, Tensor)>();
        for (int b = 0; b < batches; b++)
        {
            var x = new float[size * 2];
            var y = new float[size];
            for (int i = 0; i < size; i++)
            {
                x[2 * i] = (float)(rng.NextDouble() * 2 - 1);
                x[2 * i + 1] = (float)(rng.NextDouble() * 2 - 1);
                y[i] = 3 * x[2 * i] - x[2 * i + 1] + 0.5f;
            }
            list.Add((Tensor.FromArray(x, new[] { size, 2 }), Tensor.FromArray(y, new[] { size, 1 })));
        }
        return list;
    }

    // A model with batch-norm statistics, so restoring buffers is tested too.
    private static Learner Make(int trainBatches = 8) =>
        new(DataBunch.From(Line(trainBatches, 16, 1), Line(1, 16, 2)),
            new Sequential(new Linear(2, 8, rng: new Rng(1)), new BatchNorm1d(8), new ReLU(), new Linear(8, 1, rng: new Rng(2))), F.MseLoss);

    private static Dictionary<string, float[]> State(Learner l) =>
        l.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.To(DType.Float32).ToArray());

    [Fact]
    public void TheScheduleIsExponentialAcrossEpochsAndTheLossIsSmoothedAsFastai()
    {
        var learn = Make(trainBatches: 8);
        var lrsSeen = new List<float>();
        var r = learn.LrFind(1e-5, 1e-1, numIt: 20, stopDiv: false,
            extra: new LearnerTests.Probe((l, e) => { if (e == "AfterStep") lrsSeen.Add(l.Opt!.ParamGroups[0].Lr); }));
        Assert.Equal(20, r.Lrs.Count);                 // 3 epochs of 8 batches, stopped after 20
        Assert.False(r.Diverged);
        for (int i = 0; i < 20; i++)
        {
            double expected = 1e-5 * Math.Pow(1e4, i / 20.0);
            Assert.Equal(expected, r.Lrs[i], expected * 1e-12);
            Assert.Equal((float)expected, lrsSeen[i]);
        }
        double avg = 0;
        for (int i = 0; i < 20; i++)
        {
            avg = 0.98 * avg + 0.02 * r.RawLosses[i];
            Assert.Equal(avg / (1 - Math.Pow(0.98, i + 1)), r.Losses[i], 1e-12);
        }
        Assert.Equal(r.RawLosses[0], r.Losses[0], 1e-12);
        Assert.True(r.RawLosses[^1] < r.RawLosses[0], "the loss falls as the lr grows to 0.1");
    }

    [Fact]
    public void ItStopsWhenTheSmoothedLossPassesFourTimesTheBest()
    {
        var learn = Make();
        var r = learn.LrFind(1e-3, 1e6, numIt: 100);
        Assert.True(r.Diverged);
        Assert.True(r.Lrs.Count < 100, $"stopped early, after {r.Lrs.Count} batches");
        double best = r.Losses.Take(r.Losses.Count - 1).Min();
        Assert.True(r.Losses[^1] > 4 * best || double.IsNaN(r.Losses[^1]), $"last smoothed loss {r.Losses[^1]}, best {best}");
        Assert.All(r.Losses.Take(r.Losses.Count - 1), l => Assert.True(l <= 4 * r.Losses.Take(r.Losses.Count - 1).Min()));
        // Without stopDiv the same run goes on to numIt batches.
        var full = Make().LrFind(1e-3, 1e6, numIt: 30, stopDiv: false);
        Assert.Equal(30, full.Lrs.Count);
        Assert.False(full.Diverged);
    }

    [Fact]
    public void WeightsStatisticsAndTheOptimizerAreRestored()
    {
        var a = Make();
        var b = Make();
        a.Fit(1, 1e-2f);
        b.Fit(1, 1e-2f);
        var opt = a.Opt;
        var before = State(a);
        var r = a.LrFind(1e-4, 10, numIt: 12);
        Assert.True(r.Lrs.Count > 5);
        Assert.Same(opt, a.Opt);
        var after = State(a);
        Assert.Equal(before.Keys, after.Keys);
        foreach (var k in before.Keys) Assert.Equal(before[k], after[k]);
        // The optimizer's state (Adam moments, step counts) is untouched: the next fit is the same as without LrFind.
        a.Fit(1, 1e-2f);
        b.Fit(1, 1e-2f);
        var sa = State(a);
        var sb = State(b);
        foreach (var k in sa.Keys) Assert.Equal(sb[k], sa[k]);
        Assert.NotEqual(before["0.weight"], sa["0.weight"]);
    }

    [Fact]
    public void SuggestionsOnAKnownCurve()
    {
        // Loss against log10(lr): a falling logistic, steepest at lr = 1e-3, then a rise after 1e-1
        // whose minimum sits at lr = 10^-1.2 (the sum of the two terms).
        var lrs = Enumerable.Range(0, 101).Select(i => Math.Pow(10, -7 + 0.08 * i)).ToArray();
        double Loss(double lr)
        {
            double t = Math.Log10(lr);
            return 2 - Math.Tanh(2 * (t + 3)) + (t > -1.2 ? 5 * (t + 1.2) * (t + 1.2) : 0);
        }
        var r = LrFindResult.FromSeries(lrs, lrs.Select(Loss).ToArray());
        Assert.Equal(50, r.SteepestIndex);              // log10 lr = -7 + 0.08*50 = -3
        Assert.Equal(1e-3, r.LrSteep, 1e-12);
        Assert.Equal(Math.Pow(10, -1.24) / 10, r.LrMin, 1e-12);   // the grid point nearest the minimum (index 72)
        // The ends are skipped: a steep fall in the first 10 points does not count.
        var early = lrs.Select((lr, i) => Loss(lr) - (i < 5 ? 100 - 20 * i : 0)).ToArray();
        Assert.Equal(50, LrFindResult.FromSeries(lrs, early).SteepestIndex);
        // Too few points to skip any: all are used; one point: no gradient.
        var few = LrFindResult.FromSeries(new[] { 1e-3, 1e-2, 1e-1 }, new[] { 1.0, 0.5, 0.6 });
        Assert.Equal(0, few.SteepestIndex);
        Assert.Equal(1e-3, few.LrMin, 1e-15);
        var one = LrFindResult.FromSeries(new[] { 1e-3 }, new[] { 1.0 });
        Assert.True(double.IsNaN(one.LrSteep));
        Assert.Equal(1e-4, one.LrMin, 1e-18);
        Assert.Contains("needs as many lrs as losses, got 2 and 1", Assert.Throws<NativeCnnException>(() => LrFindResult.FromSeries(new[] { 1.0, 2.0 }, new[] { 1.0 })).Message);
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var learn = Make();
        Assert.Contains("endLr must be finite and > startLr (0.1), got 0.01", Assert.Throws<NativeCnnException>(() => learn.LrFind(0.1, 0.01)).Message);
        Assert.Contains("startLr must be finite and > 0, got 0", Assert.Throws<NativeCnnException>(() => learn.LrFind(0)).Message);
        Assert.Contains("numIt", Assert.Throws<NativeCnnException>(() => learn.LrFind(numIt: 0)).Message);
    }
}
