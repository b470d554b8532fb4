// The embedding path of issue #20: data from arrays and folders through ImageDataBunch (recording what
// export needs), Export / Predictor.Load / Learner.LoadExported for a custom Module with a factory, the
// same picture predicted alike as a path, Stream, ImageSharp image, pixel array and tensor, cancellation
// that stops within one batch leaving the model and optimizer as after the last step, IProgress reports,
// warnings through an ILogger, and the standard exception types.
using Microsoft.Extensions.Logging;
using NativeCnn.Data;
using NativeCnn.Nn;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Training;

/// <summary>A model the library does not know: conv, relu, global average pool, linear.</summary>
internal sealed class TinyNet : Module
{
    private readonly Conv2d _conv;
    private readonly Linear _fc;
    private readonly AdaptiveAvgPool2d _pool = new(1);

    public TinyNet(int channels, int classes, Rng? rng = null)
    {
        _conv = RegisterModule("conv", new Conv2d(channels, 4, 3, padding: 1, rng: rng));
        _fc = RegisterModule("fc", new Linear(4, classes, rng: rng));
    }

    public override Tensor Forward(Tensor x) => _fc.Forward(_pool.Forward(_conv.Forward(x).Relu()).Reshape(x.Size(0), 4));
}

public class EmbeddingApiTests
{
    // 24 images 2x6x6 in two classes: class 1 bright in channel 0, class 0 bright in channel 1.
    internal static (float[] Pixels, int[] Labels) TwoClassArrays(int n = 24, int seed = 5)
    {
        var rng = new Random(seed);
        var px = new float[n * 2 * 36];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 2;
            for (int c = 0; c < 2; c++)
                for (int p = 0; p < 36; p++)
                    px[(i * 2 + c) * 36 + p] = (c == labels[i] ? 0.2f : 0.8f) + (float)(rng.NextDouble() * 0.1);
        }
        return (px, labels);
    }

    private static Learner ArrayLearner(ulong seed, ImageDataOptions? o = null)
    {
        var (px, y) = TwoClassArrays();
        var data = ImageDataBunch.FromArrays(px, y, 2, 6, 6, new[] { "left", "right" }, (o ?? new ImageDataOptions()) with { BatchSize = 4, Rng = new Rng(seed), Workers = 1 });
        return new Learner(data, new TinyNet(data.Channels, 2, new Rng(seed)), (p, t) => F.CrossEntropy(p, t), new[] { Metrics.Accuracy() });
    }

    [Fact]
    public void ArraysMakeADataBunchThatRecordsWhatExportNeeds()
    {
        var (px, y) = TwoClassArrays();
        var data = ImageDataBunch.FromArrays(px, y, 2, 6, 6, new[] { "left", "right" }, new ImageDataOptions { BatchSize = 4, ValidPct = 25, Rng = new Rng(1), Workers = 1 });
        Assert.Equal(new[] { "left", "right" }, data.Classes);
        Assert.Equal(2, data.Channels);
        Assert.Equal((6, 6), data.Size);
        Assert.Equal(2, data.Stats!.Channels);
        // 18 training images (6 of 24 held out) in batches of 4, the short one dropped; 6 valid in one batch.
        Assert.Equal(4, data.Train.BatchCount);
        Assert.Equal(1, data.Valid.BatchCount);
        var (x, t) = data.Valid.Epoch().Single();
        Assert.Equal(new[] { 6, 2, 6, 6 }, x.ShapeArray);
        // Normalised with the training statistics: each valid image's channel mean, un-normalised, is ~0.25 or ~0.85.
        var v = x.ToArray();
        for (int c = 0; c < 2; c++)
        {
            double m = v.Skip(c * 36).Take(36).Average() * data.Stats.Std[c] + data.Stats.Mean[c];
            Assert.True(Math.Abs(m - 0.25) < 0.03 || Math.Abs(m - 0.85) < 0.03, $"channel {c} mean {m}");
        }
        Assert.Throws<NativeCnnException>(() => ImageDataBunch.FromArrays(px, y.Select(l => l + 1).ToArray(), 2, 6, 6, new[] { "left", "right" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageDataBunch.FromArrays(px, y, 2, 6, 6, new[] { "a", "b" }, new ImageDataOptions { BatchSize = 100 }));
    }

    [Fact]
    public void ACustomModuleExportsAndReloadsWithAFactoryGivingTheSameOutputs()
    {
        using var dir = new TempDir();
        var learn = ArrayLearner(3);
        learn.FitOneCycle(2, 1e-2f);
        var info = learn.Export(dir.Path);
        Assert.True(info.IsCustom);
        Assert.Equal(typeof(TinyNet).FullName, info.Args.Extra[BundleInfo.CustomTypeKey]);
        using (var settings = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, ExportBundle.SettingsFile))))
            Assert.Equal(new[] { 4, 2, 3, 3 }, settings.RootElement.GetProperty("tensors").GetProperty("conv.weight").EnumerateArray().Select(d => d.GetInt32()));

        var (px, _) = TwoClassArrays(4, seed: 9);
        var before = learn.Predict(px, 2, 6, 6);

        // Without a factory, the registry cannot rebuild it: the error says what to do.
        var e = Assert.Throws<ArgumentException>(() => Predictor.Load(dir.Path));
        Assert.Contains("pass a factory", e.Message);
        var loaded = Predictor.Load(dir.Path, factory: i => new TinyNet(i.Channels, i.Classes.Count));
        var after = loaded.Predict(px, 2, 6, 6);
        Assert.Equal(4, after.Count);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(before[i].Class, after[i].Class);
            for (int k = 0; k < 2; k++) Assert.Equal(before[i].Probabilities[k], after[i].Probabilities[k], 6);
        }
        // A factory of another layout is refused, key for key.
        Assert.Throws<NativeCnnException>(() => Predictor.Load(dir.Path, factory: i => new TinyNet(i.Channels, 3)));

        // Back into a Learner on new data: same weights, and training goes on.
        var again = Learner.LoadExported(dir.Path, learn.Data, factory: i => new TinyNet(i.Channels, i.Classes.Count));
        var w0 = learn.Model.StateDict()["conv.weight"].ToArray();
        Assert.Equal(w0, again.Model.StateDict()["conv.weight"].ToArray());
        again.Fit(1, 1e-2f);
        Assert.NotEqual(w0, again.Model.StateDict()["conv.weight"].ToArray());
    }

    [Fact]
    public void ThePictureIsPredictedAlikeAsPathStreamImagePixelsAndTensor()
    {
        using var dir = new TempDir();
        var learn = ArrayLearner(4, new ImageDataOptions { Channels = 3, Size = 6 });
        // Channels = 3: the 2-channel arrays feed a 3-channel model (third channel zeros), as files would.
        var p = learn.AsPredictor();
        var png = dir.File("x.png");
        var rng = new Random(2);
        var rgb = new float[3 * 36];
        using (var img = new Image<Rgb24>(6, 6))
        {
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 6; x++)
                {
                    var b = new[] { (byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256) };
                    img[x, y] = new Rgb24(b[0], b[1], b[2]);
                    for (int c = 0; c < 3; c++) rgb[c * 36 + y * 6 + x] = b[c] / 255f;
                }
            img.SaveAsPng(png);
        }
        var byPath = p.Predict(png);
        using (var s = File.OpenRead(png))
            AssertSame(byPath, p.Predict(s));
        using (var img = Image.Load(png))
            AssertSame(byPath, p.Predict(img));
        AssertSame(byPath, p.Predict(rgb, 3, 6, 6).Single());
        var prepared = p.Prepare(png);
        AssertSame(byPath, p.Predict(Tensor.FromArray(prepared, new[] { 3, 6, 6 })).Single());
        // Batched: two rows, two streams.
        var two = p.Predict(Tensor.FromArray(prepared.Concat(prepared).ToArray(), new[] { 2, 3, 6, 6 }));
        Assert.Equal(new[] { "row 0", "row 1" }, two.Select(r => r.File));
        AssertSame(byPath, two[1]);
        using (var s1 = File.OpenRead(png)) using (var s2 = File.OpenRead(png))
            Assert.All(p.Predict(new[] { s1, s2 }), r => AssertSame(byPath, r));
        Assert.Throws<NativeCnnException>(() => p.Predict(Tensor.Zeros(new[] { 1, 3, 5, 6 })));
        Assert.Throws<NativeCnnException>(() => p.Predict(new float[7], 3, 6, 6));
        Assert.Throws<FileNotFoundException>(() => p.Predict(dir.File("missing.png")));
    }

    private static void AssertSame(Prediction expected, Prediction actual)
    {
        Assert.Equal(expected.Class, actual.Class);
        for (int k = 0; k < expected.Probabilities.Length; k++) Assert.Equal(expected.Probabilities[k], actual.Probabilities[k], 6);
    }

    /// <summary>Cancels after the given number of training steps (as reported through IProgress, synchronously).</summary>
    private sealed class CancelAfter(CancellationTokenSource cts, int steps) : IProgress<FitProgress>
    {
        public List<FitProgress> Reports { get; } = new();
        public void Report(FitProgress value)
        {
            Reports.Add(value);
            if (!value.EpochEnd && value.Step == steps) cts.Cancel();
        }
    }

    /// <summary>Records the weights after every optimizer step.</summary>
    private sealed class StepRecorder : Callback
    {
        public List<float[]> Weights { get; } = new();
        public int Epochs;
        public override void AfterStep(Learner learn) => Weights.Add(learn.Model.StateDict()["fc.weight"].ToArray());
        public override void AfterEpoch(Learner learn) => Epochs++;
        public override void AfterFit(Learner learn) => Epochs += 1000;
    }

    [Fact]
    public void CancellingAFitStopsWithinOneBatchLeavingTheLastCompletedStep()
    {
        var learn = ArrayLearner(6);
        using var cts = new CancellationTokenSource();
        var progress = new CancelAfter(cts, 6);
        var steps = new StepRecorder();
        Assert.ThrowsAny<OperationCanceledException>(() => learn.FitOneCycle(3, 1e-2f, cts.Token, progress, extra: steps));
        // 4 batches per epoch: cancelled after step 6 (epoch 1, batch 2); step 7 never ran.
        Assert.Equal(6, steps.Weights.Count);
        Assert.Equal(6, learn.TrainIter);
        Assert.Equal(1, steps.Epochs);                      // epoch 0 ended; epoch 1 and the fit raised no further event
        Assert.Equal(steps.Weights[^1], learn.Model.StateDict()["fc.weight"].ToArray());
        Assert.Equal(6, progress.Reports.Count(r => !r.EpochEnd));
        var epoch0 = progress.Reports.Single(r => r.EpochEnd);
        Assert.Equal(12, epoch0.TotalSteps);
        Assert.Equal(learn.Recorder.TrainLosses[0], epoch0.TrainLoss);
        Assert.Equal(learn.Recorder.MetricValues[0][0], epoch0.Metrics!["accuracy"]);

        // The optimizer is as after step 6: a learner trained 6 steps uncancelled and then one more Fit step
        // matches the cancelled learner given the same Fit step (same moments, same step count).
        var reference = ArrayLearner(6);
        var refSteps = new StepRecorder();
        using var cts2 = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => reference.FitOneCycle(3, 1e-2f, cts2.Token, new CancelAfter(cts2, 6), extra: refSteps));
        Assert.Equal(steps.Weights[^1], refSteps.Weights[^1]);
        learn.Fit(1, 1e-3f);
        reference.Fit(1, 1e-3f);
        Assert.Equal(reference.Model.StateDict()["fc.weight"].ToArray(), learn.Model.StateDict()["fc.weight"].ToArray());
        // A token cancelled before the fit: nothing runs.
        var untouched = learn.Model.StateDict()["fc.weight"].ToArray();
        Assert.ThrowsAny<OperationCanceledException>(() => learn.Fit(1, 1e-3f, cts.Token));
        Assert.Equal(untouched, learn.Model.StateDict()["fc.weight"].ToArray());
    }

    [Fact]
    public void CancellingLrFindRestoresTheWeights()
    {
        var learn = ArrayLearner(7);
        var w = learn.Model.StateDict()["fc.weight"].ToArray();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => learn.LrFind(cts.Token, numIt: 10));
        Assert.Equal(w, learn.Model.StateDict()["fc.weight"].ToArray());
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel, string)> Messages { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add((logLevel, formatter(state, exception)));
        }
    }

    [Fact]
    public void WarningsGoToTheGivenLoggerAndMissingInputsAreStandardExceptions()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "", 4, 3);
        File.WriteAllText(dir.File("dark", "broken.png"), "not a png");
        var log = new ListLogger();
        var data = ImageDataBunch.FromFolder(dir.Path, new ImageDataOptions { SkipUnreadable = true, Logger = log, BatchSize = 2, Size = 8, Rng = new Rng(1), Workers = 1 });
        Assert.Equal(new[] { "bright", "dark" }, data.Classes);
        Assert.Equal((8, 8), data.Size);
        Assert.Contains(log.Messages, m => m.Item1 == LogLevel.Warning && m.Item2.Contains("broken.png"));
        Assert.Throws<DirectoryNotFoundException>(() => ImageDataBunch.FromFolder(dir.File("nowhere")));
        Assert.Throws<FileNotFoundException>(() => ImageDataBunch.FromCsv(dir.File("none.csv")));
        Assert.Throws<DirectoryNotFoundException>(() => ImageDataBunch.FromIdx(dir.File("noidx")));
        Assert.Throws<FileNotFoundException>(() => ImageDecoder.Decode(dir.File("none.png")));
    }
}
