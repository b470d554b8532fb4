// The `nativecnn` command: dispatches sub-commands, prints help (`--help`, `help <command>`), the version
// (`--version`), shell completion (`completion bash|zsh|powershell`, answered by `__complete`), reads
// response files (@FILE), and turns every failure into one line on stderr with an exit code (2: the
// command line was wrong, with the command or option it most likely meant; 1: the run failed, e.g. a
// missing or malformed data file). Must hold: no stack trace reaches the user unless --verbose was given.
using System.Reflection;

namespace NativeCnn.Cli;

/// <summary>A command line that cannot be understood (exit code 2).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}

public static class Cli
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    /// <summary>A sub-command: its name, one-line summary, runner and every flag it takes (for completion and the tests).</summary>
    internal sealed record Command(string Name, string Summary, Func<string[], TextWriter, TextWriter, int> Run, IReadOnlyList<string> Flags);

    /// <summary>The sub-commands, in the order the help lists them.</summary>
    internal static readonly Command[] Commands =
    {
        new("train", "train a model (the MNIST CNN on 10k embedded digits by default) and print each epoch's metrics", TrainCommand.Run, TrainOptions.Flags),
        new("lr-find", "run the learning-rate finder on any model and data train takes and print two suggested learning rates", LrFindCommand.Run, LrFindOptions.Flags),
        new("predict", "classify image files with an exported model", PredictCommand.Run, PredictCommand.Flags),
        new("finetune", "fine-tune an exported model on corrected images sorted into class folders", FinetuneCommand.Run, FinetuneCommand.Flags),
        new("serve", "serve an exported model: web page, JSON API, corrections for finetune, batching, reload", ServeCommand.Run, ServeCommand.Flags),
        new("export", "turn a checkpoint into an export bundle (for predict, finetune and PyTorch)", (a, o, _) => ExportCommand.Run(a, o), ExportCommand.Flags),
        new("interpret", "a model's confusion matrix, top-loss images and an HTML report (an exported model, or mnist_cnn trained first)", InterpretCommand.Run, InterpretCommand.Flags),
        new("show-batch", "write a PNG grid of augmented training images with their labels", ShowBatchCommand.Run, ShowBatchCommand.Flags),
        new("bench", "time the main benchmark cases on this device (beside PyTorch's with --torch)", BenchCommand.Run, BenchCommand.Flags),
        new("devices", "list the devices NativeCnn sees (CPU, CUDA GPUs with why one cannot be used)", (a, o, _) => DevicesCommand.Run(a, o), DevicesCommand.Flags),
        new("completion", "print a shell completion script: completion bash|zsh|powershell (see README)", (a, o, _) => Completion.Script(a, o), Completion.ScriptFlags),
    };

    /// <summary>The version `--version` prints: the assembly's informational version (NuGet version and commit).</summary>
    public static string Version =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Cli).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    public static readonly string Usage =
        "nativecnn - a from-scratch CNN training engine in C#\n" +
        "\n" +
        "Usage: nativecnn <command> [options]\n" +
        "\n" +
        "Commands:\n" +
        string.Concat(Commands.Select(c => $"  {c.Name,-11}{c.Summary}\n")) +
        "\n" +
        "Run 'nativecnn help <command>' (or 'nativecnn <command> --help') for the command's options,\n" +
        "'nativecnn --version' for the version. Arguments can come from a file: nativecnn train @args.txt";

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            if (args.Length == 0)
            {
                stderr.WriteLine(Usage);
                return ExitUsage;
            }
            if (args[0] == Completion.Hidden) return Completion.Complete(args[1..], stdout);   // the shell asks; never expanded
            args = ResponseFile.Expand(args);
            verbose = args.Contains("--verbose");
            if (args[0] is "--version")
            {
                if (args.Length > 1) throw new UsageException($"--version takes no arguments, got '{args[1]}'");
                stdout.WriteLine(Version);
                return ExitOk;
            }
            if (args[0] is "--help" or "-h" or "help")
            {
                // `help <command>` is `<command> --help`
                if (args[0] == "help" && args.Length > 1) return Find(args[1]).Run(new[] { "--help" }, stdout, stderr);
                stdout.WriteLine(Usage);
                return ExitOk;
            }
            return Find(args[0]).Run(args[1..], stdout, stderr);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"nativecnn: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return ExitUsage;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"nativecnn: error: {OneLine(e.Message)}");
            if (verbose) stderr.WriteLine(e);
            return ExitFailure;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"nativecnn: internal error ({e.GetType().Name}): {OneLine(e.Message)}{(verbose ? "" : " (run with --verbose for details)")}");
            if (verbose) stderr.WriteLine(e);
            return ExitFailure;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>The command named <paramref name="name"/>; else a usage error suggesting the one most likely meant.</summary>
    private static Command Find(string name)
    {
        if (Commands.FirstOrDefault(c => c.Name == name) is { } command) return command;
        string names = string.Join(", ", Commands.Select(c => c.Name));
        throw new UsageException(Suggest.Closest(name, Commands.Select(c => c.Name)) is { } s
            ? $"unknown command '{name}'; did you mean '{s}'? (expected one of: {names}; see 'nativecnn --help')"
            : $"unknown command '{name}'; expected one of: {names} (see 'nativecnn --help')");
    }
}
