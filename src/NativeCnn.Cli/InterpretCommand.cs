// `nativecnn interpret`: interprets a model's validation predictions: writes DIR/confusion.svg,
// DIR/top_losses.png and DIR/report.html and prints the most confused pairs. The model is an export
// bundle (--model DIR, fed exactly as in training: its classes, statistics, channels and size), or,
// without --model, mnist_cnn trained here the way `train` does (same seed handling, batch iterators,
// Learner with one-cycle AdamW; image folders go through the DataLoader, grey, at --size).
// Must hold: every flag is known and its value in range, or exit 2 naming it; the output folder is
// created if missing; each file is written whole (temporary file, then moved into place).
using System.Diagnostics;
using System.Globalization;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Reports;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class InterpretCommand
{
    public const string Usage =
        "Usage: nativecnn interpret --out DIR [--model DIR] [options]\n" +
        "\n" +
        "Interprets a model's validation predictions: an exported model (--model, as 'train --out' writes\n" +
        "it), or, without --model, mnist_cnn trained here as 'nativecnn train' does. It\n" +
        "writes DIR/confusion.svg (confusion matrix), DIR/top_losses.png (the highest-loss images,\n" +
        "labelled prediction/actual and loss/probability of the actual class) and DIR/report.html,\n" +
        "and prints the most confused classes (actual, predicted, count).\n" +
        "\n" +
        "Options:\n" +
        "  --out DIR      folder for the outputs (required; created if missing)\n" +
        "  --model DIR    an export bundle to interpret (no training); --data then gives its validation\n" +
        "                 images: mnist/IDX for a 28x28 grey model, or a folder (valid/<class>/* if it has\n" +
        "                 one, else <class>/*) with the model's classes\n" +
        "  --data D       mnist (default: the embedded 8,000/2,000 digits); a directory holding\n" +
        "                 train-/valid-images-idx3-ubyte.gz and train-/valid-labels-idx1-ubyte.gz; or an image\n" +
        "                 folder: D/train/<class>/* and D/valid/<class>/*, or D/<class>/* (split 80/20 by the seed),\n" +
        "                 read as grey images (mnist_cnn takes one channel)\n" +
        "  --size N       image folders: side in pixels the images are resized to (default 28)\n" +
        "  --epochs N     number of epochs (default 2)\n" +
        "  --lr X         peak learning rate of the one-cycle schedule (default 0.01)\n" +
        "  --bs N         batch size (default 64)\n" +
        "  --seed N       seed of every random draw (default 42)\n" +
        "  --limit N      MNIST/IDX: use only the first N training and N validation images (quick runs)\n" +
        "  --top N        images in the top-losses grid (default 9)\n" +
        "  --min-val N    list pairs confused at least N times (default 1)\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "{TRANSFORMS}\n" +
        "                   (image folders trained here; an exported model is only evaluated)\n" +
        "  --verbose      stack traces on errors\n" +
        "  -h, --help     show this help";

    private sealed class Options
    {
        public string? Out, DataDir, Model;
        public int Epochs = 2, BatchSize = 64, Top = 9, MinVal = 1;
        public int? Limit, Size;
        public float Lr = 1e-2f;
        public ulong Seed = 42;
        public string Device = "auto";
        public readonly AugmentArgs Transforms = new();
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h")) { stdout.WriteLine(TrainOptions.Fill(Usage)); return Cli.ExitOk; }
        var o = Parse(args);

        var device = DevicesCommand.Resolve(o.Device);
        // --out is checked before any work; the three files appear together (OutputFolder)
        using var output = OutputFolder.Prepare(o.Out!, "interpret", OutNames);
        stdout.WriteLine(DevicesCommand.Describe(device));
        if (o.Model is not null) return FromBundle(o, device, stdout, output);
        var clock = Stopwatch.StartNew();
        var (learn, dataName, nTrain, nValid) = o.DataDir is not null && IsImageFolder(o.DataDir) ? BuildFolder(o, device) : BuildMnist(o, device);
        learn.AddCallback(new EpochTablePrinter(stdout));
        learn.AddCallback(new ProgressBar(stderr));
        learn.FitOneCycle(o.Epochs, o.Lr);
        double trainSeconds = clock.Elapsed.TotalSeconds;

        var summary = new Dictionary<string, string>
        {
            ["model"] = "mnist_cnn",
            ["data"] = dataName,
            ["train images"] = nTrain.ToString(CultureInfo.InvariantCulture),
            ["valid images"] = nValid.ToString(CultureInfo.InvariantCulture),
            ["epochs"] = o.Epochs.ToString(CultureInfo.InvariantCulture),
            ["max lr"] = o.Lr.ToString("G4", CultureInfo.InvariantCulture),
            ["batch size"] = o.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["device"] = device.ToString(),
            ["training time"] = EpochTablePrinter.FormatTime(trainSeconds),
        };
        return Write(o, learn, summary, stdout, output);
    }

    /// <summary>The interpretation of <paramref name="learn"/>'s validation set: the files and the most confused pairs.</summary>
    private static int Write(Options o, Learner learn, Dictionary<string, string> summary, TextWriter stdout, OutputFolder output)
    {
        var interp = ClassificationInterpretation.FromLearner(learn, keepImages: o.Top);
        ReportFiles.WriteText(output.PathOf(OutNames[0]), interp.PlotConfusionMatrix());
        interp.WriteTopLossesPng(output.PathOf(OutNames[1]), Math.Min(o.Top, interp.Count));
        learn.WriteHtmlReport(output.PathOf(OutNames[2]), interp, summary, topLosses: o.Top);
        output.Commit();
        string confusion = Path.Combine(o.Out!, OutNames[0]), top = Path.Combine(o.Out!, OutNames[1]), report = Path.Combine(o.Out!, OutNames[2]);

        var confused = interp.MostConfused(o.MinVal);
        stdout.WriteLine($"most confused (actual, predicted, count) of {interp.Count} validation images:");
        if (confused.Count == 0) stdout.WriteLine($"  none at least {o.MinVal} times");
        foreach (var (a, p, c) in confused) stdout.WriteLine($"  {a}  {p}  {c}");
        stdout.WriteLine($"wrote {confusion}, {top}, {report}");
        return Cli.ExitOk;
    }

    /// <summary>--model: the bundle's predictions on --data's validation images, nothing trained.</summary>
    private static readonly string[] OutNames = { "confusion.svg", "top_losses.png", "report.html" };

    private static int FromBundle(Options o, Device device, TextWriter stdout, OutputFolder output)
    {
        var (model, info) = ExportBundle.Load(o.Model!, device);
        if (info.MultiLabel)
            throw new NativeCnnException($"interpret: the model in '{o.Model}' is multi-label; the confusion matrix and top losses are for single-label classifiers");
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        DataBunch bunch;
        string dataName;
        if (o.DataDir is not null && IsImageFolder(o.DataDir))
        {
            string dir = Directory.Exists(Path.Combine(o.DataDir, "valid")) ? Path.Combine(o.DataDir, "valid") : o.DataDir;
            var valid = FolderDataset.FromClassFolders(dir, classes: info.Classes);
            var t = new TrainOptions { BatchSize = Math.Min(o.BatchSize, valid.Count) };
            bunch = TrainData.FromFiles(t, valid, valid, dir, device, rng, info.Classes, info.Channels, info.Size, info.Stats, augment: false,
                                        info.Resize, info.TwoChannelFill, "interpret").Bunch;
            dataName = dir;
        }
        else
        {
            var data = o.DataDir is null ? Mnist.LoadEmbedded() : Mnist.LoadDirectory(o.DataDir);
            var valid = o.Limit is int n ? data.Valid.Take(n) : data.Valid;
            if (info.Channels != 1 || info.Size != (valid.Height, valid.Width) || info.Classes.Count != valid.Classes)
                throw new NativeCnnException($"interpret: the model takes {info.Channels}-channel {info.Size.H}x{info.Size.W} images of {info.Classes.Count} classes; " +
                                             $"the MNIST/IDX data are 1-channel {valid.Height}x{valid.Width} of {valid.Classes}: give --data a folder of its images");
            // The iterator normalises with MNIST's statistics: a model trained on other statistics would be fed wrongly.
            if (!info.Stats.Mean.SequenceEqual(NormStats.Mnist.Mean) || !info.Stats.Std.SequenceEqual(NormStats.Mnist.Std))
                throw new NativeCnnException($"interpret: the model was trained with statistics (mean {string.Join(", ", info.Stats.Mean)}), not MNIST's; give --data a folder of its images");
            var batches = new BatchIteratorSource(new BatchIterator(valid, Math.Max(o.BatchSize, 256), shuffle: false, device: device));
            bunch = new DataBunch(batches, batches) { Classes = info.Classes, Stats = info.Stats, Channels = 1, Size = info.Size };
            dataName = o.DataDir ?? "embedded:mnist10k";
        }
        var learn = new Learner(bunch, model, (p, y) => F.CrossEntropy(p, y));
        var summary = new Dictionary<string, string>
        {
            ["model"] = $"{ExportBundle.Resolve(o.Model!)} ({info.Arch})",
            ["data"] = dataName,
            ["device"] = device.ToString(),
        };
        return Write(o, learn, summary, stdout, output);
    }

    // A folder of images (class sub-folders, or train/ and valid/ holding them) rather than IDX files.
    private static bool IsImageFolder(string dir) =>
        Directory.Exists(dir) && !Mnist.FileNames.Any(f => File.Exists(Path.Combine(dir, f)) || File.Exists(Path.Combine(dir, Path.GetFileNameWithoutExtension(f))));

    // The same data as `train` on IDX (TrainData.FromIdx), and the same model.
    private static (Learner, string, int, int) BuildMnist(Options o, Device device)
    {
        if (o.Size is not null) throw new UsageException("interpret: --size applies to image folders; MNIST digits are 28x28");
        var data = o.DataDir is null ? Mnist.LoadEmbedded() : Mnist.LoadDirectory(o.DataDir);
        var (train, valid) = o.Limit is int n ? (data.Train.Take(n), data.Valid.Take(n)) : (data.Train, data.Valid);
        if (o.BatchSize > train.Count)
            throw new UsageException($"interpret: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        var model = SimpleCnn.MnistCnn(train.Classes, rng).To(device);
        var bunch = TrainData.FromIdx(new TrainOptions { BatchSize = o.BatchSize }, train, valid, o.DataDir ?? "embedded:mnist10k", device, rng).Bunch;
        return (Learner(bunch, model), o.DataDir ?? "embedded:mnist10k", train.Count, valid.Count);
    }

    // mnist_cnn takes one channel: folder images are read as grey, resized (centre crop) to --size, normalised with
    // their own statistics, and augmented (fastai's defaults) for training. Class folders without train/ and valid/
    // are split 80/20 with the seed.
    private static (Learner, string, int, int) BuildFolder(Options o, Device device)
    {
        if (o.Limit is not null) throw new UsageException("interpret: --limit applies to MNIST/IDX data; an image folder is used whole");
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        ImageFileDataset train, valid;
        if (Directory.Exists(Path.Combine(o.DataDir!, "train"))) (train, valid, _) = FolderDataset.FromImageNetLayout(o.DataDir!);
        else (train, valid) = FolderDataset.FromClassFolders(o.DataDir!).Split(20, rng);
        if (valid.Count == 0) throw new NativeCnnException($"interpret: '{o.DataDir}' leaves no validation images");
        if (o.BatchSize > train.Count)
            throw new UsageException($"interpret: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");
        int size = o.Size ?? 28;
        var stats = NormStats.Compute(train, 1);
        var model = SimpleCnn.MnistCnn(train.Classes.Count, rng).To(device);
        var options = new DataLoaderOptions { BatchSize = o.BatchSize, Channels = 1, Normalize = stats, Device = device };
        var trainLoader = new DataLoader(train, new ImageTransform(size, size, ResizeMethod.Crop, o.Transforms.Apply()), options with { Shuffle = true, DropLast = true, Train = true }, rng);
        var validLoader = new DataLoader(valid, new ImageTransform(size, size), options, rng);
        var bunch = new DataBunch(new DataLoaderSource(trainLoader), new DataLoaderSource(validLoader))
        {
            Classes = train.Classes,
            Stats = stats,
            Channels = 1,
            Size = (size, size),
        };
        return (Learner(bunch, model), o.DataDir!, train.Count, valid.Count);
    }

    private static Learner Learner(DataBunch bunch, Module model) =>
        new(bunch, model, (pred, y) => F.CrossEntropy(pred, y), new[] { Metrics.Accuracy() });

    /// <summary>Every flag interpret takes.</summary>
    public static readonly string[] Flags = new[] { "--out", "--model", "--data", "--size", "--epochs", "--lr", "--bs", "--seed", "--limit", "--top", "--min-val", "--device", "--verbose" }.Concat(AugmentArgs.Flags).Append("--help").ToArray();

    private static Options Parse(string[] args)
    {
        var o = new Options();
        var reader = new ArgReader(args, "interpret", Flags);
        while (reader.Next())
        {
            string a = reader.Flag;
            if (o.Transforms.TryParse("interpret", a, reader)) continue;
            string Next() => reader.Value();
            int Int(int min, int max = int.MaxValue)
            {
                string v = Next();
                if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int r) || r < min)
                    throw new UsageException($"interpret: {a} expects an integer >= {min}, got '{v}'");
                if (r > max) throw new UsageException($"interpret: {a} expects an integer from {min} to {max}, got '{v}'");
                return r;
            }
            switch (a)
            {
                case "--out": o.Out = Next(); break;
                case "--model": o.Model = Next(); break;
                case "--data":
                {
                    string v = Next();
                    if (v.Length == 0) throw new UsageException("interpret: --data expects mnist or a directory, got an empty string");
                    o.DataDir = v == "mnist" ? null : v;
                    break;
                }
                case "--epochs": o.Epochs = Int(1, Limits.MaxEpochs); break;
                case "--bs": o.BatchSize = Int(1, Limits.MaxBatch); break;
                case "--limit": o.Limit = Int(1); break;
                case "--size": o.Size = Int(8, Limits.MaxSize); break;
                case "--top": o.Top = Int(1, Limits.MaxTop); break;
                case "--min-val": o.MinVal = Int(1); break;
                case "--seed":
                {
                    string v = Next();
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out o.Seed))
                        throw new UsageException($"interpret: --seed expects a non-negative integer, got '{v}'");
                    break;
                }
                case "--lr":
                {
                    string v = Next();
                    if (!float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out o.Lr) || !(o.Lr > 0) || float.IsInfinity(o.Lr))
                        throw new UsageException($"interpret: --lr expects a positive number such as 0.01, got '{v}'");
                    break;
                }
                case "--device":
                {
                    string v = Next();
                    if (v is not ("auto" or "cpu" or "cuda" or "simulator") &&
                        !(v.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(v.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                        throw new UsageException($"interpret: --device expects auto, cpu, cuda, cuda:N or simulator, got '{v}'");
                    o.Device = v;
                    break;
                }
                case "--verbose": reader.NoValue(); break;
                default:
                    throw new UsageException(a.StartsWith('-')
                        ? $"interpret: unknown option '{a}' (see 'nativecnn interpret --help')"
                        : $"interpret: unexpected argument '{a}'; interpret takes only options (see 'nativecnn interpret --help')");
            }
        }
        if (o.Out is null) throw new UsageException("interpret: --out DIR is required");
        return o;
    }
}
