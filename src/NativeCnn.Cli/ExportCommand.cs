// `nativecnn export --checkpoint FILE --out DIR`: turns a checkpoint (train --out's
// checkpoint.safetensors, or any Checkpoint.Save of a registry model whose DataBunch knew its classes
// and statistics) into an export bundle for predict and finetune. The bundle's model.safetensors holds
// the state dict under PyTorch names, so it also loads in PyTorch (safetensors.torch.load_file).
// Must hold: nothing is written unless the checkpoint's weights fit its recorded architecture.
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class ExportCommand
{
    public const string Usage =
        "Usage: nativecnn export --checkpoint FILE --out DIR [--thresh T]\n" +
        "\n" +
        "Writes the export bundle of a checkpoint: DIR/model.safetensors (the weights under PyTorch names,\n" +
        "with the architecture, classes, normalisation statistics, input channels and size in its metadata)\n" +
        "and DIR/model.json (the same settings, readable). The checkpoint must record those settings, as\n" +
        "train --out's checkpoint.safetensors does. Training state (optimizer moments) is left out.\n" +
        "\n" +
        "Options:\n" +
        "  --checkpoint FILE  the checkpoint (required)\n" +
        "  --out DIR          the bundle folder to write (required; created if needed)\n" +
        "  --thresh T         multi-label threshold of the bundle's predictions (default: the checkpoint's)\n" +
        "  --verbose          stack traces on errors\n" +
        "  -h, --help         show this help";

    /// <summary>Every flag export takes.</summary>
    public static readonly string[] Flags = { "--checkpoint", "--out", "--thresh", "--verbose", "--help" };

    public static int Run(string[] args, TextWriter stdout)
    {
        if (args.Contains("--help") || args.Contains("-h")) { stdout.WriteLine(Usage); return Cli.ExitOk; }
        string? checkpoint = null, outDir = null;
        float? thresh = null;
        var reader = new ArgReader(args, "export", Flags);
        while (reader.Next())
        {
            string a = reader.Flag;
            string Next() => reader.Value();
            switch (a)
            {
                case "--checkpoint": checkpoint = Next(); break;
                case "--out": outDir = Next(); break;
                case "--thresh":
                    var v = Next();
                    if (!float.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var t) || !(t > 0 && t < 1))
                        throw new UsageException($"export: --thresh expects a number between 0 and 1 (exclusive), got '{v}'");
                    thresh = t;
                    break;
                case "--verbose": reader.NoValue(); break;
                default: throw new UsageException($"export: unexpected argument '{a}'; expected --checkpoint, --out, --thresh, --verbose or --help");
            }
        }
        if (checkpoint is null || outDir is null) throw new UsageException("export: --checkpoint FILE and --out DIR are both required");
        var info = ExportBundle.FromCheckpoint(checkpoint, outDir, thresh);
        stdout.WriteLine($"wrote {Path.Combine(outDir, ExportBundle.WeightsFile)}: {info.Arch}, {info.Classes.Count} classes, {info.Channels}x{info.Size.H}x{info.Size.W} input{(info.MultiLabel ? ", multi-label" : "")}");
        return Cli.ExitOk;
    }
}
