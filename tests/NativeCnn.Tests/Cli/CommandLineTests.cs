// The command line as a user meets it: `help <command>` prints what `<command> --help` prints; --version
// prints the version and exits 0; a mistyped option or command is one line suggesting the one meant;
// every command's --help lists every option its parser takes (enumerated from Cli.Commands, each one
// checked to be taken, not refused as unknown); response files; shell completion through bash itself.
using System.Diagnostics;
using System.Text.RegularExpressions;
using NativeCnn.Tests.Data;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class CommandLineTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    public static IEnumerable<object[]> CommandNames() => NativeCnn.Cli.Cli.Commands.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void HelpCommandEqualsDashDashHelp(string command)
    {
        var viaHelp = Run("help", command);
        var viaFlag = Run(command, "--help");
        Assert.Equal(0, viaHelp.Code);
        Assert.Equal(0, viaFlag.Code);
        Assert.StartsWith("Usage: nativecnn " + command, viaFlag.Out);
        Assert.Equal(viaFlag.Out, viaHelp.Out);
        Assert.Equal("", viaHelp.Err);
    }

    [Fact]
    public void HelpAloneAndAnUnknownHelpTopic()
    {
        Assert.Equal(Run("--help").Out, Run("help").Out);
        var (code, output, err) = Run("help", "trian");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("unknown command 'trian'; did you mean 'train'?", err);
    }

    [Fact]
    public void VersionIsPrintedWithExitZero()
    {
        var (code, output, err) = Run("--version");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Matches(@"^\d+\.\d+\.\d+\S*$", output.Trim());
        Assert.Equal(NativeCnn.Cli.Cli.Version, output.Trim());
        Assert.Equal(2, Run("--version", "extra").Code);
    }

    [Theory]
    [InlineData(new[] { "train", "--epoch", "3" }, "train: unknown option '--epoch'; did you mean '--epochs'?")]
    [InlineData(new[] { "train", "--lr", "0.1", "--flip-vertical" }, "train: unknown option '--flip-vertical'; did you mean '--flip-vert'?")]
    [InlineData(new[] { "lr-find", "--num-its", "9" }, "lr-find: unknown option '--num-its'; did you mean '--num-it'?")]
    [InlineData(new[] { "lr-find", "--lr", "3" }, "lr-find: unknown option '--lr'")]
    [InlineData(new[] { "show-batch", "--no-flips", "--out", "a.png" }, "show-batch: unknown option '--no-flips'; did you mean '--no-flip'?")]
    [InlineData(new[] { "predict", "--modle", "m" }, "predict: unknown option '--modle'; did you mean '--model'?")]
    [InlineData(new[] { "trian" }, "unknown command 'trian'; did you mean 'train'?")]
    [InlineData(new[] { "lrfind" }, "unknown command 'lrfind'; did you mean 'lr-find'?")]
    [InlineData(new[] { "train", "--max-zoom", "0.5" }, "train: --max-zoom expects a zoom factor from 1 to 10, got '0.5'")]
    [InlineData(new[] { "train", "--extra-channel", "ir" }, "train: --extra-channel expects alpha or data, got 'ir'")]
    [InlineData(new[] { "train", "--no-flip", "--flip-vert" }, "train: --flip-vert adds to the flips that --no-flip turns off")]
    [InlineData(new[] { "finetune", "--model", "m", "--pretrained", "w.pth" }, "finetune: --pretrained is train's")]
    public void MistakesAreOneLineWithTheLikelyMeaning(string[] args, string message)
    {
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, err);
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void EveryCommandsHelpListsEveryOptionItTakes(string command)
    {
        var spec = NativeCnn.Cli.Cli.Commands.Single(c => c.Name == command);
        string help = Run(command, "--help").Out;
        Assert.NotEmpty(spec.Flags);
        foreach (var flag in spec.Flags)
        {
            Assert.Matches(new Regex($@"(?<![\w-]){Regex.Escape(flag)}(?![\w-])"), help);
            // the parser takes it: whatever it says next, it is not "unknown option" for this flag
            var (_, _, err) = Run(command, flag, "x", "--zz-not-an-option");
            Assert.DoesNotContain($"unknown option '{flag}'", err);
        }
        // and the help lists nothing else as an option of its own (completion offers the same list)
        var listed = Regex.Matches(help, @"^\s+(?:-h, )?(--[a-z0-9][a-z0-9-]*)", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Empty(listed.Except(spec.Flags));
        // an option it does not take is refused as unknown
        Assert.Contains("unknown option '--zz-not-an-option'", Run(command, "--zz-not-an-option").Err);
    }

    [Fact]
    public void ResponseFileArgumentsAreRead()
    {
        using var dir = new TempDir();
        var rsp = dir.File("args.rsp");
        File.WriteAllText(rsp, "# the command and a mistake\ntrain\n--epochs 2 \"--bogus flag\"\n");
        var (code, _, err) = Run("@" + rsp);
        Assert.Equal(2, code);
        Assert.Contains("train: unknown option '--bogus flag'", err);
        (code, _, err) = Run("train", "@" + dir.File("missing.rsp"));
        Assert.Equal(2, code);
        Assert.Contains("missing.rsp", err);
        // a file cut off inside a quoted argument is refused, not run with the half-read value
        var truncated = dir.File("truncated.rsp");
        File.WriteAllText(truncated, "--bs 32\n--epochs \"3");
        (code, _, err) = Run("train", "@" + truncated);
        Assert.Equal(2, code);
        Assert.Contains("truncated.rsp", err);
        Assert.Contains("line 2: a double quote is not closed", err);
    }

    [Theory]
    [InlineData(new[] { "tr" }, new[] { "train" })]
    [InlineData(new[] { "" }, new[] { "train", "lr-find", "show-batch", "completion", "--version" })]
    [InlineData(new[] { "train", "--ep" }, new[] { "--epochs" })]
    [InlineData(new[] { "train", "--max-" }, new[] { "--max-rotate", "--max-zoom", "--max-lighting", "--max-warp" })]
    [InlineData(new[] { "lr-find", "--arch", "res" }, new[] { "resnet18", "resnet34" })]
    [InlineData(new[] { "train", "--extra-channel", "" }, new[] { "alpha", "data" })]
    [InlineData(new[] { "help", "show" }, new[] { "show-batch" })]
    public void CompletionOffersCommandsFlagsAndValues(string[] words, string[] expected)
    {
        var (code, output, _) = Run(new[] { "__complete" }.Concat(words).ToArray());
        Assert.Equal(0, code);
        var got = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var e in expected) Assert.Contains(e, got);
        Assert.All(got, g => Assert.StartsWith(words[^1], g));
    }

    [Fact]
    public void CompletionLeavesPathsToTheShellAndSkipsGivenFlags()
    {
        Assert.Equal("", Run("__complete", "train", "--data", "").Out);
        Assert.DoesNotContain("--epochs", Run("__complete", "train", "--epochs", "3", "--e").Out);
        Assert.Equal("", Run("__complete", "frob", "--").Out);
        Assert.Equal(2, Run("completion", "fish").Code);
    }

    [Fact]
    public void BashCompletesThroughTheScript()
    {
        if (!File.Exists("/bin/bash")) return;
        var cli = Path.Combine(AppContext.BaseDirectory, "NativeCnn.Cli.dll");
        Assert.True(File.Exists(cli), cli);
        using var dir = new TempDir();
        var script = dir.File("nativecnn.bash");
        File.WriteAllText(script, Run("completion", "bash").Out);
        // what a user's shell does on "nativecnn train --fl<TAB>" once the script is sourced
        var psi = new ProcessStartInfo("/bin/bash")
        {
            ArgumentList =
            {
                "-c",
                $"nativecnn() {{ dotnet '{cli}' \"$@\"; }}; source '{script}'; " +
                "COMP_WORDS=(nativecnn train --fl); COMP_CWORD=2; _nativecnn_complete; printf '%s\\n' \"${COMPREPLY[@]}\"; " +
                "complete -p nativecnn",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd(), err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("--flip-vert", lines[0]);
        Assert.Contains("-F _nativecnn_complete", lines[^1]);
    }
}
