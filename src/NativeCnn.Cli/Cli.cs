// The `nativecnn` command: dispatches sub-commands, prints help, and turns every failure into one
// line on stderr with an exit code (2: the command line was wrong; 1: the run failed, e.g. a missing
// or malformed data file). Must hold: no stack trace reaches the user unless --verbose was given.
namespace NativeCnn.Cli;

/// <summary>A command line that cannot be understood (exit code 2).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}

public static class Cli
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    public const string Usage =
        "nativecnn - a from-scratch CNN training engine in C#\n" +
        "\n" +
        "Usage: nativecnn <command> [options]\n" +
        "\n" +
        "Commands:\n" +
        "  show-batch  write a PNG grid of augmented training images with their labels\n" +
        "  train     train the MNIST CNN (embedded 10k digits by default) and print each epoch's metrics\n" +
        "  devices   list the devices NativeCnn sees (CPU, CUDA GPUs with why one cannot be used)\n" +
        "  lr-find   run the learning-rate finder on the MNIST CNN and print two suggested learning rates\n" +
        "\n" +
        "Run 'nativecnn <command> --help' for the command's options.";

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
            return args[0] switch
            {
                "show-batch" => ShowBatchCommand.Run(args[1..], stdout, stderr),
                "train" => TrainCommand.Run(args[1..], stdout, stderr),
                "devices" => DevicesCommand.Run(args[1..], stdout),
                "lr-find" => LrFindCommand.Run(args[1..], stdout, stderr),
                _ => throw new UsageException($"unknown command '{args[0]}'; expected one of: train, devices, show-batch (see 'nativecnn --help')"),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"nativecnn: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return ExitUsage;
        }
        catch (Exception e) when (e is NativeCnnException or IOException or UnauthorizedAccessException)
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
