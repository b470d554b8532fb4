// Issue #19 point 7: sizes, counts and shapes from the command line or a bundle are range-checked
// before any arithmetic. `--size 100000` and a bundle whose input says 100000x100000 used to end in
// "internal error (OverflowException)". The enumeration tries every numeric option of every command
// with extreme values: each answer is exit 0, 1 or 2 with one line and never an internal error.
// (The base arguments make each accepted value fail fast after parsing, or run a tiny job.)
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class RangeTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    [Fact]
    public void AHugeSizeIsAUsageErrorNotAnOverflow()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "", 4, 1);
        var (code, _, err) = Run("train", "--data", dir.Path, "--size", "100000", "--epochs", "1", "--bs", "4", "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--size expects a positive integer up to 4096, got '100000'", err);
        // in range one by one, too big together
        (code, _, err) = Run("train", "--data", dir.Path, "--size", "4096", "--channels", "4", "--epochs", "1", "--bs", "6", "--device", "cpu", "--norm", "imagenet");
        Assert.True(code is 1 or 2, err);
        Assert.DoesNotContain("internal error", err);
    }

    [Fact]
    public void ABundleDeclaringAHugeInputIsRefusedNamingIt()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "d", 4, 1);
        var run = Path.Combine(dir.Path, "run");
        var (code, _, err) = Run("train", "--data", Path.Combine(dir.Path, "d"), "--size", "8", "--epochs", "1", "--bs", "4", "--device", "cpu", "--out", run);
        Assert.True(code == 0, err);
        var file = Path.Combine(run, "model", ExportBundle.WeightsFile);
        var meta = new Dictionary<string, string>();
        var state = SafeTensors.Load(file, null, meta);
        foreach (var (key, value, expected) in new[] { ("input.size", "100000x100000", "HxW with integers from 1 to 4096"), ("input.channels", "100000", "an integer from 1 to 4") })
        {
            var bad = new Dictionary<string, string>(meta) { [key] = value };
            SafeTensors.Save(file, state, bad);
            (code, _, err) = Run("predict", "--model", run, "--device", "cpu", Directory.GetFiles(Path.Combine(dir.Path, "d", "dark"))[0]);
            Assert.Equal(1, code);
            Assert.Contains($"model '{file}': metadata '{key}' holds '{value}', expected {expected}", err);
        }
    }

    private static readonly string[] Extremes = { "0", "-1", "1", "4097", "65537", "2147483647", "2147483648", "99999999999999999999", "1e400", "nan", "-inf", "0x10", "" };

    public static IEnumerable<object[]> Options() => new[]
    {
        new object[] { "train", new[] { "--epochs", "--bs", "--size", "--channels", "--limit", "--unfreeze", "--valid-pct", "--lr", "--thresh", "--seed" } },
        new object[] { "finetune", new[] { "--epochs", "--bs", "--limit", "--valid-pct", "--lr", "--thresh", "--seed" } },
        new object[] { "lr-find", new[] { "--start-lr", "--end-lr", "--num-it", "--bs", "--limit", "--seed" } },
        new object[] { "interpret", new[] { "--epochs", "--bs", "--limit", "--size", "--top", "--min-val", "--seed", "--lr" } },
        new object[] { "show-batch", new[] { "--size", "--rows", "--cols", "--seed" } },
        new object[] { "predict", new[] { "--bs" } },
        new object[] { "export", new[] { "--thresh" } },
        new object[] { "bench", new[] { "--reps", "--warmup" } },
    };

    [Theory]
    [MemberData(nameof(Options))]
    public void NoNumericOptionReachesAnInternalError(string command, string[] flags)
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1, w: 8, h: 8);
        string noModel = Path.Combine(dir.Path, "no-model");
        // after parsing, each base fails at once (a missing model, an impossible batch) or runs a tiny job
        string[] Base(string flag) => command switch
        {
            "train" => new[] { "--data", data, "--device", "cpu", "--no-augment", "--norm", "imagenet" }
                .Concat(flag == "--bs" ? new[] { "--epochs", "1", "--size", "8" } : new[] { "--bs", "9999" }).ToArray(),
            "finetune" => new[] { "--model", noModel, "--data", data, "--out", Path.Combine(dir.Path, "ft"), "--device", "cpu" },
            "lr-find" => new[] { "--data", Path.Combine(dir.Path, "no-idx"), "--device", "cpu" },
            "interpret" => new[] { "--model", noModel, "--out", Path.Combine(dir.Path, "interp"), "--device", "cpu" },
            "show-batch" => new[] { "--data", Path.Combine(dir.Path, "no-data"), "--out", Path.Combine(dir.Path, "grid.png") },
            "predict" => new[] { "--model", noModel, "--device", "cpu", Path.Combine(data, "dark", "dark0.png") },
            "export" => new[] { "--checkpoint", Path.Combine(dir.Path, "no.safetensors"), "--out", Path.Combine(dir.Path, "exp") },
            "bench" => new[] { "--cases", "no-such-case", "--device", "cpu" },
            _ => throw new ArgumentException(command),
        };
        foreach (var flag in flags)
            foreach (var value in Extremes)
            {
                var (code, _, err) = Run([command, .. Base(flag), flag, value]);
                string what = $"{command} {flag} '{value}': exit {code}: {err}";
                Assert.True(code is 0 or 1 or 2, what);
                Assert.DoesNotContain("internal error", err);
                if (code != 0) Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
    }
}
