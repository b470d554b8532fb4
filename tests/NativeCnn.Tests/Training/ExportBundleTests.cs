// Export bundles and the Predictor: a bundle rebuilds the model with its classes and statistics, and a
// prediction on an image file equals the trained model's output on the same file in the validation
// loader (same decode, crop, channels and normalisation); defects in a bundle are named.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Training;

public class ExportBundleTests
{
    /// <summary>root/&lt;split&gt;/{bright,dark}/k.png: 20x18 images, bright ~ 0.75, dark ~ 0.25, with noise; grey ones mixed in.</summary>
    internal static void WriteTwoClassFolder(string root, string split, int perClass, int seed, int w = 20, int h = 18)
    {
        var rng = new Random(seed);
        foreach (var (cls, level) in new[] { ("bright", 190), ("dark", 60) })
        {
            var dir = Path.Combine(root, split, cls);
            Directory.CreateDirectory(dir);
            for (int k = 0; k < perClass; k++)
            {
                var path = Path.Combine(dir, $"{cls}{k}.png");
                if (k % 4 == 3)
                {
                    using var g = new Image<L8>(w, h);
                    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) g[x, y] = new L8((byte)(level + rng.Next(-40, 40)));
                    g.SaveAsPng(path);
                    continue;
                }
                using var img = new Image<Rgb24>(w, h);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        img[x, y] = new Rgb24((byte)(level + rng.Next(-40, 40)), (byte)(level + rng.Next(-40, 40)), (byte)(level + rng.Next(-40, 40)));
                img.SaveAsPng(path);
            }
        }
    }

    [Fact]
    public void PredictionsEqualTheModelOnTheValidationLoader()
    {
        using var dir = new TempDir();
        WriteTwoClassFolder(dir.Path, "train", 8, 1);
        WriteTwoClassFolder(dir.Path, "valid", 3, 2);
        var (train, valid, _) = FolderDataset.FromImageNetLayout(dir.Path);
        var stats = NormStats.Compute(train, 3);
        var tf = new ImageTransform(16, 16);
        var opts = new DataLoaderOptions { BatchSize = 8, Channels = 3, Normalize = stats, Workers = 1 };
        var trainLoader = new DataLoader(train, tf, opts with { Shuffle = true, DropLast = true, Train = true }, new Rng(1));
        var validLoader = new DataLoader(valid, tf, opts, new Rng(2));
        var bunch = new DataBunch(new DataLoaderSource(trainLoader), new DataLoaderSource(validLoader))
        {
            Classes = train.Classes, Stats = stats, Channels = 3, Size = (16, 16),
        };
        var model = Architectures.Build("mnist_cnn", new ArchArgs(3, 2), new Rng(3));
        var learn = new Learner(bunch, model, (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
        learn.FitOneCycle(1, 1e-2f);

        var bundle = Path.Combine(dir.Path, "bundle");
        ExportBundle.Save(learn, bundle);
        Assert.True(File.Exists(Path.Combine(bundle, "model.safetensors")));
        using (var settings = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(bundle, "model.json"))))
            Assert.Equal(stats.Mean, settings.RootElement.GetProperty("norm.mean").EnumerateArray().Select(v => v.GetSingle()));

        // The trained model's own probabilities on the validation batch, in file order.
        model.Eval();
        var batch = validLoader.Epoch().Single();
        float[] expected;
        using (new NativeCnn.Autograd.NoGrad()) expected = F.Softmax(model.Forward(batch.X), 1).ToArray();

        var predictor = Predictor.Load(bundle);
        Assert.Equal(new[] { "bright", "dark" }, predictor.Classes);
        Assert.Equal(stats.Mean, predictor.Info.Stats.Mean);
        Assert.Equal(stats.Std, predictor.Info.Stats.Std);
        Assert.Equal((3, (16, 16), "mnist_cnn"), (predictor.Info.Channels, predictor.Info.Size, predictor.Info.Arch));
        var files = Enumerable.Range(0, valid.Count).Select(valid.Describe).ToArray();
        var preds = predictor.Predict(files, batchSize: 4);   // batches of 4: batch size must not matter in Eval
        Assert.Equal(files, preds.Select(p => p.File));
        for (int i = 0; i < files.Length; i++)
        {
            for (int c = 0; c < 2; c++) Assert.Equal(expected[i * 2 + c], preds[i].Probabilities[c], 1e-5);
            int best = expected[i * 2] >= expected[i * 2 + 1] ? 0 : 1;
            Assert.Equal(predictor.Classes[best], preds[i].Class);
            Assert.Equal(new[] { preds[i].Class }, preds[i].Labels);
        }
        // The model must be reloaded, not shared: predicting leaves the original untouched and vice versa.
        Assert.NotSame(model, predictor.Model);
    }

    // Bundles only need the bunch's settings; a DataBunch needs one batch to exist.
    private static readonly List<(Tensor, Tensor)> OneBatch = new() { (Tensor.Zeros(new[] { 1, 1, 28, 28 }), Tensor.FromArray(new[] { 0 })) };

    [Fact]
    public void MnistBundleFeedsAPngDigitLikeTheIdxPipeline()
    {
        using var dir = new TempDir();
        var mnist = Mnist.LoadEmbedded();
        var data = new DataBunch(new ListSource(OneBatch), new ListSource(OneBatch))
        {
            Classes = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray(), Stats = NormStats.Mnist, Channels = 1, Size = (28, 28),
        };
        var model = Architectures.Build("mnist_cnn", new ArchArgs(1, 10), new Rng(4));
        var learn = new Learner(data, model, (p, y) => F.CrossEntropy(p, y));
        ExportBundle.Save(learn, dir.Path);

        // Digit 0 of the valid set as a PNG file, and as the BatchIterator normalises it.
        var png = dir.File("digit.png");
        using (var img = new Image<L8>(28, 28))
        {
            for (int y = 0; y < 28; y++) for (int x = 0; x < 28; x++) img[x, y] = new L8(mnist.Valid.Pixels[y * 28 + x]);
            img.SaveAsPng(png);
        }
        var x0 = new BatchIterator(mnist.Valid.Take(1), 1, shuffle: false).Epoch().Single().X;
        model.Eval();
        float[] expected;
        using (new NativeCnn.Autograd.NoGrad()) expected = F.Softmax(model.Forward(x0), 1).ToArray();
        var p = Predictor.Load(dir.Path).Predict(png);
        for (int c = 0; c < 10; c++) Assert.Equal(expected[c], p.Probabilities[c], 1e-5);
        Assert.Equal(1f, p.Probabilities.Sum(), 1e-5);
    }

    [Fact]
    public void ABundleNeedsKnownDataAndRecordsAPlainModelAsCustom()
    {
        var data = new DataBunch(new ListSource(OneBatch), new ListSource(OneBatch));
        var plain = new Learner(data, SimpleCnn.MnistCnn(), (p, y) => F.CrossEntropy(p, y));
        Assert.Contains("does not record Classes, Stats, Channels, Size", Assert.Throws<NativeCnnException>(() => ExportBundle.Describe(plain)).Message);
        var known = new DataBunch(new ListSource(OneBatch), new ListSource(OneBatch))
        {
            Classes = Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray(), Stats = NormStats.Mnist, Channels = 1, Size = (28, 28),
        };
        var custom = ExportBundle.Describe(new Learner(known, SimpleCnn.MnistCnn(), (p, y) => F.CrossEntropy(p, y)));
        Assert.True(custom.IsCustom);
        Assert.Equal(typeof(NativeCnn.Nn.Sequential).FullName, custom.Args.Extra[BundleInfo.CustomTypeKey]);
        var registry = new Learner(data, Architectures.Build("mnist_cnn", new ArchArgs(1, 10)), (p, y) => F.CrossEntropy(p, y));
        Assert.Contains("does not record Classes, Stats, Channels, Size", Assert.Throws<NativeCnnException>(() => ExportBundle.Describe(registry)).Message);
        Assert.Null(ExportBundle.TryDescribe(registry));
        Assert.Contains("'resnet9000' is not known", Assert.Throws<NativeCnnException>(() => Architectures.Build("resnet9000", new ArchArgs(3, 2))).Message);
    }

    [Fact]
    public void DefectiveBundlesAreNamed()
    {
        using var dir = new TempDir();
        var learn = CheckpointTests.TinyLearner(1);
        ExportBundle.Save(learn, dir.Path);
        var file = Path.Combine(dir.Path, "model.safetensors");
        var meta = new Dictionary<string, string>();
        var weights = SafeTensors.Load(file, metadata: meta);

        // Weights of another shape than the architecture the metadata names.
        var wrong = new Dictionary<string, string>(meta) { ["arch.args"] = "{\"in_channels\":1,\"classes\":4,\"extra\":{}}", ["classes"] = "[\"a\",\"b\",\"c\",\"d\"]" };
        SafeTensors.Save(file, weights, wrong);
        var e = Assert.Throws<NativeCnnException>(() => Predictor.Load(dir.Path));
        Assert.Contains("do not fit architecture 'mnist_cnn'", e.Message);
        Assert.Contains("14.weight: expected shape (4, 128), got (3, 128)", e.Message);

        var noStats = new Dictionary<string, string>(meta);
        noStats.Remove("norm.std");
        SafeTensors.Save(file, weights, noStats);
        Assert.Contains("'norm.std' metadata", Assert.Throws<NativeCnnException>(() => Predictor.Load(dir.Path)).Message);

        // A bundle saved as one file loads from that file.
        var single = dir.File("one", "digits.safetensors");
        ExportBundle.Save(learn, single);
        Assert.True(File.Exists(dir.File("one", "digits.json")));
        Assert.Equal(new[] { "a", "b", "c" }, Predictor.Load(single).Classes);

        Assert.Contains("holds no model.safetensors", Assert.Throws<FileNotFoundException>(() => Predictor.Load(dir.File("empty", "x")[..^2])).Message);
        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => Predictor.Load("/no/such/bundle")).Message);
    }

    /// <summary>A model that records how many threads are inside Forward at once.</summary>
    private sealed class ConcurrencyGauge(int classes) : NativeCnn.Nn.Module
    {
        private int _inside;
        public int MostInside;

        public override Tensor Forward(Tensor x)
        {
            int now = Interlocked.Increment(ref _inside);
            for (int seen = MostInside; now > seen; seen = MostInside) Interlocked.CompareExchange(ref MostInside, now, seen);
            Thread.Sleep(30);   // long enough that unserialised callers overlap
            Interlocked.Decrement(ref _inside);
            return Tensor.Zeros(x.Size(0), classes);
        }
    }

    [Fact]
    public async Task PredictFromSeveralThreadsRunsOneForwardAtATime()
    {
        // A server may call Predict from many threads; the files decode in parallel, but the model
        // runs one batch at a time (a backend is driven by one thread at a time).
        using var dir = new TempDir();
        WriteTwoClassFolder(dir.Path, "valid", 1, 3, w: 8, h: 8);
        var files = Directory.GetFiles(Path.Combine(dir.Path, "valid"), "*.png", SearchOption.AllDirectories);
        var gauge = new ConcurrencyGauge(2);
        var info = new BundleInfo { Arch = "gauge", Args = new ArchArgs(1, 2), Classes = new[] { "a", "b" }, Stats = new NormStats(new[] { 0f }, new[] { 1f }), Channels = 1, Size = (8, 8) };
        var predictor = new Predictor(gauge, info);
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => predictor.Predict(files, batchSize: 1))));
        Assert.All(answers, a => Assert.Equal(files.Length, a.Count));
        Assert.Equal(1, gauge.MostInside);
    }
}
