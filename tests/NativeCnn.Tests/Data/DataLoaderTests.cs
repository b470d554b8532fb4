// DataLoader: every item once per epoch with the right label, seeded shuffling, drop_last,
// augmentation independent of worker count and thread timing, worker errors reaching the consumer
// with the file's name, early exit and cancellation, multi-hot labels, channel adaptation,
// normalisation and progressive resizing. Plus ChannelAdapter and NormStats.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using SixLabors.ImageSharp.Formats.Png;
using Xunit;

namespace NativeCnn.Tests.Data;

public class DataLoaderTests
{
    private static ImageFileDataset Folder(TempDir dir, int perClass = 5, int channels = 3, DatasetOptions? options = null)
    {
        var enc = ImageDecoderTests.Encoder("png", channels);
        foreach (var cls in new[] { "a", "b" })
            for (int i = 0; i < perClass; i++)
                TestImages.Write(dir.File("d", cls, $"{cls}{i}.png"), 6, 6, channels, enc, seed: i + (cls == "b" ? 50 : 0));
        return FolderDataset.FromClassFolders(dir.File("d"), options);
    }

    private static DataLoaderOptions Opts(int bs = 4, bool shuffle = false, bool train = false, int workers = 2) =>
        new() { BatchSize = bs, Shuffle = shuffle, Train = train, Workers = workers };

    [Fact]
    public void EveryItemOnceWithItsLabelAndPixels()
    {
        using var dir = new TempDir();
        var ds = Folder(dir);
        var loader = new DataLoader(ds, new ImageTransform(6, 6), Opts(), new Rng(1));
        var batches = loader.Epoch().ToList();
        Assert.Equal(3, batches.Count);
        Assert.Equal(new[] { 4, 3, 6, 6 }, batches[0].X.ShapeArray);
        Assert.Equal(new[] { 2, 3, 6, 6 }, batches[2].X.ShapeArray);
        Assert.Equal(Enumerable.Range(0, 10), batches.SelectMany(b => b.Indices));
        foreach (var b in batches)
        {
            var x = b.X.ToArray();
            var y = b.Y.ToInt32Array();
            for (int r = 0; r < b.Indices.Length; r++)
            {
                Assert.Equal(ds[b.Indices[r]].Labels[0], y[r]);
                var img = ds.Load(b.Indices[r]);
                Assert.Equal(img.Pixels, x.AsSpan(r * 108, 108).ToArray());
            }
        }
        var dropped = new DataLoader(ds, new ImageTransform(6, 6), Opts() with { DropLast = true }, new Rng(1));
        Assert.Equal(2, dropped.Epoch().Count());
        Assert.Equal(2, dropped.BatchCount);
    }

    [Fact]
    public void ShuffleIsSeededAndChangesPerEpoch()
    {
        using var dir = new TempDir();
        var ds = Folder(dir);
        int[] Order(DataLoader l) => l.Epoch().SelectMany(b => b.Indices).ToArray();
        var l1 = new DataLoader(ds, new ImageTransform(6, 6), Opts(shuffle: true), new Rng(42));
        var l2 = new DataLoader(ds, new ImageTransform(6, 6), Opts(shuffle: true), new Rng(42));
        var e1 = Order(l1);
        Assert.Equal(e1, Order(l2));
        Assert.Equal(Enumerable.Range(0, 10), e1.Order());
        Assert.NotEqual(e1, Order(l1));
    }

    [Fact]
    public void AugmentationDependsOnlyOnSeedEpochAndItemNotOnWorkers()
    {
        using var dir = new TempDir();
        var ds = Folder(dir);
        var tf = new ImageTransform(5, 5, augment: new AugmentOptions { FlipVert = true });
        float[] Run(int workers, int prefetch) =>
            new DataLoader(ds, tf, Opts(bs: 3, train: true, workers: workers) with { Prefetch = prefetch }, new Rng(9))
                .Epoch().SelectMany(b => b.X.ToArray()).ToArray();
        var one = Run(1, 1);
        Assert.Equal(one, Run(4, 3));
        Assert.NotEqual(one, new DataLoader(ds, tf, Opts(bs: 3, train: true), new Rng(10)).Epoch().SelectMany(b => b.X.ToArray()).ToArray());
        var l = new DataLoader(ds, tf, Opts(bs: 3, train: true), new Rng(9));
        var e0 = l.Epoch().SelectMany(b => b.X.ToArray()).ToArray();
        var e1 = l.Epoch().SelectMany(b => b.X.ToArray()).ToArray();
        Assert.Equal(one, e0);
        Assert.NotEqual(e0, e1);
    }

    [Fact]
    public void WorkerErrorReachesTheConsumerNamingTheFile()
    {
        using var dir = new TempDir();
        var ds = Folder(dir);
        // Corrupted after the dataset checked its headers: found at first read.
        string victim = ds[6].Path;
        File.WriteAllBytes(victim, File.ReadAllBytes(victim)[..60]);
        var loader = new DataLoader(ds, new ImageTransform(6, 6), Opts(bs: 2), new Rng(1));
        var e = Assert.Throws<NativeCnnException>(() => loader.Epoch().ToList());
        Assert.Contains(victim, e.Message);
        // The loader is usable again afterwards (workers stopped, not stuck).
        Assert.Throws<NativeCnnException>(() => loader.Epoch().ToList());

        var warnings = new List<string>();
        var skipping = new DataLoader(ds, new ImageTransform(6, 6), Opts(bs: 4) with { SkipUnreadable = true, Warn = m => { lock (warnings) warnings.Add(m); } }, new Rng(1));
        var batches = skipping.Epoch().ToList();
        Assert.Equal(9, batches.Sum(b => b.Indices.Length));
        Assert.DoesNotContain(6, batches.SelectMany(b => b.Indices));
        Assert.Equal(3, batches[1].X.ShapeArray[0]);
        Assert.Equal(1, skipping.SkippedItems);
        Assert.Contains(victim, Assert.Single(warnings));
    }

    [Fact]
    public void EarlyExitAndCancellationStopTheEpoch()
    {
        using var dir = new TempDir();
        var ds = Folder(dir);
        var loader = new DataLoader(ds, new ImageTransform(6, 6), Opts(bs: 2), new Rng(1));
        foreach (var b in loader.Epoch()) { Assert.Equal(2, b.Indices.Length); break; }
        Assert.Equal(5, loader.Epoch().Count());
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => loader.Epoch(cancel: cts.Token).ToList());
        Assert.Equal(5, loader.Epoch().Count());
        // Two epochs at once on one loader would share its buffers: refused.
        using var first = loader.Epoch().GetEnumerator();
        first.MoveNext();
        Assert.Throws<NativeCnnException>(() => loader.Epoch().GetEnumerator().MoveNext());
    }

    [Fact]
    public void MultiLabelYieldsMultiHot()
    {
        using var dir = new TempDir();
        var enc = new PngEncoder { ColorType = PngColorType.Rgb };
        for (int i = 0; i < 3; i++) TestImages.Write(dir.File($"p{i}.png"), 4, 4, 3, enc);
        File.WriteAllText(dir.File("l.csv"), "n,t\np0.png,x z\np1.png,y\np2.png,z y x\n");
        var ds = CsvDataset.Load(dir.File("l.csv"), new CsvOptions { MultiLabel = true });
        var b = new DataLoader(ds, new ImageTransform(4, 4), Opts(bs: 3), new Rng(1)).Epoch().Single();
        Assert.Equal(new[] { 3, 3 }, b.Y.ShapeArray);
        Assert.Equal(new float[] { 1, 0, 1, 0, 1, 0, 1, 1, 1 }, b.Y.ToArray());
    }

    [Fact]
    public void GreyFeedsAThreeChannelModelAndNormalisationApplies()
    {
        using var dir = new TempDir();
        var ds = Folder(dir, perClass: 1, channels: 1);
        var norm = new NormStats(new[] { 0.5f, 0.25f, 0f }, new[] { 0.5f, 0.25f, 2f });
        var b = new DataLoader(ds, new ImageTransform(6, 6), Opts(bs: 2) with { Normalize = norm }, new Rng(1)).Epoch().Single();
        var x = b.X.ToArray();
        var g = ds.Load(0).Pixels;
        for (int p = 0; p < 36; p++)
        {
            Assert.Equal((g[p] - 0.5f) / 0.5f, x[p], 5);
            Assert.Equal((g[p] - 0.25f) / 0.25f, x[36 + p], 5);
            Assert.Equal(g[p] / 2f, x[72 + p], 5);
        }
        Assert.Throws<NativeCnnException>(() => new DataLoader(ds, new ImageTransform(6, 6), Opts() with { Normalize = NormStats.Mnist }));
    }

    [Fact]
    public void ProgressiveResizingChangesTheSizeOfLaterEpochs()
    {
        using var dir = new TempDir();
        var ds = Folder(dir, perClass: 2);
        var loader = new DataLoader(ds, new ImageTransform(3, 3, ResizeMethod.Squish), Opts(bs: 4, train: true), new Rng(1));
        Assert.Equal(new[] { 4, 3, 3, 3 }, loader.Epoch().First().X.ShapeArray);
        loader.Resize(6, 6);
        var big = loader.Epoch(epoch: 0).First();
        Assert.Equal(new[] { 4, 3, 6, 6 }, big.X.ShapeArray);
        Assert.Throws<NativeCnnException>(() => loader.Resize(0, 6));
    }

    [Fact]
    public void ChannelAdapterConversions()
    {
        var two = new DecodedImage(new float[] { 0.2f, 0.4f, 0.6f, 1.0f }, 2, 1, 2);
        Assert.Equal(new float[] { 0.2f, 0.4f, 0.6f, 1.0f, 0, 0 }, ChannelAdapter.Adapt(two, 3).Pixels);
        var mean = ChannelAdapter.Adapt(two, 3, TwoChannelFill.Mean).Pixels;
        Assert.Equal(0.4f, mean[4], 6);
        Assert.Equal(0.7f, mean[5], 6);
        var rgba = new DecodedImage(new float[] { 1, 0, 0, 0.5f }, 4, 1, 1);
        Assert.Equal(new float[] { 1, 0, 0 }, ChannelAdapter.Adapt(rgba, 3).Pixels);
        Assert.Equal(0.299f, ChannelAdapter.Adapt(rgba, 1).Pixels[0], 6);
        var e = Assert.Throws<NativeCnnException>(() => ChannelAdapter.Adapt(rgba, 2, name: "f.png"));
        Assert.Contains("'f.png' has 4 channels", e.Message);
    }

    [Fact]
    public void NormStatsComputedSavedAndChecked()
    {
        using var dir = new TempDir();
        var ds = Folder(dir, perClass: 2);
        var stats = NormStats.Compute(ds, 3);
        double m = 0, sq = 0; long n = 0;
        for (int i = 0; i < ds.Count; i++)
        {
            var p = ds.Load(i).Pixels;
            for (int k = 36; k < 72; k++) { m += p[k]; sq += (double)p[k] * p[k]; n++; }
        }
        m /= n;
        Assert.Equal(m, stats.Mean[1], 5);
        Assert.Equal(Math.Sqrt(sq / n - m * m), stats.Std[1], 4);
        // Saved with a model's weights in the safetensors metadata, read back bit for bit.
        string file = dir.File("model.safetensors");
        NativeCnn.IO.SafeTensors.Save(file, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(new float[] { 1, 2 }) }, stats.ToMetadata(ds.Classes));
        var meta = new Dictionary<string, string>();
        NativeCnn.IO.SafeTensors.Load(file, metadata: meta);
        var back = NormStats.FromMetadata(meta, file);
        Assert.Equal(stats.Mean, back.Mean);
        Assert.Equal(stats.Std, back.Std);
        Assert.Equal(new[] { "a", "b" }, NormStats.ClassesFromMetadata(meta, file));
        Assert.Equal(new[] { 0.485f, 0.456f, 0.406f }, NormStats.ImageNet.Mean);
        Assert.Throws<NativeCnnException>(() => new NormStats(new[] { 0f }, new[] { 0f }));
        Assert.Contains("m.st", Assert.Throws<NativeCnnException>(() => NormStats.FromMetadata(new Dictionary<string, string>(), "m.st")).Message);
        Assert.Throws<NativeCnnException>(() => NormStats.FromMetadata(new Dictionary<string, string> { ["norm.mean"] = "x", ["norm.std"] = "1" }, "m.st"));
    }

    [Fact]
    public void EmbeddedMnistThroughTheLoaderWithItsStatistics()
    {
        var train = Mnist.LoadEmbedded().Train.Take(64);
        var src = new IdxImageSource(train);
        Assert.Equal(10, src.Classes.Count);
        var loader = new DataLoader(src, new ImageTransform(28, 28), new DataLoaderOptions { BatchSize = 32, Channels = 1, Normalize = NormStats.Mnist }, new Rng(1));
        var batches = loader.Epoch().ToList();
        Assert.Equal(2, batches.Count);
        var x = batches[1].X.ToArray();
        var y = batches[1].Y.ToInt32Array();
        for (int r = 0; r < 32; r++)
        {
            Assert.Equal(train.Labels[32 + r], y[r]);
            for (int p = 0; p < 784; p += 97)
                Assert.Equal((train.Pixels[(32 + r) * 784 + p] / 255f - 0.1307f) / 0.3081f, x[r * 784 + p], 5);
        }
        // Augmented 3-channel view of the same digits: replicated grey, values stay finite.
        var rgb = new DataLoader(src, new ImageTransform(32, 32, ResizeMethod.Pad), new DataLoaderOptions { BatchSize = 16, Train = true, Channels = 3 }, new Rng(2)).Epoch().First();
        var v = rgb.X.ToArray();
        Assert.Equal(new[] { 16, 3, 32, 32 }, rgb.X.ShapeArray);
        for (int p = 0; p < 1024; p++) Assert.Equal(v[p], v[1024 + p]);
    }

    [Fact]
    public void FourChannelModelsKeepAlphaAndLightingSparesIt()
    {
        using var dir = new TempDir();
        var ds = Folder(dir, perClass: 2, channels: 4);
        var opts = Opts(bs: 4, train: true) with { Channels = 4 };
        var tf = new ImageTransform(6, 6, augment: new AugmentOptions { DoFlip = false, MaxRotate = 0, MaxZoom = 1, MaxWarp = 0, PLighting = 1 });
        var b = new DataLoader(ds, tf, opts, new Rng(4)).Epoch().First();
        Assert.Equal(new[] { 4, 4, 6, 6 }, b.X.ShapeArray);
        var x = b.X.ToArray();
        for (int r = 0; r < 4; r++)
        {
            var img = ds.Load(b.Indices[r]);
            Assert.Equal(img.Pixels.AsSpan(3 * 36, 36).ToArray(), x.AsSpan(r * 144 + 108, 36).ToArray());
            Assert.NotEqual(img.Pixels.AsSpan(0, 36).ToArray(), x.AsSpan(r * 144, 36).ToArray());
        }
    }

    [Fact]
    public void AChannelCountWithNoConversionFailsAtFirstReadNamingTheFile()
    {
        using var dir = new TempDir();
        var ds = Folder(dir, perClass: 1, channels: 4);
        var loader = new DataLoader(ds, new ImageTransform(6, 6), Opts(bs: 2) with { Channels = 2 }, new Rng(1));
        var e = Assert.Throws<NativeCnnException>(() => loader.Epoch().ToList());
        Assert.Contains(".png' has 4 channels; no conversion to the model's 2 channels", e.Message);
    }
}
