// Issue #19 points 3, 8 and 12: a single-label run on one class is refused (it used to "learn" to
// loss 0 and accuracy 1); --resume checks the checkpoint's classes, architecture and input against the
// run and names the difference in one short line (it used to rename the classes silently, or print a
// 1,578-character key list); a CSV listing a file twice warns, naming the rows.
using NativeCnn.Data;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class DataAndResumeTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    [Fact]
    public void ASingleLabelRunOnOneClassIsRefused()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        Directory.Delete(Path.Combine(data, "dark"), recursive: true);
        var (code, output, err) = Run([.. OutputSetTests.Tiny(data, 1)]);
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"--data '{data}' has 1 class (bright); single-label classification needs at least 2 classes", err);
    }

    [Fact]
    public void ResumeNamesWhatDiffersFromTheCheckpointInOneShortLine()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        var outDir = Path.Combine(dir.Path, "run");
        var first = Run([.. OutputSetTests.Tiny(data, 1), "--out", outDir]);
        Assert.True(first.Code == 0, first.Err);
        var checkpoint = Path.Combine(outDir, "checkpoint.safetensors");

        // the same run resumes
        var same = Run([.. OutputSetTests.Tiny(data, 2), "--resume", checkpoint]);
        Assert.True(same.Code == 0, same.Err);

        // other class names: "dark" renamed "grey"
        var other = Path.Combine(dir.Path, "other");
        ExportBundleTests.WriteTwoClassFolder(other, "", 4, 1);
        Directory.Move(Path.Combine(other, "dark"), Path.Combine(other, "grey"));
        var (code, output, err) = Run([.. OutputSetTests.Tiny(other, 2), "--resume", checkpoint]);
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Contains($"checkpoint '{checkpoint}' (--resume) does not fit this run: it has classes (bright, dark), not the data's (bright, grey)", err);

        // another architecture and another input size: both named, briefly
        (code, _, err) = Run([.. OutputSetTests.Tiny(data, 2), "--arch", "resnet18", "--size", "12", "--resume", checkpoint]);
        Assert.Equal(1, code);
        Assert.Contains("architecture mnist_cnn, not resnet18 (--arch)", err);
        Assert.Contains("input size 8x8, not 12x12 (--size)", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(err.Length < 400, $"{err.Length} characters: {err}");

        (code, _, err) = Run([.. OutputSetTests.Tiny(data, 2), "--channels", "1", "--resume", checkpoint]);
        Assert.Equal(1, code);
        Assert.Contains("3 input channels, not 1 (--channels)", err);
    }

    [Fact]
    public void ACsvListingAFileTwiceWarnsNamingTheRows()
    {
        using var dir = new TempDir();
        foreach (var n in new[] { "a", "b", "c" }) TestImages.Write(dir.File(n + ".png"), 4, 4, 3, new SixLabors.ImageSharp.Formats.Png.PngEncoder());
        var csv = dir.File("labels.csv");
        File.WriteAllText(csv, "name,label\na.png,cat\nb.png,cat\na.png,dog\nc.png,dog\nb.png,cat\n");
        var warnings = new List<string>();
        var ds = CsvDataset.Load(csv, options: DatasetOptions.Default with { Warn = warnings.Add });
        Assert.Equal(5, ds.Count);
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains($"image '{Path.Combine(dir.Path, "a.png")}' is listed 2 times with different labels (cat / dog): line 2 ('a.png'), line 4 ('a.png')"));
        Assert.Contains(warnings, w => w.Contains($"image '{Path.Combine(dir.Path, "b.png")}' is listed 2 times with the same labels: line 3 ('b.png'), line 6 ('b.png')"));

        File.WriteAllText(csv, "name,label\na.png,cat\nb.png,dog\n");
        warnings.Clear();
        CsvDataset.Load(csv, options: DatasetOptions.Default with { Warn = warnings.Add });
        Assert.Empty(warnings);
    }
}
