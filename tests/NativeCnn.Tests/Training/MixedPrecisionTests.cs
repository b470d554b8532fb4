// Mixed precision on the CPU backend (float16 storage, float32 arithmetic): the loss scaler's
// schedule, what ToFp16 does to a model (float16 except batch norm, float32 masters the optimizer
// steps), an injected overflow that must leave masters, model and optimizer state bit-exactly as they
// were, a clean step that must update them, and mnist_cnn reaching the float32 accuracy.
using System.Reflection;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class MixedPrecisionTests
{
    [Fact]
    public void ScalerStartsAt2To16HalvesOnOverflowAndGrowsAfterCleanSteps()
    {
        var s = new LossScaler(growthInterval: 3);
        Assert.Equal(65536f, s.Scale);
        Assert.False(s.Update(overflow: true));
        Assert.Equal(32768f, s.Scale);
        Assert.Equal(1, s.SkippedSteps);
        Assert.True(s.Update(false));
        Assert.True(s.Update(false));
        Assert.Equal(32768f, s.Scale);               // two clean steps: not yet
        Assert.True(s.Update(false));
        Assert.Equal(65536f, s.Scale);               // the third doubles
        Assert.Equal(0, s.CleanSteps);
        s.Update(false); s.Update(true);             // an overflow resets the count
        s.Update(false); s.Update(false);
        Assert.Equal(32768f, s.Scale);
    }

    [Fact]
    public void ScalerIsCappedAndNeverBelowOne()
    {
        var s = new LossScaler(initScale: 4f, growthInterval: 1, maxScale: 16f);
        for (int i = 0; i < 10; i++) s.Update(false);
        Assert.Equal(16f, s.Scale);
        var d = new LossScaler(initScale: 2f);
        for (int i = 0; i < 5; i++) Assert.False(d.Update(true));
        Assert.Equal(1f, d.Scale);
        Assert.Equal(1000, new LossScaler().GrowthInterval);
        Assert.Equal(16777216f, new LossScaler().MaxScale);
        Assert.Throws<NativeCnnException>(() => new LossScaler(initScale: 0.5f));
        Assert.Throws<NativeCnnException>(() => new LossScaler(growthInterval: 0));
        Assert.Throws<NativeCnnException>(() => new LossScaler(initScale: 1024f, maxScale: 512f));
    }

    private static Learner TinyMnist(int images, int bs, ulong seed, out NativeCnn.Nn.Module model)
    {
        var mnist = Mnist.LoadEmbedded();
        var rng = new Rng(seed);
        var train = new BatchIterator(mnist.Train.Take(images), bs, shuffle: true, dropLast: true, rng: rng);
        var valid = new BatchIterator(mnist.Valid.Take(64), 64, shuffle: false);
        model = SimpleCnn.MnistCnn(10, rng);
        return new Learner(DataBunch.From(train, valid), model, (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
    }

    [Fact]
    public void ToFp16MakesTheModelHalfExceptBatchNormAndTheOptimizerStepsFloat32Masters()
    {
        var learn = TinyMnist(32, 16, 3, out var model).ToFp16();
        var before = model.NamedParameters().ToDictionary(p => p.Name, p => p.Value.ToArray());
        learn.Fit(1, 1e-3f);
        var mp = learn.MixedPrecision()!;
        foreach (var (name, p) in model.NamedParameters())
        {
            bool bn = name.StartsWith("1.") || name.StartsWith("4.") || name.StartsWith("7.") || name.StartsWith("10.");
            Assert.Equal(bn ? DType.Float32 : DType.Float16, p.DType);
        }
        Assert.Equal(DType.Float32, model.StateDict()["1.running_mean"].DType);
        var masters = mp.Masters;
        var ps = model.Parameters().ToList();
        Assert.Equal(ps.Count, masters.Count);
        Assert.Same(masters[0], learn.Opt!.ParamGroups[0].Parameters[0]);
        for (int i = 0; i < ps.Count; i++)
        {
            Assert.Equal(DType.Float32, masters[i].DType);
            // the model holds the masters rounded to its dtype
            var m = masters[i].ToArray();
            var expected = ps[i].DType == DType.Float16 ? m.Select(v => (float)(Half)v).ToArray() : m;
            Assert.Equal(expected, ps[i].ToArray());
        }
        // two clean steps moved the weights
        Assert.NotEqual(before["0.weight"], masters[0].ToArray());
        Assert.Equal(0, mp.Scaler.SkippedSteps);
        Assert.Equal(2, mp.Scaler.CleanSteps);
        Assert.True(double.IsFinite(learn.Recorder.TrainLosses[0]));
    }

    /// <summary>Runs before MixedPrecision's AfterBackward: at one train step it snapshots everything a
    /// step could change and puts an inf into one float16 gradient; at AfterBatch it records the values again.</summary>
    private sealed class InjectOverflow : Callback
    {
        private readonly int _at;
        public InjectOverflow(int at) { _at = at; }
        public override int Order => -6;
        public List<float[]>? Before, After;
        public bool StepRan;
        public float ScaleBefore;

        public override void AfterBackward(Learner learn)
        {
            if (learn.TrainIter != _at) return;
            Before = Snapshot(learn);
            ScaleBefore = learn.MixedPrecision()!.Scaler.Scale;
            var g = learn.Model.Parameters().First().Grad!;
            var values = g.ToArray();
            values[3] = float.PositiveInfinity;
            g.CopyFrom(Tensor.FromArray(values, g.ShapeArray.ToArray()).To(DType.Float16));
        }

        public override void AfterStep(Learner learn) { if (learn.TrainIter == _at) StepRan = true; }

        public override void AfterBatch(Learner learn)
        {
            if (learn.Training && learn.TrainIter == _at) After = Snapshot(learn);
        }
    }

    /// <summary>Model parameters, masters and every tensor and counter in the optimizer's state.</summary>
    private static List<float[]> Snapshot(Learner learn)
    {
        var list = learn.Model.Parameters().Select(p => p.ToArray()).ToList();
        list.AddRange(learn.MixedPrecision()!.Masters.Select(m => m.ToArray()));
        var states = (System.Collections.IList)typeof(Optimizer).GetField("_state", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(learn.Opt)!;
        int tensors = 0;
        foreach (object?[] group in states)
            foreach (var s in group)
            {
                if (s is null) continue;
                foreach (var f in s.GetType().GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
                {
                    var v = f.GetValue(s);
                    if (v is Tensor t) { list.Add(t.ToArray()); tensors++; }
                    else if (v is int n) list.Add(new float[] { n });
                }
            }
        Assert.True(tensors > 0, "the optimizer has state to compare (Adam moments)");
        return list;
    }

    [Fact]
    public void AnInjectedOverflowHalvesTheScaleAndSkipsTheStepBitExactly()
    {
        var learn = TinyMnist(64, 16, 5, out _).ToFp16(growthInterval: 1000);
        var inject = new InjectOverflow(at: 2);   // after two real steps: the Adam state exists
        learn.Fit(1, 1e-3f, inject);
        var mp = learn.MixedPrecision()!;
        Assert.NotNull(inject.Before);
        Assert.NotNull(inject.After);
        Assert.False(inject.StepRan);
        Assert.Equal(inject.Before!.Count, inject.After!.Count);
        for (int i = 0; i < inject.Before.Count; i++)
            Assert.True(inject.Before[i].Select(BitConverter.SingleToInt32Bits).SequenceEqual(inject.After[i].Select(BitConverter.SingleToInt32Bits)),
                $"snapshot entry {i} changed across the skipped step");
        Assert.Equal(inject.ScaleBefore / 2, mp.Scaler.Scale);
        Assert.Equal(1, mp.Scaler.SkippedSteps);
        Assert.Equal(1, mp.Scaler.CleanSteps);       // the fourth batch ran clean after the skip
        Assert.Equal(4, learn.Recorder.Losses.Count);
    }

    [Fact]
    public void TheScaleDoublesAfterTheGrowthIntervalDuringTraining()
    {
        var learn = TinyMnist(64, 16, 6, out _).ToFp16(initScale: 1024f, growthInterval: 2, maxScale: 2048f);
        learn.Fit(1, 1e-3f);
        var s = learn.MixedPrecision()!.Scaler;
        Assert.Equal(0, s.SkippedSteps);
        Assert.Equal(2048f, s.Scale);                // 4 clean steps: 1024 -> 2048 -> capped
        Assert.Throws<NativeCnnException>(() => learn.ToFp16());
    }

    [Fact]
    public void TheFirstStepMovesTheMastersLikeTheFloat32Weights()
    {
        var a = TinyMnist(16, 16, 9, out var m32);
        var b = TinyMnist(16, 16, 9, out var m16).ToFp16();
        var init = m32.Parameters().First().ToArray();
        Assert.Equal(init, m16.Parameters().First().ToArray());
        a.Fit(1, 0.1f);
        b.Fit(1, 0.1f);
        Assert.Single(a.Recorder.Losses);
        // the default AdamW's first step is lr * g / (|g| + eps) (plus the same weight decay): each weight
        // moves by about lr against the sign of its gradient, so unscaled float16 gradients must give the
        // float32 directions (a gradient near zero may flip)
        var w32 = m32.Parameters().First().ToArray();
        var w16 = b.MixedPrecision()!.Masters[0].ToArray();
        int agree = 0;
        for (int i = 0; i < init.Length; i++)
            if (Math.Sign(w32[i] - init[i]) == Math.Sign(w16[i] - init[i])) agree++;
        Assert.True(agree > 0.95 * init.Length, $"{agree} of {init.Length} first-step directions agree");
    }
}

public class MixedPrecisionMnistTests
{
    /// <summary>mnist_cnn on the first <paramref name="images"/> embedded training digits, one-cycle AdamW
    /// (the CLI's recipe), validated on the first 1,000 validation digits; returns the final accuracy.</summary>
    internal static double Train(bool fp16, int images, int epochs, ulong seed)
    {
        var mnist = Mnist.LoadEmbedded();
        var rng = new Rng(seed);
        var train = new BatchIterator(mnist.Train.Take(images), 64, shuffle: true, dropLast: true, rng: rng);
        var valid = new BatchIterator(mnist.Valid.Take(1000), 500, shuffle: false);
        var learn = new Learner(DataBunch.From(train, valid), SimpleCnn.MnistCnn(10, rng), (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
        if (fp16) learn.ToFp16();
        learn.FitOneCycle(epochs, 1e-2f);
        if (fp16) Assert.Equal(0, learn.MixedPrecision()!.Scaler.SkippedSteps);
        return learn.Recorder.MetricValues[^1][0];
    }

    /// <summary>The full comparison (5 epochs of the 8,000 digits, both ways, minutes on this machine) is
    /// in benchmarks/results/fp16-notes.md. Here one epoch of 2,048 digits: far from converged, so the
    /// seed moves both accuracies by points; measured fp16 - float32 over seeds 1, 2, 3: +2.5, -2.9,
    /// -1.1 points (0.625/0.650, 0.611/0.582, 0.763/0.752). The tolerance covers that spread.</summary>
    [Fact]
    public void Fp16ReachesTheFloat32AccuracyOnAShortRun()
    {
        double a32 = Train(fp16: false, images: 2048, epochs: 1, seed: 3);
        double a16 = Train(fp16: true, images: 2048, epochs: 1, seed: 3);
        Assert.True(a32 > 0.7, $"float32 accuracy {a32}");
        Assert.True(Math.Abs(a16 - a32) <= 0.04, $"fp16 accuracy {a16} vs float32 {a32}");
    }
}
