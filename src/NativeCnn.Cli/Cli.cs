// The `nativecnn` command: dispatches sub-commands, prints help, and turns every failure into one
// line on stderr with an exit code (2: the command line was wrong; 1: the run failed, e.g. a missing
// or malformed data file); `nativecnn --version` prints the version. Must hold: no stack trace reaches
// the user unless --verbose was given.
namespace NativeCnn.Cli;

/// <summary>A command line that cannot be understood (exit code 2).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}

public static class Cli
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    private sealed record Command(string Name, string Summary, Func<string[], TextWriter, TextWriter, int> Run);

    /// <summary>The sub-commands, in the order the help lists them.</summary>
    private static readonly Command[] Commands =
    {
        new("train", "train a model (the MNIST CNN on 10k embedded digits by default) and print each epoch's metrics", TrainCommand.Run),
        new("lr-find", "run the learning-rate finder on the MNIST CNN and print two suggested learning rates", LrFindCommand.Run),
        new("predict", "classify image files with an exported model", PredictCommand.Run),
        new("finetune", "fine-tune an exported model on corrected images sorted into class folders", FinetuneCommand.Run),
        new("serve", "serve an exported model: web page, JSON API, corrections for finetune, batching, reload", ServeCommand.Run),
        new("export", "turn a checkpoint into an export bundle (for predict, finetune and PyTorch)", (a, o, _) => ExportCommand.Run(a, o)),
        new("interpret", "a model's confusion matrix, top-loss images and an HTML report (an exported model, or mnist_cnn trained first)", InterpretCommand.Run),
        new("show-batch", "write a PNG grid of augmented training images with their labels", ShowBatchCommand.Run),
        new("bench", "time the main benchmark cases on this device (beside PyTorch's with --torch)", BenchCommand.Run),
        new("devices", "list the devices NativeCnn sees (CPU, CUDA GPUs with why one cannot be used)", (a, o, _) => DevicesCommand.Run(a, o)),
    };

    public static readonly string Usage =
        "nativecnn - a from-scratch CNN training engine in C#\n" +
        "\n" +
        "Usage: nativecnn <command> [options]\n" +
        "\n" +
        "Commands:\n" +
        string.Concat(Commands.Select(c => $"  {c.Name,-11}{c.Summary}\n")) +
        "\n" +
        "Run 'nativecnn <command> --help' for the command's options; 'nativecnn --version' for the version.";

    /// <summary>The version `nativecnn --version` prints: the assembly's informational version (the package's
    /// version, e.g. 0.1.0, with the commit it was built from after a '+' when the build knew it).</summary>
    public static string Version =>
        typeof(Cli).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
        ?? typeof(Cli).Assembly.GetName().Version?.ToString() ?? "unknown";

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
            if (args[0] is "--help" or "-h" or "help")
            {
                stdout.WriteLine(Usage);
                return ExitOk;
            }
            if (args is ["--version"])
            {
                stdout.WriteLine(Version);
                return ExitOk;
            }
            var command = Commands.FirstOrDefault(c => c.Name == args[0])
                ?? throw new UsageException($"unknown command '{args[0]}'; expected one of: {string.Join(", ", Commands.Select(c => c.Name))} (see 'nativecnn --help')");
            return command.Run(args[1..], stdout, stderr);
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
}
