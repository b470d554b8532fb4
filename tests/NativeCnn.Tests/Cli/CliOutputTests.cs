// What `nativecnn train` prints, met the way a user meets it: the real command as a child process (the apphost
// beside the tests). Redirected, stdout is the device line and the epoch table (header + one row per epoch)
// and stderr is empty: no progress bar, no escape sequence. On a terminal (a pseudo-terminal from script(1),
// where it is installed), the bars are drawn and the screen that remains is the same table, each row on a
// clean line, then the master bar's final state. `--version` prints the informational version.
using System.Diagnostics;
using System.Text.RegularExpressions;
using NativeCnn.Tests.Reports;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class CliOutputTests
{
    private static readonly string[] Quick = { "train", "--epochs", "2", "--limit", "256", "--bs", "64", "--seed", "1", "--device", "cpu" };

    private static string Apphost()
    {
        string dir = AppContext.BaseDirectory, apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? "NativeCnn.Cli.exe" : "NativeCnn.Cli");
        Assert.True(File.Exists(apphost), $"the CLI's apphost is not beside the tests: {apphost}");
        return apphost;
    }

    private static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TERM"] = "xterm";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "the child did not finish in 3 minutes");
        return (p.ExitCode, output, err.Result);
    }

    private static readonly Regex Row = new(@"^[01] +\d+\.\d{6} +\d+\.\d{6} +\d\.\d{6} +\d\d:\d\d$");

    [Fact]
    public void RedirectedOutputIsTheDeviceLineAndTheTableAndNothingElse()
    {
        var (code, output, err) = Run(Apphost(), Quick);
        Assert.True(code == 0, err);
        Assert.Equal("", err);
        var lines = output.TrimEnd('\n').Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("device: cpu (", lines[0]);
        Assert.Equal("epoch  train_loss  valid_loss  accuracy  time", lines[1]);
        Assert.Matches(Row, lines[2]);
        Assert.StartsWith("0 ", lines[2]);
        Assert.Matches(Row, lines[3]);
        Assert.StartsWith("1 ", lines[3]);
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\r', output);
    }

    [Fact]
    public void OnATerminalTheBarsAreDrawnAndTheTableRemainsWithTheFinalMasterLine()
    {
        if (OperatingSystem.IsWindows() || !File.Exists("/usr/bin/script")) return;   // no pseudo-terminal to run it in
        string command = string.Join(' ', new[] { Apphost() }.Concat(Quick).Select(a => "'" + a + "'"));
        var (code, raw, err) = Run("/usr/bin/script", new[] { "-qec", command, "/dev/null" });
        Assert.True(code == 0, err + raw);
        Assert.Contains("\u001b[2Kepoch [", raw);        // the master bar was drawn ...
        Assert.Contains("\u001b[2Ktrain [", raw);        // ... over the training phase's bar
        Assert.Contains("\u001b[2Kvalid [", raw);
        var screen = MasterBarTests.Terminal(raw, strict: false);
        Assert.Equal(5, screen.Count);
        Assert.StartsWith("device: cpu (", screen[0]);
        Assert.Equal("epoch  train_loss  valid_loss  accuracy  time", screen[1]);
        Assert.Matches(Row, screen[2]);
        Assert.Matches(Row, screen[3]);
        Assert.Matches(@"^epoch \[#{30}\] 2/2 \d\d:\d\d<00:00$", screen[4]);
    }

    [Fact]
    public void VersionPrintsTheInformationalVersion()
    {
        var (code, output, err) = Run(Apphost(), new[] { "--version" });
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal(NativeCnn.Cli.Cli.Version + "\n", output);
        Assert.Matches(@"^\d+\.\d+\.\d+", output);
    }
}
