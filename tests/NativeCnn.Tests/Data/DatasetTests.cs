// Folder and CSV datasets on files the tests write: layouts, sorted classes, seeded split, and every
// bad input (empty class folder, non-image, corrupt file, missing CSV file, empty label, channels),
// plus the skip-unreadable option with its warning and count. And the embedded MNIST as PNG files.
using NativeCnn.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using Xunit;

namespace NativeCnn.Tests.Data;

public class DatasetTests
{
    private static readonly PngEncoder Rgb = new() { ColorType = PngColorType.Rgb };

    private static void MakeClass(TempDir dir, string split, string cls, int count, int channels = 3)
    {
        for (int i = 0; i < count; i++)
            TestImages.Write(dir.File(split, cls, $"{cls}{i}.png"), 6, 5, channels,
                ImageDecoderTests.Encoder("png", channels), seed: i);
    }

    [Fact]
    public void ImageNetLayoutWithSortedClassesAndTestFolder()
    {
        using var dir = new TempDir();
        MakeClass(dir, "train", "zebra", 3);
        MakeClass(dir, "train", "ant", 2);
        MakeClass(dir, "valid", "ant", 1);
        MakeClass(dir, "valid", "zebra", 1);
        TestImages.Write(dir.File("test", "x.png"), 6, 5, 3, Rgb);
        var (train, valid, test) = FolderDataset.FromImageNetLayout(dir.Path);
        Assert.Equal(new[] { "ant", "zebra" }, train.Classes);
        Assert.Same(train.Classes, valid.Classes);
        Assert.Equal(5, train.Count);
        Assert.Equal(new[] { 0, 0, 1, 1, 1 }, Enumerable.Range(0, 5).Select(i => train[i].Labels[0]));
        Assert.Equal(2, valid.Count);
        Assert.NotNull(test);
        Assert.Equal(1, test!.Count);
        Assert.Empty(test[0].Labels);
        var img = train.Load(2);
        Assert.Equal(TestImages.Value(1, 1, 2, seed: 0) / 255f, img.At(2, 1, 1), 6);
    }

    [Fact]
    public void ValidClassNotInTrainIsAnError()
    {
        using var dir = new TempDir();
        MakeClass(dir, "train", "a", 1);
        MakeClass(dir, "valid", "b", 1);
        var e = Assert.Throws<NativeCnnException>(() => FolderDataset.FromImageNetLayout(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "valid", "b"), e.Message);
        Assert.Contains("not in the model's classes", e.Message);
    }

    [Fact]
    public void SeededSplit()
    {
        using var dir = new TempDir();
        MakeClass(dir, "all", "a", 10);
        MakeClass(dir, "all", "b", 10);
        var ds = FolderDataset.FromClassFolders(Path.Combine(dir.Path, "all"));
        var (t1, v1) = ds.Split(20, new Rng(5));
        var (_, v2) = ds.Split(20, new Rng(5));
        var (_, v3) = ds.Split(20, new Rng(6));
        Assert.Equal(16, t1.Count);
        Assert.Equal(4, v1.Count);
        string Names(ImageFileDataset d) => string.Join(",", Enumerable.Range(0, d.Count).Select(i => d[i].Path));
        Assert.Equal(Names(v1), Names(v2));
        Assert.NotEqual(Names(v1), Names(v3));
        Assert.Empty(Enumerable.Range(0, 4).Select(i => v1[i].Path).Intersect(Enumerable.Range(0, 16).Select(i => t1[i].Path)));
        Assert.Throws<NativeCnnException>(() => ds.Split(120, new Rng(1)));
    }

    [Fact]
    public void EmptyClassFolderAndBadFilesAreNamed()
    {
        using var dir = new TempDir();
        MakeClass(dir, "d", "a", 2);
        Directory.CreateDirectory(Path.Combine(dir.Path, "d", "empty"));
        var e = Assert.Throws<NativeCnnException>(() => FolderDataset.FromClassFolders(Path.Combine(dir.Path, "d")));
        Assert.Contains(Path.Combine(dir.Path, "d", "empty"), e.Message);
        Assert.Contains("no image files", e.Message);

        Directory.Delete(Path.Combine(dir.Path, "d", "empty"));
        string bad = dir.File("d", "a", "bad.png");
        File.WriteAllText(bad, "not an image");
        var e2 = Assert.Throws<NativeCnnException>(() => FolderDataset.FromClassFolders(Path.Combine(dir.Path, "d")));
        Assert.Contains(bad, e2.Message);

        Assert.Contains("does not exist", Assert.Throws<DirectoryNotFoundException>(() => FolderDataset.FromClassFolders(dir.File("none"))).Message);
    }

    [Fact]
    public void SkipUnreadableWarnsAndCounts()
    {
        using var dir = new TempDir();
        MakeClass(dir, "d", "a", 3);
        string bad = dir.File("d", "a", "bad.jpg");
        File.WriteAllBytes(bad, new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3 });
        var warnings = new List<string>();
        var ds = FolderDataset.FromClassFolders(Path.Combine(dir.Path, "d"), new DatasetOptions { SkipUnreadable = true, Warn = warnings.Add });
        Assert.Equal(3, ds.Count);
        Assert.Equal(1, ds.Skipped);
        Assert.Equal(2, warnings.Count);
        Assert.Contains(bad, warnings[0]);
        Assert.Contains("skipped 1 unreadable file(s), kept 3", warnings[1]);
    }

    [Fact]
    public void UnexpectedChannelCountIsNamed()
    {
        using var dir = new TempDir();
        MakeClass(dir, "d", "a", 1, channels: 3);
        MakeClass(dir, "d", "b", 1, channels: 2);
        var opts = new DatasetOptions { AllowedChannels = new[] { 1, 3 } };
        var e = Assert.Throws<NativeCnnException>(() => FolderDataset.FromClassFolders(Path.Combine(dir.Path, "d"), opts));
        Assert.Contains("b0.png", e.Message);
        Assert.Contains("has 2 channels, expected 1 or 3", e.Message);
    }

    [Fact]
    public void CsvSingleAndMultiLabel()
    {
        using var dir = new TempDir();
        for (int i = 0; i < 3; i++) TestImages.Write(dir.File("img", $"p{i}.png"), 4, 4, 3, Rgb, seed: i);
        File.WriteAllText(dir.File("multi.csv"), "image_name,tags\np0,haze primary\np1,clear\np2,primary water clear\n");
        var multi = CsvDataset.Load(dir.File("multi.csv"), new CsvOptions { MultiLabel = true, ImageFolder = dir.File("img"), Suffix = ".png" });
        Assert.True(multi.MultiLabel);
        Assert.Equal(new[] { "clear", "haze", "primary", "water" }, multi.Classes);
        Assert.Equal(new[] { 1, 2 }, multi[0].Labels);
        Assert.Equal(new[] { 2, 3, 0 }, multi[2].Labels);

        File.WriteAllText(dir.File("img", "single.csv"), "name,label\np0.png,cat\n\"p1.png\",\"dog, big\"\n");
        var single = CsvDataset.Load(dir.File("img", "single.csv"));
        Assert.False(single.MultiLabel);
        Assert.Equal(new[] { "cat", "dog, big" }, single.Classes);
        Assert.Equal(1, single[1].Labels[0]);
    }

    [Fact]
    public void CsvErrorsNameTheFileAndRow()
    {
        using var dir = new TempDir();
        TestImages.Write(dir.File("a.png"), 4, 4, 3, Rgb);
        string csv = dir.File("l.csv");
        File.WriteAllText(csv, "name,label\na.png,cat\nmissing.png,dog\n");
        Exception e = Assert.Throws<FileNotFoundException>(() => CsvDataset.Load(csv));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("missing.png", e.Message);

        File.WriteAllText(csv, "name,label\na.png,\n");
        var e2 = Assert.Throws<NativeCnnException>(() => CsvDataset.Load(csv));
        Assert.Contains("line 2", e2.Message);
        Assert.Contains("empty label", e2.Message);

        File.WriteAllText(csv, "name,label\na.png,cat,extra\n");
        Assert.Contains("expected 2 columns", Assert.Throws<NativeCnnException>(() => CsvDataset.Load(csv)).Message);

        File.WriteAllText(csv, "name,label\na.png,bird\n");
        var e3 = Assert.Throws<NativeCnnException>(() => CsvDataset.Load(csv, new CsvOptions { Classes = new[] { "cat", "dog" } }));
        Assert.Contains("'bird'", e3.Message);

        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => CsvDataset.Load(dir.File("no.csv"))).Message);
    }

    [Fact]
    public void EmbeddedMnistRoundTripsThroughPngFiles()
    {
        var mnist = Mnist.LoadEmbedded();
        var train = mnist.Train;
        using var dir = new TempDir();
        int n = 20;
        for (int i = 0; i < n; i++)
        {
            using var img = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(train.Width, train.Height);
            for (int y = 0; y < train.Height; y++)
                for (int x = 0; x < train.Width; x++) img[x, y] = new(train.Pixels[(i * train.Height + y) * train.Width + x]);
            img.Save(dir.File("mnist", train.Labels[i].ToString(), $"{i:D3}.png"), new PngEncoder { ColorType = PngColorType.Grayscale });
        }
        var ds = FolderDataset.FromClassFolders(dir.File("mnist"), new DatasetOptions { AllowedChannels = new[] { 1 } });
        Assert.Equal(n, ds.Count);
        for (int k = 0; k < ds.Count; k++)
        {
            int i = int.Parse(Path.GetFileNameWithoutExtension(ds[k].Path));
            Assert.Equal(train.Labels[i].ToString(), ds.Classes[ds[k].Labels[0]]);
            var img = ds.Load(k);
            Assert.Equal(1, img.Channels);
            for (int p = 0; p < img.Pixels.Length; p++)
                Assert.Equal(train.Pixels[i * train.Height * train.Width + p] / 255f, img.Pixels[p]);
        }
    }
}
