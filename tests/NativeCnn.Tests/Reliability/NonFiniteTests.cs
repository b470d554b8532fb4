// Issue #19 point 1: a model whose outputs are NaN is never reported as good. Metrics count a
// non-finite prediction as wrong (NaN compares false, so a rank test used to count it a hit);
// TerminateOnNaN stops a fit at the first non-finite loss naming epoch and batch (in the CLI by
// default, exit 1); export and bundle loading refuse non-finite weights.
using NativeCnn.Data;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class NonFiniteTests
{
    private static double Score(Metric m, float[] pred, int n, int c, Tensor target)
    {
        m.Reset();
        m.Accumulate(Tensor.FromArray(pred, new[] { n, c }), target);
        return m.Value;
    }

    [Fact]
    public void SingleLabelMetricsCountANonFiniteRowWrong()
    {
        // rows: NaN everywhere, right answer, +inf at the target, NaN beside a right maximum
        var pred = new[] { float.NaN, float.NaN, 2f, 1f, float.PositiveInfinity, 0f, 3f, float.NaN };
        var y = Tensor.FromArray(new[] { 0, 0, 0, 0 }, new[] { 4 });
        Assert.Equal(0.25, Score(Metrics.Accuracy(), pred, 4, 2, y), 12);
        Assert.Equal(0.75, Score(Metrics.ErrorRate(), pred, 4, 2, y), 12);
        Assert.Equal(0.25, Score(Metrics.TopKAccuracy(2), pred, 4, 2, y), 12);
    }

    [Fact]
    public void MultiLabelMetricsCountNonFiniteCellsWrong()
    {
        var pred = new[] { float.NaN, 5f, -5f, float.NaN };
        var y = Tensor.FromArray(new[] { 0f, 1f, 0f, 1f }, new[] { 2, 2 });
        Assert.Equal(0.5, Score(Metrics.AccuracyThresh(), pred, 2, 2, y), 12);   // the two finite cells are right
        // item 0 has a NaN score: 0; item 1 has one: 0
        Assert.Equal(0.0, Score(Metrics.FBeta(), pred, 2, 2, y), 12);
        var finite = new[] { -5f, 5f, -5f, 5f };
        Assert.Equal(1.0, Score(Metrics.FBeta(), finite, 2, 2, y), 6);
    }

    // Records each training batch's loss before TerminateOnNaN (Order 5) looks at it.
    private sealed class LossLog : Callback
    {
        public List<(int Epoch, int Iter, float Loss)> Seen { get; } = new();
        public override int Order => 1;
        public override void AfterLoss(Learner learn) { if (learn.Training) Seen.Add((learn.Epoch, learn.Iter, learn.Loss!.Item())); }
    }

    private static Learner Diverging(LossLog log)
    {
        var rng = new Rng(1);
        var batches = Enumerable.Range(0, 6).Select(_ =>
        {
            var x = Enumerable.Range(0, 16).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            return (Tensor.FromArray(x, new[] { 16, 1 }), Tensor.FromArray(x.Select(v => 3 * v).ToArray(), new[] { 16, 1 }));
        }).ToList();
        var learn = new Learner(DataBunch.From(batches, batches.Take(2).ToList()), new Linear(1, 1, rng: new Rng(5)), F.MseLoss,
                                optFunc: (ps, lr) => new SGD(ps, lr));
        learn.AddCallback(log);
        return learn;
    }

    [Fact]
    public void TerminateOnNaNStopsAtTheFirstNonFiniteLossNamingEpochAndBatch()
    {
        var log = new LossLog();
        var learn = Diverging(log).AddCallback(new TerminateOnNaNCallback());
        var e = Assert.Throws<NativeCnnException>(() => learn.Fit(4, 1e30f));
        var last = log.Seen[^1];
        Assert.False(float.IsFinite(last.Loss));
        Assert.All(log.Seen.SkipLast(1), s => Assert.True(float.IsFinite(s.Loss)));
        Assert.Contains($"at epoch {last.Epoch}, batch {last.Iter} of 6", e.Message);
        Assert.Contains("lower learning rate", e.Message);
        // without the callback the same fit runs to its end on NaN
        var plain = Diverging(new LossLog());
        plain.Fit(4, 1e30f);
        Assert.True(double.IsNaN(plain.Recorder.TrainLosses[^1]) || double.IsInfinity(plain.Recorder.TrainLosses[^1]));
    }

    [Fact]
    public void TheCliStopsAHugeLrRunWithExit1NamingEpochBatchAndLr()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "train", 8, 1);
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "valid", 2, 2);
        var outDir = Path.Combine(dir.Path, "run");
        var (code, output, err) = Support.CliRunner.Run("train", "--data", dir.Path, "--size", "16", "--epochs", "2", "--bs", "8",
                                                        "--lr", "1e30", "--device", "cpu", "--out", outDir);
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("loss is", err);
        Assert.Matches(@"at epoch \d+, batch \d+ of 2", err);
        Assert.Contains("--lr", err);
        Assert.DoesNotContain("1.000000", output);
        Assert.False(File.Exists(Path.Combine(outDir, "model", "model.safetensors")));
    }

    private static Learner TinyLearner()
    {
        var model = Architectures.Build("mnist_cnn", new ArchArgs(1, 2), new Rng(3));
        var x = Tensor.Zeros(new[] { 2, 1, 8, 8 }, DType.Float32);
        var y = Tensor.FromArray(new[] { 0, 1 }, new[] { 2 });
        var data = new DataBunch(new ListSource(new List<(Tensor, Tensor)> { (x, y) }), new ListSource(new List<(Tensor, Tensor)>()))
        {
            Classes = new[] { "a", "b" }, Stats = NormStats.Mnist, Channels = 1, Size = (8, 8),
        };
        return new Learner(data, model, (p, t) => F.CrossEntropy(p, t));
    }

    [Fact]
    public void ExportRefusesNonFiniteWeightsAndLoadRefusesABundleHoldingThem()
    {
        using var dir = new TempDir();
        var learn = TinyLearner();
        var w = learn.Model.StateDict()["0.weight"];
        var values = w.ToArray();
        values[3] = float.NaN;
        w.CopyFrom(Tensor.FromArray(values, w.ShapeArray));
        var target = Path.Combine(dir.Path, "bundle");
        var e = Assert.Throws<NativeCnnException>(() => ExportBundle.Save(learn, target));
        Assert.Contains("'0.weight' holds 1 non-finite value(s) (element 3 is NaN)", e.Message);
        Assert.Contains(target, e.Message);
        Assert.False(File.Exists(Path.Combine(target, ExportBundle.WeightsFile)));

        // a bundle written by other means (an older version, a hand edit) is refused when loaded
        values[3] = 0.5f;
        w.CopyFrom(Tensor.FromArray(values, w.ShapeArray));
        ExportBundle.Save(learn, target);
        var file = Path.Combine(target, ExportBundle.WeightsFile);
        Assert.NotNull(ExportBundle.Load(target).Model);
        var meta = new Dictionary<string, string>();
        var state = SafeTensors.Load(file, null, meta);
        var b = state["1.bias"].ToArray();
        b[0] = float.PositiveInfinity;
        state["1.bias"] = Tensor.FromArray(b, state["1.bias"].ShapeArray);
        SafeTensors.Save(file, state, meta);
        e = Assert.Throws<NativeCnnException>(() => ExportBundle.Load(target));
        Assert.Contains($"model '{file}'", e.Message);
        Assert.Contains("'1.bias' holds 1 non-finite value(s)", e.Message);
    }
}
