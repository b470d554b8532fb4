// Issue #19 points 9-11: the --out set. Output paths are checked before the work starts (an existing
// file, a path under a file, a folder holding someone else's files, lr-find --out on a folder: each
// used to fail only after the whole run, with raw .NET text); a rerun replaces the set as a whole and
// removes what killed runs left (hidden .tmp files, staging folders); a report that fails costs a
// warning, never the model; 2- and 4-channel data go through every step after training (the
// top-loss grid shows the first 1 or 3 channels and the extra one as its own tile).
using NativeCnn.Data;
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class OutputSetTests
{
    internal static readonly string[] TrainNames = { "checkpoint.safetensors", "metrics.json", "model", "report.html" };

    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    internal static string[] Tiny(string data, int seed) =>
        new[] { "train", "--data", data, "--size", "8", "--epochs", "1", "--bs", "4", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--device", "cpu", "--no-augment" };

    /// <summary>The model/ weights and the checkpoint's model weights: the same keys and values.</summary>
    internal static void AssertOneSet(string outDir)
    {
        var bundle = SafeTensors.Load(Path.Combine(outDir, "model", ExportBundle.WeightsFile));
        var (fromCheckpoint, _) = Checkpoint.Read(Path.Combine(outDir, "checkpoint.safetensors"));
        Assert.Equal(bundle.Keys.Order(StringComparer.Ordinal), fromCheckpoint.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, v) in bundle)
            Assert.True(v.ToArray().AsSpan().SequenceEqual(fromCheckpoint[k].ToArray()), $"{outDir}: '{k}' differs between model/ and the checkpoint");
    }

    /// <summary>Names under <paramref name="dir"/> (recursively) that a finished run must not leave.</summary>
    internal static List<string> Leftovers(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p).StartsWith('.') || p.EndsWith(".tmp", StringComparison.Ordinal)).ToList();

    [Fact]
    public void OutputPathsAreCheckedBeforeAnyEpochRuns()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        string file = dir.File("taken.txt");
        File.WriteAllText(file, "mine");

        var (code, output, err) = Run([.. Tiny(data, 1), "--out", file]);
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);   // refused before the first epoch
        Assert.Contains($"--out '{file}' is a file", err);
        Assert.Equal("mine", File.ReadAllText(file));

        (code, output, err) = Run([.. Tiny(data, 1), "--out", Path.Combine(file, "run")]);
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Contains("cannot be created", err);

        string foreign = Path.Combine(dir.Path, "mine");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "keep me");
        (code, output, err) = Run([.. Tiny(data, 1), "--out", foreign]);
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Contains("holds files that are not a previous run's output (notes.txt)", err);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(foreign, "notes.txt")));

        (code, output, err) = Run("lr-find", "--limit", "64", "--bs", "16", "--device", "cpu", "--out", dir.Path);
        Assert.Equal(1, code);
        Assert.Equal("", output);   // not even the device line: nothing ran
        Assert.Contains($"--out '{dir.Path}' is a folder; expected a file path", err);
        Assert.Empty(Leftovers(dir.Path));
    }

    [Fact]
    public void ARerunReplacesTheWholeSetAndRemovesWhatKilledRunsLeft()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        var outDir = Path.Combine(dir.Path, "run");
        var first = Run([.. Tiny(data, 1), "--out", outDir]);
        Assert.True(first.Code == 0, first.Err);
        AssertOneSet(outDir);
        var before = File.ReadAllBytes(Path.Combine(outDir, "checkpoint.safetensors"));

        // what killed runs leave: an old-style hidden temporary file inside, a staging folder of a dead process beside
        File.WriteAllBytes(Path.Combine(outDir, ".checkpoint.safetensors.0123456789abcdef.tmp"), new byte[1000]);
        int dead = DeadPid();
        var staging = Path.Combine(dir.Path, $".run.nativecnn-{dead}-deadbeef");
        Directory.CreateDirectory(Path.Combine(staging, "model"));
        File.WriteAllBytes(Path.Combine(staging, "model", "model.safetensors"), new byte[10]);

        var second = Run([.. Tiny(data, 2), "--out", outDir]);
        Assert.True(second.Code == 0, second.Err);
        AssertOneSet(outDir);
        Assert.NotEqual(before, File.ReadAllBytes(Path.Combine(outDir, "checkpoint.safetensors")));
        Assert.Equal(TrainNames, Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Leftovers(dir.Path));
    }

    internal static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void AReportThatFailsCostsAWarningNotTheModel()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        var outDir = Path.Combine(dir.Path, "run");
        NativeCnn.Cli.TrainCommand.ReportFault = _ => throw new InvalidOperationException("the plot broke");
        try
        {
            var (code, _, err) = Run([.. Tiny(data, 1), "--out", outDir]);
            Assert.True(code == 0, err);
            Assert.Contains("warning: report.html was not written (InvalidOperationException: the plot broke)", err);
        }
        finally { NativeCnn.Cli.TrainCommand.ReportFault = null; }
        AssertOneSet(outDir);
        Assert.True(File.Exists(Path.Combine(outDir, "metrics.json")));
        Assert.False(File.Exists(Path.Combine(outDir, "report.html")));
        Assert.Empty(Leftovers(dir.Path));
    }

    private static void WriteRgbaClassFolder(string root, int perClass)
    {
        var rng = new Random(4);
        foreach (var (cls, level) in new[] { ("bright", 200), ("dark", 50) })
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            for (int k = 0; k < perClass; k++)
            {
                using var img = new Image<Rgba32>(10, 10);
                for (int y = 0; y < 10; y++)
                    for (int x = 0; x < 10; x++)
                        img[x, y] = new Rgba32((byte)(level + rng.Next(-30, 30)), (byte)(level + rng.Next(-30, 30)), (byte)(level + rng.Next(-30, 30)), (byte)(100 + 10 * x));
                img.SaveAsPng(Path.Combine(root, cls, $"{cls}{k}.png"));
            }
        }
    }

    [Fact]
    public void FourChannelDataGoesThroughEveryStepAfterTraining()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        WriteRgbaClassFolder(data, 6);
        var outDir = Path.Combine(dir.Path, "run");
        var (code, _, err) = Run([.. Tiny(data, 1), "--channels", "4", "--out", outDir]);
        Assert.True(code == 0, err);
        string report = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("<figure class=\"top-loss\"", report);   // the top losses' images, shown (4 channels: RGB and alpha tiles)
        Assert.Contains("<img alt=\"item ", report);
        AssertOneSet(outDir);
        (code, var output, err) = Run("predict", "--model", outDir, "--device", "cpu", Path.Combine(data, "dark", "dark0.png"));
        Assert.True(code == 0, err);
        Assert.StartsWith(Path.Combine(data, "dark", "dark0.png") + "\t", output);
        (code, _, err) = Run("export", "--checkpoint", Path.Combine(outDir, "checkpoint.safetensors"), "--out", Path.Combine(dir.Path, "exported"));
        Assert.True(code == 0, err);
        (code, _, err) = Run("interpret", "--model", outDir, "--data", data, "--device", "cpu", "--out", Path.Combine(dir.Path, "interp"));
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir.Path, "interp", "top_losses.png")));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void TheTopLossGridShowsTheExtraChannelAsItsOwnTile(int channels)
    {
        // one 2x2 item; channel c of pixel p holds (c * 4 + p) / 16
        int shown = channels == 4 ? 3 : 1;
        var image = Enumerable.Range(0, channels * 4).Select(i => i / 16f).ToArray();
        var interp = ClassificationInterpretation.FromPredictions(new double[,] { { 0, 1 } }, new[] { 0 }, new[] { "a", "b" },
                                                                  new Dictionary<int, float[]> { [0] = image }, (channels, 2, 2));
        const int zoom = 10, gap = NativeCnn.Reports.ImageGrid.Gap;
        using var grid = interp.PlotTopLosses(1, cols: 1, zoom: zoom);
        Assert.Equal(2 * 2 * zoom + 2 * gap, grid.Width);   // the tile is twice the image's width
        static byte B(float v) => (byte)Math.Round(v * 255);
        for (int p = 0; p < 4; p++)
        {
            int x = gap + (p % 2) * zoom + zoom / 2, y = gap + (p / 2) * zoom + zoom / 2;
            var left = grid[x, y];
            var want = shown == 3 ? new Rgb24(B(image[p]), B(image[4 + p]), B(image[8 + p])) : new Rgb24(B(image[p]), B(image[p]), B(image[p]));
            Assert.Equal(want, left);
            byte extra = B(image[shown * 4 + p]);
            Assert.Equal(new Rgb24(extra, extra, extra), grid[x + 2 * zoom, y]);
        }
    }
}
