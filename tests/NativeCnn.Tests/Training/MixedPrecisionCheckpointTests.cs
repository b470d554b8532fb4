// Checkpoints of a mixed-precision learner (ToFp16): the file holds the float32 master weights under
// the model's names and the loss scaler's state, and resuming repeats the uninterrupted run bit for
// bit, in the same learner and in a fresh one. (Saving used to fail here: the optimizer steps the
// masters, which are not the model's parameters; so did `train --fp16 --out`.) Export bundles of such
// a learner hold the float32 masters too, and predict; the lr finder gives the masters back as they were.
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class MixedPrecisionCheckpointTests
{
    // a small growth interval, so the scale grows during the test and the clean-step count matters
    private static Learner Fp16Learner(ulong seed) => CheckpointTests.TinyLearner(seed).ToFp16(initScale: 1024f, growthInterval: 3);

    /// <summary>Every parameter's saved tensor (looked up by its model name) is float32 and equals its master.</summary>
    private static void AssertHoldsTheMasters(Learner learn, Func<string, Tensor> saved)
    {
        var mp = learn.MixedPrecision()!;
        foreach (var (name, p) in learn.Model.NamedParameters())
        {
            Assert.Equal(DType.Float32, saved(name).DType);
            Assert.Equal(mp.MasterOf(p)!.ToArray(), saved(name).ToArray());
        }
    }

    [Fact]
    public void TheFileHoldsTheFloat32MastersAndTheLossScalerState()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = Fp16Learner(1);
        learn.Fit(1, 1e-2f);   // 4 clean steps: the scale doubled once (3 steps), one step counted since
        var mp = learn.MixedPrecision()!;
        Assert.Equal(2048f, mp.Scaler.Scale);
        Assert.Equal(1, mp.Scaler.CleanSteps);
        learn.Save(path);

        var meta = new Dictionary<string, string>();
        var file = SafeTensors.Load(path, null, meta);
        Assert.Equal("2048", meta["mixed_precision.loss_scale"]);
        Assert.Equal("1", meta["mixed_precision.clean_steps"]);
        AssertHoldsTheMasters(learn, name => file["model." + name]);
        // the masters carry precision the float16 model does not: saving the model would lose it
        Assert.Contains(learn.Model.Parameters(), p => p.DType == DType.Float16 && !mp.MasterOf(p)!.ToArray().SequenceEqual(p.ToArray()));
    }

    [Fact]
    public void ResumingRepeatsTheUninterruptedRunBitForBit()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = Fp16Learner(1);
        learn.FitOneCycle(1, 1e-2f);
        learn.Save(path);
        learn.FitOneCycle(2, 1e-2f);
        var uninterrupted = learn.Recorder.Losses.ToArray();
        var scale = learn.MixedPrecision()!.Scaler.Scale;

        // the same learner (float16 model, masters in place), rolled back by the checkpoint...
        learn.Load(path);
        learn.FitOneCycle(2, 1e-2f);
        Assert.Equal(uninterrupted, learn.Recorder.Losses.ToArray());

        // ...and a fresh mixed-precision learner (other init, float32 model, no masters yet)
        var fresh = Fp16Learner(99);
        fresh.Load(path);
        fresh.FitOneCycle(2, 1e-2f);
        Assert.Equal(uninterrupted, fresh.Recorder.Losses.ToArray());
        Assert.Equal(scale, fresh.MixedPrecision()!.Scaler.Scale);
    }

    [Fact]
    public void AMixedPrecisionCheckpointLoadsIntoAFloat32Learner()
    {
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var learn = Fp16Learner(1);
        learn.Fit(1, 1e-2f);
        learn.Save(path);
        var plain = CheckpointTests.TinyLearner(7);
        plain.Load(path);
        foreach (var (name, p) in learn.Model.NamedParameters())
            Assert.Equal(learn.MixedPrecision()!.MasterOf(p)!.ToArray(), plain.Model.NamedParameters().Single(q => q.Name == name).Value.ToArray());
        plain.Fit(1, 1e-2f);   // and it trains on from there, in float32
        Assert.True(plain.Recorder.Losses.All(double.IsFinite));
    }

    [Fact]
    public void AnExportBundleHoldsTheFloat32MastersAndPredicts()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "valid", 1, 3, w: 8, h: 8);
        var files = Directory.GetFiles(Path.Combine(dir.Path, "valid"), "*.png", SearchOption.AllDirectories);
        var learn = Fp16Learner(1);
        learn.Fit(1, 1e-2f);
        var bundle = Path.Combine(dir.Path, "bundle");
        ExportBundle.Save(learn, bundle);
        var file = SafeTensors.Load(Path.Combine(bundle, ExportBundle.WeightsFile), null);
        AssertHoldsTheMasters(learn, name => file[name]);
        var predictions = Predictor.Load(bundle).Predict(files);
        Assert.Equal(files.Length, predictions.Count);
        Assert.All(predictions, q => Assert.Equal(1f, q.Probabilities.Sum(), 1e-5));
    }

    [Fact]
    public void AnOptimizerMadeAfterTheFirstFitStepsTheMasters()
    {
        // the lr finder and Unfreeze make a new optimizer; after a mixed-precision fit the model's
        // parameters are float16, so it must take the masters (it used to fail: "must be float32")
        var learn = Fp16Learner(1);
        learn.Fit(1, 1e-2f);
        learn.Unfreeze();                       // drops the optimizer, as fastai's create_opt
        Assert.Null(learn.Opt);
        var opt = learn.CreateOpt(1e-3f);
        var mp = learn.MixedPrecision()!;
        var masters = learn.Model.Parameters().Select(p => mp.MasterOf(p)!).ToList();
        Assert.Equal(masters, opt.ParamGroups.SelectMany(g => g.Parameters), ReferenceEqualityComparer.Instance);
        learn.Fit(1, 1e-3f);
        Assert.True(learn.Recorder.Losses.All(double.IsFinite));
    }

    [Fact]
    public void TheLrFinderGivesTheMastersBackAtFullPrecision()
    {
        var learn = Fp16Learner(1);
        learn.Fit(1, 1e-2f);
        var mp = learn.MixedPrecision()!;
        var before = learn.Model.Parameters().Select(p => mp.MasterOf(p)!.ToArray()).ToList();
        learn.LrFind(numIt: 6);
        var after = learn.Model.Parameters().Select(p => mp.MasterOf(p)!.ToArray()).ToList();
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);

        // before any fit: the masters the finder's run made end up as the float32 initial weights
        var fresh = Fp16Learner(2);
        var init = fresh.Model.Parameters().Select(p => p.ToArray()).ToList();
        fresh.LrFind(numIt: 6);
        var made = fresh.Model.Parameters().Select(p => fresh.MixedPrecision()!.MasterOf(p)!.ToArray()).ToList();
        for (int i = 0; i < init.Count; i++) Assert.Equal(init[i], made[i]);
    }
}
