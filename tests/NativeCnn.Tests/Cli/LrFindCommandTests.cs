// `nativecnn lr-find` in process: help, the JSON suggestions and the CSV series (its lrs follow the
// exponential schedule, its smoothed losses the raw ones), and usage errors with exit code 2.
using System.Globalization;
using System.Text.Json;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class LrFindCommandTests
{
    [Fact]
    public void HelpListsEveryOption()
    {
        var (code, stdout, _) = CliRunner.Run("lr-find", "--help");
        Assert.Equal(0, code);
        foreach (var flag in new[] { "--start-lr", "--end-lr", "--num-it", "--no-stop-div", "--bs", "--seed", "--data", "--limit", "--device", "--out", "--plot", "--json" })
            Assert.Contains(flag, stdout);
        Assert.Contains("lr-find", CliRunner.Run("--help").Out);
    }

    [Fact]
    public void PrintsSuggestionsAsJsonAndWritesTheSeriesAsCsv()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-lrfind-");
        try
        {
            var csvPath = Path.Combine(dir.FullName, "out", "lr.csv");
            var (code, stdout, stderr) = CliRunner.Run("lr-find", "--limit", "256", "--bs", "16", "--num-it", "24", "--start-lr", "1e-5",
                "--end-lr", "1", "--device", "cpu", "--seed", "3", "--out", csvPath, "--plot", Path.Combine(dir.FullName, "lr.svg"), "--json");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            int batches = root.GetProperty("batches").GetInt32();
            Assert.InRange(batches, 2, 24);
            Assert.Equal(24, root.GetProperty("num_it").GetInt32());
            Assert.Equal(256, root.GetProperty("train_images").GetInt32());
            Assert.Contains("suggested lr (steepest descent):", stderr);

            var lines = File.ReadAllLines(csvPath);
            Assert.Equal("lr,smoothed_loss,raw_loss", lines[0]);
            Assert.Equal(batches + 1, lines.Length);
            var rows = lines.Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
            double avg = 0;
            for (int i = 0; i < rows.Count; i++)
            {
                double lr = 1e-5 * Math.Pow(1e5, i / 24.0);
                Assert.Equal(lr, rows[i][0], lr * 1e-12);
                avg = 0.98 * avg + 0.02 * rows[i][2];
                Assert.Equal(avg / (1 - Math.Pow(0.98, i + 1)), rows[i][1], 1e-9);
            }
            // The suggestions are lrs of the series (steepest) and one tenth of one (minimum).
            double steep = root.GetProperty("lr_steep").GetDouble(), min = root.GetProperty("lr_min").GetDouble();
            Assert.Contains(rows, r => r[0] == steep);
            Assert.Contains(rows, r => r[0] / 10 == min);
            // the plot: an SVG with one polyline of the curve (points skipped at the ends only when the run is long enough)
            var svg = System.Xml.Linq.XDocument.Load(Path.Combine(dir.FullName, "lr.svg"));
            Assert.Equal("svg", svg.Root!.Name.LocalName);
            Assert.Contains(svg.Descendants(), e => e.Name.LocalName == "polyline");
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("--num-it 0", "lr-find: --num-it expects a positive integer, got '0'")]
    [InlineData("--start-lr -1", "lr-find: --start-lr expects a positive number such as 1e-7 or 10, got '-1'")]
    [InlineData("--start-lr 1 --end-lr 0.5", "lr-find: --end-lr must be greater than --start-lr (1), got 0.5")]
    [InlineData("--lr 3", "lr-find: unknown option '--lr'")]
    [InlineData("--json=yes", "lr-find: --json takes no value")]
    [InlineData("--out", "lr-find: --out needs a value")]
    public void BadOptionsExitWithTwo(string args, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run(new[] { "lr-find" }.Concat(args.Split(' ')).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Equal("", stdout);
    }
}
