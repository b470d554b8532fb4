// The Learner's core loop: a synthetic regression it must solve (y = a*x + b), the exact order of
// callback events, each cancellation kind, the one-cycle values it applies, what the Recorder keeps
// (checked against the final model evaluated by hand) and a tiny MNIST run that must beat chance.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class LearnerTests
{
    private const float A = 3f, B = -2f;

    // Batches of (x: (n, 1), y: (n, 1)) with y = A*x + B, x uniform in [-1, 1).
    private static List<(Tensor X, Tensor Y)> Line(int batches, int size, ulong seed, int? lastSize = null)
    {
        var rng = new Rng(seed);
        var list = new List<(Tensor, Tensor)>();
        for (int b = 0; b < batches; b++)
        {
            int n = b == batches - 1 && lastSize is int l ? l : size;
            var x = new float[n];
            var y = new float[n];
            for (int i = 0; i < n; i++) { x[i] = (float)(rng.NextDouble() * 2 - 1); y[i] = A * x[i] + B; }
            list.Add((Tensor.FromArray(x, new[] { n, 1 }), Tensor.FromArray(y, new[] { n, 1 })));
        }
        return list;
    }

    private static Learner LineLearner(Func<IEnumerable<ParamGroup>, float, Optimizer>? opt = null, int trainBatches = 8, int? lastValid = null)
    {
        var data = DataBunch.From(Line(trainBatches, 32, 1), Line(2, 16, 2, lastValid));
        return new Learner(data, new Linear(1, 1, rng: new Rng(5)), F.MseLoss, optFunc: opt);
    }

    private static (float W, float Bias) WB(Learner learn)
    {
        var p = learn.Model.StateDict();
        return (p["weight"].Item(), p["bias"].Item());
    }

    [Fact]
    public void FitWithSgdFindsTheLine()
    {
        var learn = LineLearner((ps, lr) => new SGD(ps, lr, momentum: 0.9f));
        learn.Fit(40, 0.05f);
        var (w, b) = WB(learn);
        Assert.Equal(A, w, 1e-3);
        Assert.Equal(B, b, 1e-3);
        Assert.True(learn.Recorder.ValidLosses[^1] < 1e-5, $"final valid loss {learn.Recorder.ValidLosses[^1]}");
        Assert.All(learn.Recorder.Lrs, lr => Assert.Equal(0.05, lr, 1e-7));
    }

    [Fact]
    public void FitOneCycleWithTheDefaultAdamWFindsTheLine()
    {
        var learn = LineLearner(trainBatches: 16);
        Assert.Null(learn.Opt);
        learn.FitOneCycle(12, 0.1f);
        var opt = Assert.IsType<AdamW>(learn.Opt);
        var g = opt.ParamGroups[0];
        Assert.Equal((0.99f, 1e-8f, 1e-2f), (g.Beta2, g.Eps, g.WeightDecay));
        // Decoupled weight decay 1e-2 pulls the optimum slightly towards 0: |w - A| ~ wd*A/(2 E[x^2]) = 0.045.
        var (w, b) = WB(learn);
        Assert.Equal(A, w, 0.08);
        Assert.Equal(B, b, 0.08);
        Assert.True(learn.Recorder.ValidLosses[^1] < 5e-3, $"final valid loss {learn.Recorder.ValidLosses[^1]}");
        Assert.True(learn.Recorder.ValidLosses[^1] < learn.Recorder.ValidLosses[0] / 10);
    }

    [Fact]
    public void OneCycleSetsLrAndMomentumOnEveryGroupAtFirstPeakAndLastStep()
    {
        const float maxLr = 0.02f;
        // 10 batches x 10 epochs = 100 steps: the peak falls exactly on step 30.
        var data = DataBunch.From(Line(10, 4, 1), Line(1, 4, 2));
        var model = new Linear(1, 1, rng: new Rng(1));
        var ps = model.Parameters().ToList();
        var learn = new Learner(data, model, F.MseLoss, optFunc: (_, lr) =>
            new AdamW(new[] { new ParamGroup(ps.Take(1)), new ParamGroup(ps.Skip(1), lr: 0.5f) }, lr, 0.9f, 0.99f));
        var seen = new List<(float Lr0, float Lr1, float M0, float M1)>();
        learn.FitOneCycle(10, maxLr, extra: new Probe((l, e) =>
        {
            if (e == "AfterStep") { var g = l.Opt!.ParamGroups; seen.Add((g[0].Lr, g[1].Lr, g[0].Momentum, g[1].Momentum)); }
        }));
        Assert.Equal(100, seen.Count);
        // PyTorch OneCycleLR: the warm-up ends at step pct*n - 1 = 29, the cool-down at n - 1 = 99.
        static double Cos(double start, double end, double pct) => start + (end - start) * (1 - Math.Cos(Math.PI * pct)) / 2;
        double max = 0.02;   // 0.02f converts through its shortest decimal form
        var expected = new (int Step, double Lr, double Mom)[]
        {
            (0, max / 25.0, 0.95), (29, max, 0.85), (99, max / 25e4, 0.95),
            (15, Cos(max / 25.0, max, 15 / 29.0), Cos(0.95, 0.85, 15 / 29.0)),
            (60, Cos(max, max / 25e4, (60 - 29) / 70.0), Cos(0.85, 0.95, (60 - 29) / 70.0)),
        };
        // The optimizer holds float32: the double schedule rounded once.
        foreach (var (step, lr, mom) in expected)
        {
            Assert.Equal((float)lr, seen[step].Lr0, (float)lr * 1.2e-7f);
            Assert.Equal((float)lr, seen[step].Lr1, (float)lr * 1.2e-7f);
            Assert.Equal((float)mom, seen[step].M0, 1.2e-7f);
            Assert.Equal((float)mom, seen[step].M1, 1.2e-7f);
            Assert.Equal(seen[step].Lr1, learn.Recorder.Lrs[step]);   // the last group's, as fastai records
            Assert.Equal(seen[step].M1, learn.Recorder.Moms[step]);
        }
    }

    [Fact]
    public void FitOneCycleTakesUserMomentumsAndDivisors()
    {
        var learn = LineLearner(trainBatches: 10);
        learn.FitOneCycle(1, 0.01f, moms: (0.9, 0.8), divFactor: 10, pctStart: 0.5, finalDiv: 100);
        var r = learn.Recorder;
        // 10 steps: warm-up ends at step 4, the last step (9) is 0.01/100; values are float32 (one rounding).
        static void Near(double expected, double actual) => Assert.Equal(expected, actual, Math.Abs(expected) * 1.2e-7);
        Near(0.001, r.Lrs[0]);
        Near(0.9, r.Moms[0]);
        Near(0.01, r.Lrs[4]);
        Near(0.8, r.Moms[4]);
        double pct = (7 - 4) / 5.0;
        Near(0.01 + (0.0001 - 0.01) * (1 - Math.Cos(Math.PI * pct)) / 2, r.Lrs[7]);
        Near(0.0001, r.Lrs[9]);
    }

    [Fact]
    public void RecorderKeepsBatchLossesEpochMeansAndTheItemWeightedValidLoss()
    {
        // Valid batches of 16 and 5 items: the valid loss must weight items, not batches.
        var learn = LineLearner((ps, lr) => new SGD(ps, lr), trainBatches: 4, lastValid: 5);
        learn.Fit(3, 0.01f);
        var r = learn.Recorder;
        Assert.Equal(12, r.Losses.Count);
        Assert.Equal(12, r.Lrs.Count);
        Assert.Equal(12, r.Moms.Count);
        Assert.Equal(3, r.TrainLosses.Count);
        Assert.Equal(3, r.ValidLosses.Count);
        Assert.Equal(3, r.EpochSeconds.Count);
        for (int e = 0; e < 3; e++) Assert.Equal(r.Losses.Skip(4 * e).Take(4).Average(), r.TrainLosses[e], 1e-6);
        Assert.True(r.Losses[^1] < r.Losses[0], "slow SGD still lowers the loss");
        // The last valid loss by hand from the final weights (validation runs after the last step).
        var (w, b) = WB(learn);
        double sum = 0; int n = 0;
        foreach (var (x, y) in Line(2, 16, 2, 5))
        {
            var xs = x.ToArray(); var ys = y.ToArray();
            for (int i = 0; i < xs.Length; i++) { double d = w * xs[i] + b - ys[i]; sum += d * d; n++; }
        }
        Assert.Equal(21, n);
        Assert.Equal(sum / n, r.ValidLosses[^1], 1e-5 + 1e-5 * sum / n);
        // A later fit starts a fresh record but keeps the optimizer.
        var opt = learn.Opt;
        learn.Fit(1, 0.01f);
        Assert.Same(opt, learn.Opt);
        Assert.Equal(4, r.Losses.Count);
        Assert.Single(r.ValidLosses);
    }

    [Fact]
    public void TheTablePrinterWritesAHeaderAndOneRowPerEpoch()
    {
        var data = DataBunch.From(Line(2, 8, 1), Line(1, 8, 2));
        var learn = new Learner(data, new Linear(1, 1, rng: new Rng(5)), F.MseLoss, new[] { new Constant("mse_copy", 0.25), new Constant("r", 1) });
        var sw = new StringWriter();
        learn.AddCallback(new EpochTablePrinter(sw));
        learn.Fit(2, 0.01f);
        var lines = sw.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Equal("epoch  train_loss  valid_loss  mse_copy  r         time  ", lines[0]);
        var r = learn.Recorder;
        for (int e = 0; e < 2; e++)
        {
            string expected = $"{e,-7}{r.TrainLosses[e].ToString("F6", System.Globalization.CultureInfo.InvariantCulture),-12}" +
                              $"{r.ValidLosses[e].ToString("F6", System.Globalization.CultureInfo.InvariantCulture),-12}0.250000  1.000000  00:00 ";
            Assert.Equal(expected, lines[e + 1]);
        }
        Assert.Equal(new[] { 0.25, 1.0 }, r.MetricValues[1]);
        Assert.Equal(new[] { "mse_copy", "r" }, r.MetricNames);
    }

    [Fact]
    public void ATinyMnistRunBeatsChanceClearly()
    {
        var mnist = Mnist.LoadEmbedded();
        var rng = new Rng(7);
        var train = new BatchIterator(mnist.Train.Take(640), 16, shuffle: true, dropLast: true, rng: rng);
        var valid = new BatchIterator(mnist.Valid.Take(300), 300, shuffle: false);
        var learn = new Learner(DataBunch.From(train, valid), SimpleCnn.MnistCnn(10, rng),
            (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy(), Metrics.ErrorRate() });
        learn.FitOneCycle(1, 3e-2f);
        var r = learn.Recorder;
        Assert.Equal(40, r.Losses.Count);
        double acc = r.MetricValues[0][0];
        Assert.True(acc > 0.5, $"accuracy {acc} after one epoch of 640 images (chance is 0.1; this run gives 0.63)");
        Assert.Equal(1 - acc, r.MetricValues[0][1], 1e-12);
        Assert.True(r.ValidLosses[0] < 1.5, $"valid loss {r.ValidLosses[0]} (chance is ln 10 = 2.30)");
        Assert.True(learn.Model.Training, "the model is back in train mode after validation");
    }

    [Fact]
    public void TheDataLoaderAdapterFeedsEveryBatchThrough()
    {
        var mnist = Mnist.LoadEmbedded();
        DataLoader Loader(ImageDataset d, bool train) => new(new IdxImageSource(d), new ImageTransform(28, 28),
            new DataLoaderOptions { BatchSize = 16, Shuffle = train, Train = train, Channels = 1, Workers = 1 }, new Rng(3));
        var validLoader = Loader(mnist.Valid.Take(40), false);
        var learn = new Learner(DataBunch.From(Loader(mnist.Train.Take(48), true), validLoader), SimpleCnn.MnistCnn(10, new Rng(3)),
            (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
        learn.Fit(2, 1e-3f);
        var r = learn.Recorder;
        Assert.Equal(6, r.Losses.Count);                    // 3 batches of 16 per epoch
        Assert.All(r.Losses, l => Assert.True(double.IsFinite(l) && l > 0));
        // The last epoch's valid loss and accuracy, recomputed by hand over the same loader (batches 16, 16, 8).
        learn.Model.Eval();
        double sum = 0; int n = 0, right = 0;
        using (new NativeCnn.Autograd.NoGrad())
            foreach (var b in validLoader.Epoch())
            {
                var logits = learn.Model.Forward(b.X);
                int bs = b.Y.Size(0);
                sum += F.CrossEntropy(logits, b.Y).Item() * bs;
                var pred = logits.ArgMax(1).ToInt32Array(); var y = b.Y.ToInt32Array();
                for (int i = 0; i < bs; i++) if (pred[i] == y[i]) right++;
                n += bs;
            }
        learn.Model.Train();
        Assert.Equal(40, n);
        Assert.Equal(sum / n, r.ValidLosses[^1], 1e-4);
        Assert.Equal((double)right / n, r.MetricValues[^1][0], 1e-12);
    }

    /// <summary>Reports every event to a delegate.</summary>
    internal sealed class Probe : Callback
    {
        private readonly Action<Learner, string> _on;
        private readonly int _order;
        public Probe(Action<Learner, string> on, int order = 0) { _on = on; _order = order; }
        public override int Order => _order;
        public override void BeforeFit(Learner l) => _on(l, nameof(BeforeFit));
        public override void BeforeEpoch(Learner l) => _on(l, nameof(BeforeEpoch));
        public override void BeforeTrain(Learner l) => _on(l, nameof(BeforeTrain));
        public override void BeforeBatch(Learner l) => _on(l, nameof(BeforeBatch));
        public override void AfterPred(Learner l) => _on(l, nameof(AfterPred));
        public override void AfterLoss(Learner l) => _on(l, nameof(AfterLoss));
        public override void AfterBackward(Learner l) => _on(l, nameof(AfterBackward));
        public override void AfterStep(Learner l) => _on(l, nameof(AfterStep));
        public override void AfterBatch(Learner l) => _on(l, nameof(AfterBatch));
        public override void AfterTrain(Learner l) => _on(l, nameof(AfterTrain));
        public override void BeforeValidate(Learner l) => _on(l, nameof(BeforeValidate));
        public override void AfterValidate(Learner l) => _on(l, nameof(AfterValidate));
        public override void AfterEpoch(Learner l) => _on(l, nameof(AfterEpoch));
        public override void AfterFit(Learner l) => _on(l, nameof(AfterFit));
    }

    /// <summary>A metric with a fixed value, to test the table's layout.</summary>
    private sealed class Constant : Metric
    {
        private readonly double _v;
        public Constant(string name, double v) : base(name) => _v = v;
        public override void Reset() { }
        public override void Accumulate(Tensor pred, Tensor target) { }
        public override double Value => _v;
    }
}
