// Issue #19 point 9: kill -9 at random points of a training run's write phase. The CLI is run as a
// child process (the apphost beside the tests) on a tiny model and data, with
// NATIVECNN_TEST_WRITE_PAUSE_MS pausing between the steps of its write phase so that the kill lands
// inside it; after every kill the --out folder must be one consistent set that predict, export and
// --resume load (the same weights in model/ and the checkpoint), and after the next complete run no
// temporary file or folder may be left. Bounded: at most 30 children; at least 20 must be killed.
using System.Diagnostics;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Reliability;

public class KillDuringWriteTests(ITestOutputHelper log)
{
    private const int PauseMs = 40, WantedKills = 20, MaxChildren = 30;

    private static ProcessStartInfo Child(string[] args)
    {
        string dir = AppContext.BaseDirectory, apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? "NativeCnn.Cli.exe" : "NativeCnn.Cli");
        var psi = File.Exists(apphost) ? new ProcessStartInfo(apphost) : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(dir, "NativeCnn.Cli.dll") } };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.UseShellExecute = false;
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        psi.Environment["NATIVECNN_TEST_WRITE_PAUSE_MS"] = PauseMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return psi;
    }

    // The steps the write phase announces (OutputFolder.Pause), each followed by a pause of PauseMs.
    private static readonly string[] Steps = { "start", "model written", "checkpoint written", "metrics written", "switch", "remove the previous set" };

    /// <summary>Runs one child; kills it (SIGKILL) at a random step of its write phase, a random time (up to two
    /// pauses: in the pause or in the work after it) after the step is announced. True when it was killed.</summary>
    private static bool RunAndKill(string[] args, Random rng, List<string> errors, int[] killedAt)
    {
        using var p = new Process { StartInfo = Child(args) };
        using var writing = new ManualResetEventSlim();
        int step = rng.Next(Steps.Length);
        string marker = "nativecnn-test: write phase: " + Steps[step];
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            if (e.Data == marker) writing.Set();
            else if (!e.Data.StartsWith("nativecnn-test:", StringComparison.Ordinal)) lock (errors) errors.Add(e.Data);
        };
        p.OutputDataReceived += (_, _) => { };
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        int delay = rng.Next(0, 2 * PauseMs);
        while (!writing.Wait(100))
            if (p.HasExited) { p.WaitForExit(); return false; }   // failed before writing (errors tells why)
        Thread.Sleep(delay);
        bool killed = !p.HasExited;
        if (killed) p.Kill(entireProcessTree: false);
        p.WaitForExit();
        killed &= p.ExitCode != 0;
        if (killed) killedAt[step]++;
        return killed;
    }

    [Fact]
    public void AKilledWriteAlwaysLeavesOneConsistentSetAndTheNextRunCleansUp()
    {
        if (OperatingSystem.IsWindows()) return;   // kill -9 semantics are POSIX's
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1, w: 10, h: 10);
        var outDir = Path.Combine(dir.Path, "run");
        var image = Directory.GetFiles(Path.Combine(data, "dark"))[0];
        var first = Support.CliRunner.Run([.. OutputSetTests.Tiny(data, 0), "--out", outDir]);
        Assert.True(first.Code == 0, first.Err);

        var rng = new Random(19);
        var errors = new List<string>();
        int kills = 0, children = 0, unchanged = 0, replaced = 0;
        var killedAt = new int[Steps.Length];
        var clock = Stopwatch.StartNew();
        while (kills < WantedKills && children < MaxChildren)
        {
            children++;
            var before = File.ReadAllBytes(Path.Combine(outDir, "checkpoint.safetensors"));
            if (!RunAndKill([.. OutputSetTests.Tiny(data, children), "--out", outDir], rng, errors, killedAt)) continue;
            kills++;
            // one set, whichever: the previous run's or this one's, never a mix
            OutputSetTests.AssertOneSet(outDir);
            if (before.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(outDir, "checkpoint.safetensors")))) unchanged++; else replaced++;
            var predict = Support.CliRunner.Run("predict", "--model", outDir, "--device", "cpu", image);
            Assert.True(predict.Code == 0, $"kill {kills}: predict: {predict.Err}");
            var export = Support.CliRunner.Run("export", "--checkpoint", Path.Combine(outDir, "checkpoint.safetensors"), "--out", Path.Combine(dir.Path, $"exported{kills}"));
            Assert.True(export.Code == 0, $"kill {kills}: export: {export.Err}");
            var resume = Support.CliRunner.Run([.. OutputSetTests.Tiny(data, kills), "--resume", Path.Combine(outDir, "checkpoint.safetensors")]);
            Assert.True(resume.Code == 0, $"kill {kills}: resume: {resume.Err}");
        }
        log.WriteLine($"{kills} kills of {children} children in {clock.Elapsed.TotalSeconds:F1} s: {unchanged} left the previous set, {replaced} the new one; " +
                      $"kills after each step: {string.Join(", ", Steps.Select((s, i) => $"{s} {killedAt[i]}"))}");
        Assert.True(kills >= WantedKills, $"only {kills} of {children} children were killed inside their write phase; stderr: {string.Join(" | ", errors.Take(5))}");

        // the next complete run removes every leftover of the killed ones
        var last = Support.CliRunner.Run([.. OutputSetTests.Tiny(data, 99), "--out", outDir]);
        Assert.True(last.Code == 0, last.Err);
        OutputSetTests.AssertOneSet(outDir);
        Assert.Equal(OutputSetTests.TrainNames, Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(OutputSetTests.Leftovers(dir.Path));
    }
}
