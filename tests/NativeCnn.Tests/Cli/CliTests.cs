// The `nativecnn` command run in-process: bad command lines give exit code 2 and one line on stderr
// naming what was given and what was expected; failing runs exit 1 without a stack trace; a tiny
// training run prints the JSON metrics and learns something.
using System.Text.Json;
using NativeCnn.Tests.Data;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    private static void AssertOneLine(string err, params string[] fragments)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.DoesNotContain("   at ", err);
        foreach (var f in fragments) Assert.Contains(f, err);
    }

    [Theory]
    [InlineData(new[] { "train", "--bogus" }, new[] { "'--bogus'", "expected --epochs" })]
    [InlineData(new[] { "train", "--epochs", "abc" }, new[] { "--epochs", "positive integer", "'abc'" })]
    [InlineData(new[] { "train", "--epochs", "0" }, new[] { "--epochs", "'0'" })]
    [InlineData(new[] { "train", "--lr", "fast" }, new[] { "--lr", "positive number", "'fast'" })]
    [InlineData(new[] { "train", "--bs" }, new[] { "--bs needs a value" })]
    [InlineData(new[] { "train", "--seed", "-3" }, new[] { "--seed", "non-negative integer", "'-3'" })]
    [InlineData(new[] { "train", "extra" }, new[] { "unexpected argument 'extra'" })]
    [InlineData(new[] { "train", "--device", "gpu" }, new[] { "--device", "auto, cpu, cuda, cuda:N or simulator", "'gpu'" })]
    [InlineData(new[] { "train", "--device", "cuda:x" }, new[] { "--device", "'cuda:x'" })]
    [InlineData(new[] { "devices", "--all" }, new[] { "devices", "'--all'" })]
    [InlineData(new[] { "frobnicate" }, new[] { "unknown command 'frobnicate'", "expected one of: train" })]
    // every command reads its options the same way (ArgReader): a missing value, and --flag=value on a switch
    [InlineData(new[] { "predict", "--model" }, new[] { "predict: --model needs a value" })]
    [InlineData(new[] { "predict", "--model=/m", "--json=yes", "x.png" }, new[] { "predict: --json takes no value", "'--json=yes'" })]
    [InlineData(new[] { "bench", "--reps=0" }, new[] { "--reps", "'0'" })]
    [InlineData(new[] { "bench", "--quick=1" }, new[] { "bench: --quick takes no value" })]
    [InlineData(new[] { "export", "--out" }, new[] { "export: --out needs a value" })]
    [InlineData(new[] { "interpret", "--top=0", "--out=/tmp/x" }, new[] { "interpret: --top", "'0'" })]
    [InlineData(new[] { "show-batch", "--rows=0", "--out=/tmp/x.png" }, new[] { "show-batch: --rows", "'0'" })]
    [InlineData(new[] { "show-batch", "--no-augment=no" }, new[] { "show-batch: --no-augment takes no value" })]
    public void BadCommandLinesExitWithUsageCode(string[] args, string[] fragments)
    {
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        AssertOneLine(err, fragments);
    }

    [Fact]
    public void MissingDataDirectoryExitsWithFailureCode()
    {
        var (code, _, err) = Run("train", "--data", "/no/such/mnist");
        Assert.Equal(1, code);
        AssertOneLine(err, "'/no/such/mnist' does not exist");
    }

    [Fact]
    public void MalformedIdxFileIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-cli").FullName;
        try
        {
            var images = IdxTests.IdxBytes(new[] { 2, 28, 28 }, new byte[2 * 784]);
            var labels = IdxTests.IdxBytes(new[] { 2 }, new byte[] { 1, 2 });
            File.WriteAllBytes(Path.Combine(dir, "train-images-idx3-ubyte.gz"), IdxTests.Gzip(images));
            File.WriteAllBytes(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), IdxTests.Gzip(labels));
            File.WriteAllBytes(Path.Combine(dir, "valid-images-idx3-ubyte.gz"), IdxTests.Gzip(images[..^10]));
            File.WriteAllBytes(Path.Combine(dir, "valid-labels-idx1-ubyte.gz"), IdxTests.Gzip(labels));
            var (code, _, err) = Run("train", "--data", dir);
            Assert.Equal(1, code);
            AssertOneLine(err, "valid-images-idx3-ubyte.gz", "need 1584 bytes, got 1574 (truncated)");

            // With --verbose the stack trace follows the message.
            (code, _, err) = Run("train", "--data", dir, "--verbose");
            Assert.Equal(1, code);
            Assert.Contains("   at ", err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void HelpIsPrintedWithExitZero()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("nativecnn train", output.Replace("<command>", "train"));
        (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        foreach (var flag in new[] { "--epochs", "--lr", "--bs", "--seed", "--json", "--data", "--limit", "--device", "--verbose" })
            Assert.Contains(flag, output);
        (code, _, var err) = Run();
        Assert.Equal(2, code);
        Assert.Contains("Usage", err);
    }

    [Fact]
    public void TinyTrainingRunPrintsJsonMetricsAboveChance()
    {
        var (code, output, err) = Run("train", "--epochs", "2", "--limit", "512", "--bs", "32", "--lr", "0.01", "--seed", "1", "--json", "--device", "cpu");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output.Trim());
        var root = json.RootElement;
        foreach (var key in new[] { "accuracy", "valid_loss", "train_loss", "seconds", "epochs" })
            Assert.True(root.TryGetProperty(key, out _), $"missing '{key}' in {output}");
        Assert.Equal(2, root.GetProperty("epochs").GetInt32());
        Assert.Equal(512, root.GetProperty("train_images").GetInt32());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        // 32 steps on 512 images: far from converged, but far above chance (accuracy 0.1, loss ln 10 = 2.30).
        Assert.InRange(root.GetProperty("accuracy").GetDouble(), 0.4, 1.0);
        Assert.InRange(root.GetProperty("valid_loss").GetDouble(), 0.0, 1.8);
        // The device line and the table went to stderr: the device, a header and one row per epoch.
        var rows = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, rows.Length);
        Assert.StartsWith("device: cpu (managed CPU backend", rows[0]);
        Assert.StartsWith("epoch", rows[1]);
        Assert.StartsWith("0 ", rows[2]);
        Assert.StartsWith("1 ", rows[3]);
    }
}
