// `nativecnn interpret` in-process on 128 embedded digits: it trains, prints the epoch table
// and the most confused pairs (which must agree with the confusion matrix it writes), and writes the
// SVG, the PNG grid and the HTML report; bad command lines exit 2 naming the flag.
using System.Globalization;
using System.Xml.Linq;
using NativeCnn.Tests.Data;
using SixLabors.ImageSharp;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class InterpretCommandTests
{
    [Fact]
    public void TrainsThenWritesConfusionTopLossesAndReport()
    {
        using var dir = new TempDir();
        string outDir = Path.Combine(dir.Path, "out");
        var (code, output, err) = Support.CliRunner.Run("interpret", "--limit", "128", "--epochs", "1", "--bs", "32", "--top", "4", "--device", "cpu", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("epoch  train_loss  valid_loss  accuracy", output);
        Assert.Equal("", err);   // the progress bar stays off: stderr is not a console here

        XNamespace svg = "http://www.w3.org/2000/svg";
        var cells = XElement.Load(Path.Combine(outDir, "confusion.svg")).Elements(svg + "rect").Where(r => (string?)r.Attribute("class") == "cell").ToList();
        Assert.Equal(100, cells.Count);
        var cm = new int[10, 10];
        foreach (var c in cells) cm[int.Parse(c.Attribute("data-row")!.Value), int.Parse(c.Attribute("data-col")!.Value)] = int.Parse(c.Attribute("data-value")!.Value);
        Assert.Equal(128, cm.Cast<int>().Sum());
        // Every printed most-confused line is an off-diagonal cell of the written matrix, largest first.
        var lines = output.Split('\n').SkipWhile(l => !l.StartsWith("most confused")).Skip(1).TakeWhile(l => l.StartsWith("  ")).ToList();
        int offDiagonal = 0;
        for (int i = 0; i < 10; i++) for (int j = 0; j < 10; j++) if (i != j && cm[i, j] > 0) offDiagonal++;
        Assert.Equal(offDiagonal, lines.Count);
        int last = int.MaxValue;
        foreach (var l in lines)
        {
            var p = l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(cm[p[0], p[1]], p[2]);
            Assert.True(p[2] <= last);
            last = p[2];
        }

        using var grid = Image.Load(Path.Combine(outDir, "top_losses.png"));
        Assert.True(grid.Width > 2 * 28 && grid.Height > 2 * 28, $"grid {grid.Width}x{grid.Height}");
        string html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("Confusion matrix", html);
        Assert.Contains("data:image/png;base64,", html);
        Assert.Contains("<td>embedded:mnist10k</td>", html);
    }

    [Fact]
    public void AnImageFolderGivesItsClassNamesToTheOutputs()
    {
        // train/ and valid/ with two classes of 8x8 PNGs: dark squares ("night") and bright ones ("day").
        using var dir = new TempDir();
        foreach (var (split, n) in new[] { ("train", 8), ("valid", 3) })
            foreach (var (cls, level) in new[] { ("night", 20), ("day", 235) })
                for (int i = 0; i < n; i++)
                {
                    using var img = new Image<SixLabors.ImageSharp.PixelFormats.L8>(8, 8);
                    for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) img[x, y] = new((byte)(level + (x + y + i) % 7));
                    img.SaveAsPng(dir.File("d", split, cls, $"{i}.png"));
                }
        string outDir = Path.Combine(dir.Path, "out");
        var (code, output, err) = Support.CliRunner.Run("interpret", "--data", dir.File("d"), "--size", "8", "--epochs", "1", "--bs", "4", "--top", "2", "--device", "cpu", "--out", outDir);
        Assert.True(code == 0, err);
        XNamespace svg = "http://www.w3.org/2000/svg";
        var root = XElement.Load(Path.Combine(outDir, "confusion.svg"));
        // Classes sorted by folder name; the valid set's 3 + 3 images are all counted.
        Assert.Equal(new[] { "day", "night" }, root.Elements(svg + "text").Where(t => (string?)t.Attribute("class") == "row-label").Select(t => t.Value));
        Assert.Equal(6, root.Elements(svg + "rect").Where(r => (string?)r.Attribute("class") == "cell").Sum(c => int.Parse(c.Attribute("data-value")!.Value)));
        using var grid = Image.Load(Path.Combine(outDir, "top_losses.png"));
        Assert.True(grid.Width >= 2 * 96, $"two images magnified to at least 96 px, got width {grid.Width}");
        Assert.Contains("<td>" + dir.File("d") + "</td>", File.ReadAllText(Path.Combine(outDir, "report.html")));
        var e = Support.CliRunner.Run("interpret", "--data", dir.File("d"), "--limit", "4", "--out", outDir);
        Assert.Equal(2, e.Code);
        Assert.Contains("--limit applies to MNIST/IDX data", e.Err);
    }

    [Fact]
    public void AnExportedModelIsInterpretedWithoutTraining()
    {
        using var dir = new TempDir();
        // an MNIST model from `train --out`, interpreted on 200 embedded validation digits
        var run = Path.Combine(dir.Path, "mnist-run");
        var t = Support.CliRunner.Run("train", "--limit", "256", "--epochs", "1", "--bs", "32", "--out", run, "--device", "cpu");
        Assert.True(t.Code == 0, t.Err);
        var outDir = Path.Combine(dir.Path, "interp");
        var (code, output, err) = Support.CliRunner.Run("interpret", "--model", run, "--limit", "200", "--out", outDir, "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("of 200 validation images", output);
        Assert.DoesNotContain("epoch", output);   // nothing trained
        var svg = XDocument.Load(Path.Combine(outDir, "confusion.svg"));
        Assert.Equal(200, svg.Descendants().Where(e => e.Name.LocalName == "rect" && (string?)e.Attribute("class") == "cell").Sum(c => int.Parse(c.Attribute("data-value")!.Value)));
        Assert.True(File.Exists(Path.Combine(outDir, "report.html")));

        // a colour model trained on a class folder, interpreted on its valid/ folder at the model's size and statistics
        var data = Path.Combine(dir.Path, "data");
        Training.ExportBundleTests.WriteTwoClassFolder(data, "train", 8, 1);
        Training.ExportBundleTests.WriteTwoClassFolder(data, "valid", 3, 2);
        var run2 = Path.Combine(dir.Path, "folder-run");
        t = Support.CliRunner.Run("train", "--data", data, "--size", "16", "--epochs", "1", "--bs", "8", "--out", run2, "--device", "cpu");
        Assert.True(t.Code == 0, t.Err);
        (code, output, err) = Support.CliRunner.Run("interpret", "--model", run2, "--data", data, "--out", Path.Combine(dir.Path, "i2"), "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("of 6 validation images", output);

        // the colour model cannot be fed 28x28 grey digits: a clear error
        (code, _, err) = Support.CliRunner.Run("interpret", "--model", run2, "--out", Path.Combine(dir.Path, "i3"), "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("give --data a folder of its images", err);
    }

    [Theory]
    [InlineData(new[] { "interpret", "--limit", "10" }, "--out DIR is required")]
    [InlineData(new[] { "interpret", "--out", "x", "--top", "0" }, "--top expects an integer >= 1, got '0'")]
    [InlineData(new[] { "interpret", "--out", "x", "--bogus", "m" }, "unknown option '--bogus'")]
    public void BadCommandLinesExit2(string[] args, string fragment)
    {
        var (code, _, err) = Support.CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(fragment, err);
    }

    [Fact]
    public void HelpListsTheOutputs()
    {
        var (code, output, _) = Support.CliRunner.Run("interpret", "--help");
        Assert.Equal(0, code);
        Assert.Contains("confusion.svg", output);
        Assert.Contains("interpret", Support.CliRunner.Run("--help").Out);
    }
}
