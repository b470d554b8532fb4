// Checkpoints: training resumed from a checkpoint gives bit for bit the losses of an uninterrupted
// run (weights, batch-norm statistics, AdamW moments and step counts, SGD momentum all restored);
// a truncated or foreign file is a clear error that changes nothing; saving over a checkpoint
// replaces it whole, and a save that fails midway leaves the old file and no temporary file behind.
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Optim;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class CheckpointTests
{
    // Random 1x8x8 "images" with 3 classes: enough for mnist_cnn (conv, batch norm, linear) to move.
    private static List<(Tensor X, Tensor Y)> Batches(int count, int size, ulong seed)
    {
        var rng = new Rng(seed);
        var list = new List<(Tensor, Tensor)>();
        for (int b = 0; b < count; b++)
        {
            var x = new float[size * 64];
            var y = new int[size];
            for (int i = 0; i < size; i++)
            {
                y[i] = rng.NextInt(3);
                for (int p = 0; p < 64; p++) x[i * 64 + p] = (float)rng.NextDouble() + (p % 3 == y[i] ? 0.5f : 0f);
            }
            list.Add((Tensor.FromArray(x, new[] { size, 1, 8, 8 }), Tensor.FromArray(y, new[] { size })));
        }
        return list;
    }

    internal static Learner TinyLearner(ulong initSeed, Func<IEnumerable<ParamGroup>, float, Optimizer>? opt = null)
    {
        var data = new DataBunch(new ListSource(Batches(4, 8, 11)), new ListSource(Batches(1, 8, 12)))
        {
            Classes = new[] { "a", "b", "c" }, Stats = new NativeCnn.Data.NormStats(new[] { 0.5f }, new[] { 0.3f }), Channels = 1, Size = (8, 8),
        };
        var model = Architectures.Build("mnist_cnn", new ArchArgs(1, 3), new Rng(initSeed));
        return new Learner(data, model, (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() }, opt);
    }

    private static double[] Losses(Learner learn) => learn.Recorder.Losses.ToArray();

    private static Dictionary<string, float[]> Snapshot(Learner learn) =>
        learn.Model.StateDict().ToDictionary(p => p.Key, p => p.Value.DType == DType.Int32 ? p.Value.ToInt32Array().Select(v => (float)v).ToArray() : p.Value.ToArray());

    [Fact]
    public void ResumingFromACheckpointRepeatsTheUninterruptedRunBitForBit()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = TinyLearner(1);
        learn.FitOneCycle(1, 1e-2f);
        learn.Save(path);
        learn.FitOneCycle(2, 1e-2f);
        var uninterrupted = Losses(learn);
        var finalWeights = Snapshot(learn);

        // The same learner, rolled back by the checkpoint...
        var info = learn.Load(path);
        Assert.True(info.HasOptimizer);
        Assert.Equal("AdamW", info.OptimizerType);
        learn.FitOneCycle(2, 1e-2f);
        Assert.Equal(uninterrupted, Losses(learn));

        // ...and a fresh learner (other init, no optimizer yet) given the checkpoint.
        var fresh = TinyLearner(99);
        Assert.Null(fresh.Opt);
        fresh.Load(path);
        Assert.NotNull(fresh.Opt);
        fresh.FitOneCycle(2, 1e-2f);
        Assert.Equal(uninterrupted, Losses(fresh));
        var weights = Snapshot(fresh);
        foreach (var (k, v) in finalWeights) Assert.Equal(v, weights[k]);
    }

    [Fact]
    public void WithoutTheOptimizerStateTheRunDiverges()
    {
        // The control for the test above: loading only the weights must NOT reproduce the run, so the
        // optimizer state in the file is what makes it exact.
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = TinyLearner(1);
        learn.Fit(1, 1e-2f);
        learn.Save(path);
        learn.Fit(1, 1e-2f);
        var uninterrupted = Losses(learn);
        var fresh = TinyLearner(99);
        fresh.Load(path, withOpt: false);
        fresh.Fit(1, 1e-2f);
        Assert.Equal(uninterrupted[0], Losses(fresh)[0]);   // same weights: the first loss agrees
        Assert.NotEqual(uninterrupted, Losses(fresh));      // fresh moments: the later ones do not
    }

    [Fact]
    public void SgdMomentumIsSavedUnderTorchNamesAndRestored()
    {
        using var dir = new TempDir();
        var path = dir.File("sgd.safetensors");
        Func<IEnumerable<ParamGroup>, float, Optimizer> sgd = (ps, lr) => new SGD(ps, lr, momentum: 0.9f, weightDecay: 1e-4f);
        var learn = TinyLearner(3, sgd);
        learn.Fit(1, 0.05f);
        learn.Save(path);
        var meta = new Dictionary<string, string>();
        var file = SafeTensors.Load(path, metadata: meta);
        Assert.Equal("SGD", meta["opt.type"]);
        Assert.Contains("\"nesterov\":\"false\"", meta["opt.settings"]);
        Assert.Contains("\"weight_decay\":0.0001", meta["opt.param_groups"]);
        Assert.Contains("\"params\":[\"0.weight\",\"1.weight\",\"1.bias\",", meta["opt.param_groups"]);
        var buf = file["opt.state.0.weight.momentum_buffer"];
        Assert.Equal(learn.Opt!.GetState(learn.Model.NamedParameters().First().Value)["momentum_buffer"].ToArray(), buf.ToArray());
        Assert.Equal(learn.Model.StateDict()["1.running_var"].ToArray(), file["model.1.running_var"].ToArray());
        Assert.Equal(4, file["model.1.num_batches_tracked"].ToInt32Array()[0]);

        learn.Fit(1, 0.05f);
        var uninterrupted = Losses(learn);
        var fresh = TinyLearner(8, sgd);
        fresh.Load(path);
        fresh.Fit(1, 0.05f);
        Assert.Equal(uninterrupted, Losses(fresh));
    }

    [Fact]
    public void AdamStateHoldsTorchKeysAndTheStepCount()
    {
        using var dir = new TempDir();
        var path = dir.File("adam.safetensors");
        var learn = TinyLearner(1);
        learn.Fit(1, 1e-3f);   // 4 batches
        learn.Save(path);
        var file = SafeTensors.Load(path);
        Assert.Equal(4, file["opt.state.14.bias.step"].ToInt32Array()[0]);
        var p = learn.Model.NamedParameters().Single(n => n.Name == "14.bias").Value;
        Assert.Equal(learn.Opt!.GetState(p)["exp_avg_sq"].ToArray(), file["opt.state.14.bias.exp_avg_sq"].ToArray());
        Assert.True(file["opt.state.14.bias.exp_avg_sq"].ToArray().All(v => v > 0));
    }

    [Fact]
    public void ATruncatedCheckpointIsAClearErrorAndChangesNothing()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = TinyLearner(1);
        learn.Fit(1, 1e-2f);
        learn.Save(path);
        var bytes = File.ReadAllBytes(path);
        var cut = dir.File("cut.safetensors");
        File.WriteAllBytes(cut, bytes[..(bytes.Length - 100)]);
        var other = TinyLearner(7);
        var before = Snapshot(other);
        var e = Assert.Throws<NativeCnnException>(() => other.Load(cut));
        Assert.Contains("cut.safetensors", e.Message);
        Assert.Contains("run past the end", e.Message);
        Assert.Equal(before, Snapshot(other));
        Assert.Null(other.Opt);

        File.WriteAllBytes(cut, bytes[..5]);
        Assert.Contains("truncated", Assert.Throws<NativeCnnException>(() => other.Load(cut)).Message);
    }

    [Fact]
    public void ForeignOrMismatchedCheckpointsAreRefusedBeforeAnythingChanges()
    {
        using var dir = new TempDir();
        var plain = dir.File("plain.safetensors");
        var learn = TinyLearner(1);
        SafeTensors.Save(plain, learn.Model.StateDict());
        Assert.Contains("not written by Checkpoint.Save", Assert.Throws<NativeCnnException>(() => learn.Load(plain)).Message);

        var sgdPath = dir.File("sgd.safetensors");
        var sgd = TinyLearner(2, (ps, lr) => new SGD(ps, lr, momentum: 0.9f));
        sgd.Fit(1, 0.01f);
        sgd.Save(sgdPath);
        learn.Fit(1, 0.01f);
        var before = Snapshot(learn);
        var e = Assert.Throws<NativeCnnException>(() => learn.Load(sgdPath));
        Assert.Contains("SGD state but the learner's optimizer is AdamW", e.Message);
        Assert.Equal(before, Snapshot(learn));
        learn.Load(sgdPath, withOpt: false);   // the weights alone are fine
        Assert.Equal(Snapshot(sgd), Snapshot(learn));

        // Another architecture's weights: every mis-shaped key is named.
        var wide = new Learner(learn.Data, Architectures.Build("mnist_cnn", new ArchArgs(1, 5), new Rng(1)), (p, y) => F.CrossEntropy(p, y));
        var e2 = Assert.Throws<NativeCnnException>(() => wide.Load(sgdPath, withOpt: false));
        Assert.Contains("14.weight: expected shape (5, 128), got (3, 128)", e2.Message);
    }

    [Fact]
    public void SavingOverACheckpointReplacesItWholeAndLeavesNoTemporaryFile()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = TinyLearner(1);
        learn.Save(path);
        var first = File.ReadAllBytes(path);
        learn.Fit(1, 1e-2f);
        learn.Save(path);
        Assert.NotEqual(first, File.ReadAllBytes(path));
        Assert.Equal(new[] { "ck.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        var fresh = TinyLearner(5);
        fresh.Load(path);
        Assert.Equal(Snapshot(learn), Snapshot(fresh));

        // A write that dies halfway: the previous file stays as it was, the partial one is gone.
        var saved = File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(saved.AsSpan(0, saved.Length / 2));
            throw new InvalidOperationException("killed");
        }));
        Assert.Equal(saved, File.ReadAllBytes(path));
        Assert.Equal(new[] { "ck.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ACheckpointCarriesTheBundleSettingsWhenTheyAreKnown()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        TinyLearner(1).Save(path, withOpt: false);
        var meta = new Dictionary<string, string>();
        var tensors = SafeTensors.Load(path, metadata: meta);
        Assert.DoesNotContain(tensors.Keys, k => k.StartsWith("opt.", StringComparison.Ordinal));
        Assert.False(meta.ContainsKey("opt.type"));
        var info = BundleInfo.FromMetadata(meta, path);
        Assert.Equal(("mnist_cnn", 1, 3), (info.Arch, info.Args.InChannels, info.Args.Classes));
        Assert.Equal(new[] { "a", "b", "c" }, info.Classes);
        Assert.Equal(new[] { 0.3f }, info.Stats.Std);
        Assert.Equal((8, 8), info.Size);
    }

    private sealed class Snapshots : Callback
    {
        public override int Order => 30;
        public List<Dictionary<string, float[]>> PerEpoch { get; } = new();
        public override void AfterEpoch(Learner learn) => PerEpoch.Add(Snapshot(learn));
    }

    [Fact]
    public void SaveModelCallbackKeepsTheBestEpochAndLoadsItBack()
    {
        using var dir = new TempDir();
        var path = dir.File("best.safetensors");
        var learn = TinyLearner(1);
        var snaps = new Snapshots();
        var save = new SaveModelCallback(path, "valid_loss", loadBestAtEnd: true);
        learn.Fit(5, 0.05f, save, snaps);
        var losses = learn.Recorder.ValidLosses;
        int best = losses.IndexOf(losses.Min());
        Assert.Equal(best, save.BestEpoch);
        Assert.Equal(losses[best], save.Best);
        Assert.Equal(snaps.PerEpoch[best], Snapshot(learn));   // loaded back at the end
        var fresh = TinyLearner(9);
        fresh.Load(path);
        Assert.Equal(snaps.PerEpoch[best], Snapshot(fresh));
        // The control: the last epoch is not the best one here (else the test could not tell them apart).
        Assert.NotEqual(losses.Count - 1, best);

        // A metric where higher is better, saved every epoch: the last file holds the last epoch, optimizer included.
        var every = dir.File("every.safetensors");
        var learn2 = TinyLearner(1);
        var snaps2 = new Snapshots();
        var saveEvery = new SaveModelCallback(every, "accuracy", everyEpoch: true);
        learn2.Fit(2, 0.05f, saveEvery, snaps2);
        var fresh2 = TinyLearner(9);
        fresh2.Load(saveEvery.Written[^1]);
        Assert.Equal(snaps2.PerEpoch[^1], Snapshot(fresh2));

        Assert.Contains("'f1'", Assert.Throws<NativeCnnException>(() => TinyLearner(1).Fit(1, 0.01f, new SaveModelCallback(path, "f1"))).Message);
    }
}
