// `nativecnn finetune --model DIR --data DIR --out DIR`: improves a deployed classifier with the
// images it got wrong, sorted by users into one folder per (correct) class. The exported model is
// rebuilt, trained with one-cycle AdamW on those images (by default for 10 epochs, twice a plain
// train's 5: a corrections set is small, so each epoch is short and the model needs more passes to
// move), and written as a new bundle with the same classes, statistics, input size and threshold.
// Must hold: the model's vocabulary is kept (a folder naming an unknown class is an error naming it);
// images are fed exactly as in the original training (the bundle's statistics, channels and size).
using NativeCnn.Data;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class FinetuneCommand
{
    public const int DefaultEpochs = 10;

    public const string Usage =
        "Usage: nativecnn finetune --model DIR --data DIR --out DIR [options]\n" +
        "\n" +
        "Fine-tunes an exported model on corrected images: --data holds one folder per class, named as\n" +
        "the model's classes, with the images the model got wrong. Classes without corrections need no\n" +
        "folder. Writes the new bundle to OUT/model (and OUT/checkpoint.safetensors, OUT/metrics.json);\n" +
        "the classes, statistics and input size stay the model's.\n" +
        "\n" +
        "Options:\n" +
        "  --model DIR    the export bundle to start from (required)\n" +
        "  --data DIR     the corrections: DIR/<class>/<image> (required)\n" +
        "  --out DIR      where to write the fine-tuned bundle (required)\n" +
        "  --epochs N     epochs (default 10: twice a plain train's 5, as a corrections set is small)\n" +
        "  --lr X         peak learning rate of the one-cycle schedule (default 0.01)\n" +
        "  --bs N         batch size (default 64, or the number of images when fewer)\n" +
        "  --valid-pct P  percentage of the corrections held out for validation (default 0: the table then\n" +
        "                 shows the metrics on the corrections themselves, un-augmented)\n" +
        "  --no-augment   no random flips, rotations, zoom, warp or lighting\n" +
        "{TRANSFORMS}\n" +
        "                   (default: the model's own transforms, as recorded when it was trained; each flag\n" +
        "                   given changes that one; --no-augment turns them off for this run only)\n" +
        "Training:\n" +
        "  --metrics L    as for train (default: the model's kind's default)\n" +
        "  --thresh T     multi-label threshold (default: the model's)\n" +
        "  --seed N       seed of every random draw (default 42)\n" +
        "  --limit N      use at most N images\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --fp16         mixed precision, as for train\n" +
        "  --tf32         float32 convs and matrix products in TF32 on tensor cores, as for train\n" +
        "  --json         print the final metrics as one JSON object on stdout (the table goes to stderr)\n" +
        "  --verbose      progress every 25 steps and stack traces on errors\n" +
        "  -h, --help     show this help";

    /// <summary>train's flags that come from the model (refused, naming why) or are train's alone.</summary>
    private static readonly string[] FromModel = { "--arch", "--size", "--channels", "--multi-label", "--folder", "--suffix", "--norm" },
                                     TrainOnly = { "--resume", "--pretrained", "--unfreeze" };

    /// <summary>Every flag finetune takes.</summary>
    public static readonly string[] Flags = new[] { "--model" }.Concat(TrainOptions.Flags.Except(FromModel).Except(TrainOnly)).ToArray();

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? modelPath = null;
        var o = new TrainOptions { Epochs = DefaultEpochs, ValidPct = 0 };
        TrainOptions.ParseInto(o, args, "finetune", (flag, r) =>
        {
            switch (flag)
            {
                case "--model": modelPath = r.Value(); return true;
                case var f when FromModel.Contains(f):
                    throw new UsageException($"finetune: {flag} cannot be changed; it comes from the model (--model)");
                case var f when TrainOnly.Contains(f):
                    throw new UsageException($"finetune: {flag} is train's; finetune starts from the exported model (--model)");
                default: return false;
            }
        }, Flags.Concat(FromModel).Concat(TrainOnly).ToArray());
        if (o.Help) { stdout.WriteLine(TrainOptions.Fill(Usage)); return Cli.ExitOk; }
        if (modelPath is null) throw new UsageException("finetune: --model DIR is required (the export bundle to fine-tune)");
        if (o.DataDir is null or "mnist") throw new UsageException("finetune: --data DIR is required (a folder of class folders holding the corrected images)");
        if (o.Out is null) throw new UsageException("finetune: --out DIR is required (where the fine-tuned bundle goes)");
        var table = o.Json ? stderr : stdout;
        var log = o.Verbose ? stderr : TextWriter.Null;

        var device = DevicesCommand.Resolve(o.Device);
        using var output = OutputFolder.Prepare(o.Out, "finetune", TrainCommand.OutNames);   // before any work
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        var (model, info) = ExportBundle.Load(modelPath, device);
        model.Train();
        if (!Directory.Exists(o.DataDir)) throw new NativeCnnException($"finetune: --data '{o.DataDir}' is not a folder; expected DIR/<class>/<image> with the model's classes ({string.Join(", ", info.Classes)})");
        var corrections = FolderDataset.FromClassFolders(o.DataDir, classes: info.Classes);
        // A multi-label model learns from multi-hot targets: each correction is its one class.
        var all = new ImageFileDataset(Enumerable.Range(0, corrections.Count).Select(i => corrections[i]), info.Classes, info.MultiLabel, o.DataDir,
                                       DatasetOptions.Default with { Validate = false });
        if (o.Limit is int n) all = TrainData.Spread(all, n);
        var (train, valid) = o.ValidPct > 0 ? all.Split(o.ValidPct, rng) : (all, all);
        if (o.BatchSize > train.Count) o.BatchSize = train.Count;
        // the model's own transforms (fastai's defaults for a bundle that records none), changed by the flags given;
        // --no-augment turns them off for this run only (the new bundle keeps them for the next)
        var data = TrainData.FromFiles(o, train, valid, o.DataDir, device, rng, info.Classes, info.Channels, info.Size, info.Stats, o.Augment,
                                       info.Resize, info.TwoChannelFill, "finetune", o.Transforms.Apply(info.Augment));
        table.WriteLine(DevicesCommand.Describe(device));
        var run = TrainCommand.Fit(o, data, model, table, log, "finetune");
        TrainCommand.Finish(o, run, stdout, stderr, output, device, "finetune", o.Thresh ?? info.Threshold,
                            new Dictionary<string, object> { ["base_model"] = ExportBundle.Resolve(modelPath) });
        return Cli.ExitOk;
    }
}
