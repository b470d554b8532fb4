// EarlyStoppingCallback and SaveModelCallback on scripted metric values (so the epoch they must act
// on is known): patience, minDelta, auto mode from the name, unknown monitors, the best weights saved
// and loaded back at the end, and one file per epoch in every-epoch mode.
using NativeCnn.IO;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;
using Probe = NativeCnn.Tests.Training.LearnerTests.Probe;

namespace NativeCnn.Tests.Training;

public class TrackerCallbackTests
{
    /// <summary>A metric whose value in epoch e is values[e] (the Recorder resets metrics once per validation).</summary>
    private sealed class Scripted(string name, params double[] values) : Metric(name)
    {
        private int _epoch = -1;
        public override void Reset() => _epoch++;
        public override void Accumulate(Tensor pred, Tensor target) { }
        public override double Value => values[_epoch];
    }

    private static List<(Tensor, Tensor)> Batches(int count) =>
        Enumerable.Range(0, count).Select(b =>
        {
            var x = new[] { 0.1f * b, 0.2f, -0.3f, 0.4f };
            return (Tensor.FromArray(x, new[] { 4, 1 }), Tensor.FromArray(x.Select(v => 2 * v - 1).ToArray(), new[] { 4, 1 }));
        }).ToList();

    private static Learner Make(params Metric[] metrics) =>
        new(DataBunch.From(Batches(2), Batches(1)), new Linear(1, 1, rng: new Rng(3)), F.MseLoss, metrics, (ps, lr) => new SGD(ps, lr));

    private static float[] Weights(Learner l) => l.Model.Parameters().SelectMany(p => p.ToArray()).ToArray();

    [Fact]
    public void EarlyStoppingWaitsPatienceEpochsWithoutImprovement()
    {
        var learn = Make(new Scripted("score", 0.5, 0.6, 0.6, 0.55, 0.9, 0.9));
        var stop = new EarlyStoppingCallback("score", patience: 1);
        Assert.Equal("max", stop.Mode);                // auto: no "loss" or "error" in the name
        var ends = new List<int>();
        learn.AddCallback(new EpochTablePrinter(TextWriter.Null));
        learn.Fit(6, 0.01f, stop, new Probe((l, e) => { if (e == "AfterEpoch") ends.Add(l.Epoch); }, order: 20));
        // 0.5 best, 0.6 better, 0.6 not (wait 1), 0.55 not (wait 2 > patience 1): stop after epoch 3.
        Assert.Equal(3, stop.StoppedEpoch);
        Assert.Equal(0.6, stop.Best);
        Assert.Equal(1, stop.BestEpoch);
        Assert.Equal(new[] { 0, 1, 2, 3 }, ends);      // lower-order callbacks still saw epoch 3 end
        Assert.Equal(4, learn.Recorder.EpochSeconds.Count);
    }

    [Fact]
    public void EarlyStoppingNeedsAnImprovementBeyondMinDelta()
    {
        var learn = Make(new Scripted("my_loss", 1.0, 0.96, 0.5));
        var stop = new EarlyStoppingCallback("my_loss", minDelta: 0.05);
        Assert.Equal("min", stop.Mode);
        learn.Fit(3, 0.01f, stop);
        Assert.Equal(1, stop.StoppedEpoch);            // 0.96 is better than 1.0 by only 0.04
        Assert.Equal(1.0, stop.Best);
        // With a smaller minDelta the same values run to the end.
        var patient = new EarlyStoppingCallback("my_loss", minDelta: 0.01, mode: "min");
        Make(new Scripted("my_loss", 1.0, 0.96, 0.5)).Fit(3, 0.01f, patient);
        Assert.Null(patient.StoppedEpoch);
        Assert.Equal(0.5, patient.Best);
        Assert.Equal(2, patient.BestEpoch);
    }

    [Fact]
    public void EarlyStoppingOnValidLossReadsTheRecorder()
    {
        var learn = Make();
        var stop = new EarlyStoppingCallback(patience: 100);
        learn.Fit(3, 0.01f, stop);
        Assert.Equal("min", stop.Mode);
        Assert.Equal(learn.Recorder.ValidLosses.Min(), stop.Best);
        Assert.Null(stop.StoppedEpoch);
    }

    [Fact]
    public void UnknownMonitorsAndModesAreRejected()
    {
        var learn = Make(new Scripted("accuracy", 1));
        var e = Assert.Throws<NativeCnnException>(() => learn.Fit(1, 0.01f, new EarlyStoppingCallback("acuracy")));
        Assert.Contains("monitor 'acuracy' is unknown; expected train_loss, valid_loss, accuracy", e.Message);
        Assert.Contains("mode must be auto, min or max, got 'up'", Assert.Throws<NativeCnnException>(() => new EarlyStoppingCallback(mode: "up")).Message);
        Assert.Contains("patience must be >= 0, got -1", Assert.Throws<NativeCnnException>(() => new EarlyStoppingCallback(patience: -1)).Message);
    }

    [Fact]
    public void SaveModelKeepsTheBestEpochAndLoadsItBack()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-save-");
        try
        {
            var learn = Make(new Scripted("acc", 0.5, 0.7, 0.6, 0.65));
            var path = Path.Combine(dir.FullName, "sub", "best.safetensors");
            var save = new SaveModelCallback(path, "acc");
            var atEpoch = new List<float[]>();
            learn.Fit(4, 0.05f, save, new Probe((l, e) => { if (e == "AfterEpoch") atEpoch.Add(Weights(l)); }));
            Assert.Equal(new[] { path, path }, save.Written);   // epochs 0 and 1 improved
            Assert.Equal(1, save.BestEpoch);
            Assert.Equal(0.7, save.Best);
            Assert.NotEqual(atEpoch[1], atEpoch[3]);
            Assert.Equal(atEpoch[1], Weights(learn));          // the best weights are back
            var file = SafeTensors.Load(path);
            Assert.Equal(atEpoch[1], new[] { file["weight"].ToArray(), file["bias"].ToArray() }.SelectMany(a => a).ToArray());
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));  // no temporary file left
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void SaveModelEveryEpochWritesOneFilePerEpoch()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-save-");
        try
        {
            var learn = Make();
            var save = new SaveModelCallback(Path.Combine(dir.FullName, "model.safetensors"), everyEpoch: true);
            var atEpoch = new List<float[]>();
            learn.Fit(3, 0.05f, save, new Probe((l, e) => { if (e == "AfterEpoch") atEpoch.Add(Weights(l)); }));
            Assert.Equal(Enumerable.Range(0, 3).Select(e => Path.Combine(dir.FullName, $"model_{e}.safetensors")), save.Written);
            for (int e = 0; e < 3; e++)
            {
                var file = SafeTensors.Load(save.Written[e]);
                Assert.Equal(atEpoch[e], new[] { file["weight"].ToArray(), file["bias"].ToArray() }.SelectMany(a => a).ToArray());
            }
            Assert.Equal(atEpoch[2], Weights(learn));          // every-epoch mode loads nothing back
            Assert.Equal(3, Directory.GetFiles(dir.FullName).Length);
        }
        finally { dir.Delete(true); }
    }
}
