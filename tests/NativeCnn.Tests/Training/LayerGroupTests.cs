// Layer groups (fastai v1): Split/SplitAt checks, one optimizer group per layer group, Freeze keeps
// frozen weights fixed (under AdamW's weight decay too) while their batch-norm parameters and running
// statistics keep learning, FreezeTo's Python-style indices, the optimizer made afresh after each
// change, and discriminative learning rates (LrRange slices) in Fit and FitOneCycle.
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;
using Probe = NativeCnn.Tests.Training.LearnerTests.Probe;

namespace NativeCnn.Tests.Training;

public class LayerGroupTests
{
    // x: (n, 3), y: (n, 2), a fixed linear map of x plus a shift.
    private static List<(Tensor, Tensor)> Batches(int count, int size, ulong seed)
    {
        var rng = new Rng(seed);
        var list = new List<(Tensor, Tensor)>();
        for (int b = 0; b < count; b++)
        {
            var x = new float[size * 3];
            var y = new float[size * 2];
            for (int i = 0; i < size; i++)
            {
                for (int j = 0; j < 3; j++) x[i * 3 + j] = (float)(rng.NextDouble() * 2 - 1);
                y[i * 2] = x[i * 3] - 2 * x[i * 3 + 1] + 1;
                y[i * 2 + 1] = 0.5f * x[i * 3 + 2] - 1;
            }
            list.Add((Tensor.FromArray(x, new[] { size, 3 }), Tensor.FromArray(y, new[] { size, 2 })));
        }
        return list;
    }

    // Groups after SplitAt(2, 4): [Linear, BatchNorm1d], [ReLU, Linear], [ReLU, Linear].
    private static Learner Make(int batches = 3) =>
        new(DataBunch.From(Batches(batches, 8, 1), Batches(1, 8, 2)),
            new Sequential(new Linear(3, 6, rng: new Rng(1)), new BatchNorm1d(6), new ReLU(), new Linear(6, 5, rng: new Rng(2)),
                           new ReLU(), new Linear(5, 2, rng: new Rng(3))),
            F.MseLoss);

    private static Dictionary<string, float[]> Snapshot(Learner l) =>
        l.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.To(DType.Float32).ToArray());

    [Fact]
    public void TheDefaultIsOneGroupHoldingTheWholeModel()
    {
        var learn = Make();
        Assert.Single(learn.LayerGroups);
        Assert.Same(learn.Model, Assert.Single(learn.LayerGroups[0]));
        learn.Fit(1, 1e-3f);
        var g = Assert.Single(learn.Opt!.ParamGroups);
        Assert.Equal(learn.Model.Parameters(), g.Parameters);
    }

    [Fact]
    public void SplitMakesOneOptimizerGroupPerLayerGroup()
    {
        var learn = Make().SplitAt(2, 4);
        Assert.Equal(3, learn.LayerGroups.Count);
        Assert.Equal(new[] { 2, 2, 2 }, learn.LayerGroups.Select(g => g.Count));
        var opt = learn.CreateOpt(1e-3f);
        Assert.Equal(3, opt.ParamGroups.Count);
        var model = (Sequential)learn.Model;
        var children = model.NamedChildren().Select(c => c.Module).ToList();
        Assert.Equal(children[0].Parameters().Concat(children[1].Parameters()), opt.ParamGroups[0].Parameters);
        Assert.Equal(children[3].Parameters(), opt.ParamGroups[1].Parameters);
        Assert.Equal(children[5].Parameters(), opt.ParamGroups[2].Parameters);
        // Split again: the optimizer is dropped and remade with the new groups.
        learn.Split(children.Take(4).ToArray(), children.Skip(4).ToArray());
        Assert.Null(learn.Opt);
        Assert.Equal(new[] { 6, 2 }, learn.CreateOpt(1e-3f).ParamGroups.Select(g => g.Parameters.Count));
    }

    [Fact]
    public void SplitRejectsMissingDuplicateAndForeignParameters()
    {
        var learn = Make();
        var c = learn.Model.NamedChildren().Select(x => x.Module).ToList();
        var missing = Assert.Throws<NativeCnnException>(() => learn.Split(c.Take(3).ToArray(), new[] { c[3] })).Message;
        Assert.Contains("every trainable parameter must be in a layer group; missing: 5.weight, 5.bias", missing);
        var twice = Assert.Throws<NativeCnnException>(() => learn.Split(c.Take(4).ToArray(), c.Skip(3).ToArray())).Message;
        Assert.Contains("parameter '3.weight' is in layer groups 0 and 1", twice);
        var foreign = Assert.Throws<NativeCnnException>(() => learn.Split(c.ToArray(), new Module[] { new Linear(2, 2) })).Message;
        Assert.Contains("layer group 1 holds a parameter of shape (2, 2)", foreign);
        Assert.Contains("not part of the model", foreign);
        Assert.Contains("layer group 1 is empty", Assert.Throws<NativeCnnException>(() => learn.Split(c.ToArray(), Array.Empty<Module>())).Message);
        Assert.Contains("strictly within (0, 6), got [2, 2]", Assert.Throws<NativeCnnException>(() => learn.SplitAt(2, 2)).Message);
        Assert.Contains("needs at least two layer groups", Assert.Throws<NativeCnnException>(() => learn.Freeze()).Message);
        // Nothing changed after the failures.
        Assert.Single(learn.LayerGroups);
    }

    [Fact]
    public void FrozenWeightsStayWhileTheirBatchNormLearnsAndTheHeadTrains()
    {
        var learn = Make().SplitAt(2, 4);
        learn.Fit(1, 1e-2f);                           // an optimizer with state, and gradients everywhere
        var before = Snapshot(learn);
        var oldOpt = learn.Opt;
        learn.Freeze();
        Assert.Null(learn.Opt);
        // 3 steps with AdamW (weight decay 1e-2): frozen parameters must not move at all.
        learn.Fit(1, 1e-2f);
        Assert.NotSame(oldOpt, learn.Opt);
        var after = Snapshot(learn);
        foreach (var frozen in new[] { "0.weight", "0.bias", "3.weight", "3.bias" })
            Assert.Equal(before[frozen], after[frozen]);
        foreach (var moving in new[] { "1.weight", "1.bias", "1.running_mean", "1.running_var", "5.weight", "5.bias" })
            Assert.NotEqual(before[moving], after[moving]);
        Assert.Equal(before["1.num_batches_tracked"][0] + 3, after["1.num_batches_tracked"][0]);
        // The optimizer holds the batch norm's two parameters in group 0, nothing in group 1, the head in group 2.
        Assert.Equal(new[] { 2, 0, 2 }, learn.Opt!.ParamGroups.Select(g => g.Parameters.Count));
        Assert.False(learn.Model.StateDict().Count == 0);
        var named = learn.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Value);
        Assert.False(named["0.weight"].RequiresGrad);
        Assert.Null(named["0.weight"].Grad);
        Assert.True(named["1.weight"].RequiresGrad);

        learn.Unfreeze();
        Assert.All(learn.Model.Parameters(), p => Assert.True(p.RequiresGrad));
        learn.Fit(1, 1e-2f);
        var thawed = Snapshot(learn);
        Assert.NotEqual(after["0.weight"], thawed["0.weight"]);
        Assert.NotEqual(after["3.weight"], thawed["3.weight"]);
        Assert.Equal(new[] { 4, 2, 2 }, learn.Opt!.ParamGroups.Select(g => g.Parameters.Count));
    }

    [Fact]
    public void FreezeToCountsFromTheEndForNegativeIndices()
    {
        var learn = Make().SplitAt(2, 4);
        var named = learn.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Value);
        string Trainable() => string.Join(" ", new[] { "0.weight", "1.weight", "3.weight", "5.weight" }.Select(n => named[n].RequiresGrad ? "T" : "F"));
        learn.FreezeTo(-2);
        Assert.Equal("F T T T", Trainable());
        learn.FreezeTo(2);
        Assert.Equal("F T F T", Trainable());
        learn.FreezeTo(-1);
        Assert.Equal("F T F T", Trainable());
        learn.FreezeTo(10);
        Assert.Equal("F T F F", Trainable());
        learn.FreezeTo(-10);
        Assert.Equal("T T T T", Trainable());
    }

    [Fact]
    public void LrRangeSpreadsOverTheGroupsAsFastai()
    {
        Assert.Equal(new[] { 0.01, 0.01, 0.01 }, LrRange.Of(0.01).For(3));
        Assert.Equal(new[] { 0.001, 0.001, 0.01 }, LrRange.Slice(0.01).For(3));
        var even = LrRange.Slice(1e-5, 1e-3).For(3);
        Assert.Equal(1e-5, even[0], 1e-20);
        Assert.Equal(1e-4, even[1], 1e-18);
        Assert.Equal(1e-3, even[2], 1e-17);
        Assert.Equal(new[] { 0.5 }, LrRange.Slice(0.1, 0.5).For(1));
        Assert.Equal(new[] { 0.5 }, LrRange.Slice(0.5).For(1));
        LrRange fromFloat = 0.01f;
        Assert.Equal(0.01, fromFloat.Hi);              // the shortest decimal, not 0.009999999776
        Assert.Equal("slice(1E-05, 0.001)", LrRange.Slice(1e-5, 1e-3).ToString());
        Assert.Contains("2 learning rates were given for 3 groups", Assert.Throws<NativeCnnException>(() => LrRange.PerGroup(1, 2).For(3)).Message);
        Assert.Contains("Slice(lo, hi): lo must be finite and > 0, got 0", Assert.Throws<NativeCnnException>(() => LrRange.Slice(0, 1)).Message);
    }

    [Fact]
    public void FitAndFitOneCycleGiveEachGroupItsOwnLr()
    {
        var learn = Make(batches: 10).SplitAt(2, 4);
        learn.Fit(1, LrRange.Slice(1e-4, 1e-2));
        Assert.Equal(new[] { 1e-4f, 1e-3f, 1e-2f }, learn.Opt!.ParamGroups.Select(g => g.Lr));
        var lrs = new List<float[]>();
        learn.FitOneCycle(1, LrRange.Slice(0.03), extra: new Probe((l, e) =>
        {
            if (e == "AfterStep") lrs.Add(l.Opt!.ParamGroups.Select(g => g.Lr).ToArray());
        }));
        Assert.Equal(10, lrs.Count);
        // 10 steps: the peak is step 2 (pct*n - 1), the last step maxLr/25e4, for each group's own maxLr.
        var peaks = new[] { 0.003, 0.003, 0.03 };
        var sched = new OneCycle(peaks, 10);
        for (int step = 0; step < 10; step++)
            for (int g = 0; g < 3; g++)
                Assert.Equal((float)sched.LrAt(step, peaks[g]), lrs[step][g]);
        Assert.Equal(0.03f, lrs[2][2]);
        Assert.Equal(0.003f, lrs[2][0]);
        Assert.Equal((float)(0.03 / 25e4), lrs[9][2]);
        // the Recorder keeps the last group's lr, as fastai's does (the head's under a slice)
        Assert.Equal(lrs.Select(l => (double)l[2]), learn.Recorder.Lrs);
    }
}
