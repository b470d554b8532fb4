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

    [Theory]
    [InlineData(new[] { "interpret", "--limit", "10" }, "--out DIR is required")]
    [InlineData(new[] { "interpret", "--out", "x", "--top", "0" }, "--top expects an integer >= 1, got '0'")]
    [InlineData(new[] { "interpret", "--out", "x", "--model", "m" }, "unknown option '--model'")]
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
