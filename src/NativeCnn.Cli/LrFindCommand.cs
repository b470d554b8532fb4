// `nativecnn lr-find`: fastai's learning-rate finder on any model and data `train` takes (--data,
// --arch, --pretrained, --size, --fp16, the transforms; mnist_cnn on the embedded MNIST by default):
// prints the two suggestions (steepest descent; minimum loss / 10), optionally as one JSON object,
// and with --out writes the series as CSV (lr, smoothed loss, raw loss per batch). The weights are
// restored after the run (Learner.LrFind), so nothing is saved. Must hold: every flag is known and
// every value parses in full and is in range, or a UsageException names the flag, the value given and
// what is expected; the run uses one seed for init and shuffling, as `train` does.
using System.Globalization;
using System.Text;
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public sealed class LrFindOptions
{
    public double StartLr { get; private set; } = 1e-7;
    public double EndLr { get; private set; } = 10;
    public int NumIt { get; private set; } = 100;
    public bool StopDiv { get; private set; } = true;
    /// <summary>--out FILE: the series as CSV (lr-find's --out is a file, not train's folder).</summary>
    public string? Out { get; private set; }
    /// <summary>--plot FILE: the smoothed loss against the lr (log scale) with both suggestions marked, as SVG.</summary>
    public string? Plot { get; private set; }
    /// <summary>The shared data/model options (--data, --arch, --pretrained, --size, --fp16, the transforms, ...).</summary>
    public TrainOptions Data { get; } = new();
    public int BatchSize => Data.BatchSize;
    public ulong Seed => Data.Seed;
    public bool Json => Data.Json;
    public bool Help => Data.Help;

    /// <summary>lr-find's own flags.</summary>
    private static readonly string[] Own = { "--start-lr", "--end-lr", "--num-it", "--no-stop-div", "--out", "--plot" };

    /// <summary>train's flags that make no sense for a learning-rate finder (it trains no epochs and saves nothing).</summary>
    private static readonly string[] NotHere = { "--epochs", "--lr", "--resume", "--unfreeze", "--metrics", "--thresh" };

    /// <summary>Every flag lr-find takes.</summary>
    public static readonly string[] Flags = Own.Concat(TrainOptions.Flags.Except(NotHere).Except(Own)).ToArray();

    public const string Usage =
        "Usage: nativecnn lr-find [options]\n" +
        "\n" +
        "Runs fastai's learning-rate finder on any model and data train takes (default: mnist_cnn on the\n" +
        "embedded MNIST) with AdamW (betas 0.9/0.99, weight decay 1e-2): the lr grows exponentially from\n" +
        "--start-lr to --end-lr over --num-it training batches, the loss is smoothed (beta 0.98, debiased),\n" +
        "and the run stops once it passes 4x its minimum. Prints two suggested learning rates: where the\n" +
        "smoothed loss falls fastest, and the lr of the minimum divided by 10. With --pretrained the body is\n" +
        "frozen, as cnn_learner's lr_find. The weights are restored afterwards; nothing is saved but --out/--plot.\n" +
        "\n" +
        "Options:\n" +
        "  --start-lr X   first learning rate (default 1e-7)\n" +
        "  --end-lr X     learning rate reached after --num-it batches (default 10)\n" +
        "  --num-it N     number of training batches (default 100; runs over several epochs if needed)\n" +
        "  --no-stop-div  run all --num-it batches even when the loss diverges\n" +
        "  --out FILE     write the series as CSV: lr,smoothed_loss,raw_loss (one row per batch)\n" +
        "  --plot FILE    write the lr finder plot as SVG (fastai's: the smoothed loss against the lr, both\n" +
        "                 suggestions marked; the first 10 and last 5 batches left out as fastai does)\n" +
        "Data and model (as for train; see 'nativecnn train --help'):\n" +
        "  --data D       mnist (default: the 8,000/2,000 MNIST digits embedded in the library), an IDX folder,\n" +
        "                 a folder (train/<class>/* and valid/<class>/*, or <class>/*) or a .csv file of name,labels\n" +
        "  --valid-pct P  percentage of a single folder or CSV held out (default 20)\n" +
        "  --folder DIR   CSV: the folder the image names are relative to;  --suffix S  CSV: appended to every name\n" +
        "  --multi-label  CSV labels are space-separated sets (BCE-with-logits loss)\n" +
        "  --arch NAME    architecture (default mnist_cnn; known: {ARCHS})\n" +
        "  --pretrained F torchvision resnet18/34 weights for --arch resnet18|resnet34 (cnn_learner, frozen body)\n" +
        "  --size N       image files are brought to N x N (default 64)\n" +
        "  --channels N   input channels for image files, 1 to 4 (default 3)\n" +
        "  --norm N       data (default; imagenet with --pretrained), imagenet, cifar or mnist\n" +
        "  --no-augment   image files: no random flips, rotations, zoom, warp or lighting\n" +
        "{TRANSFORMS}\n" +
        "Run:\n" +
        "  --bs N         batch size (default 64)\n" +
        "  --seed N       seed of every random draw: init, shuffling, augmentation (default 42)\n" +
        "  --limit N      use at most N training images (IDX: the first N; image files: spread over the set)\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --fp16         mixed precision, as for train\n" +
        "  --tf32         float32 convs and matrix products in TF32 on tensor cores, as for train\n" +
        "  --json         print the suggestions as one JSON object on stdout\n" +
        "  --verbose      print stack traces on errors\n" +
        "  -h, --help     show this help";

    public static LrFindOptions Parse(string[] args)
    {
        var o = new LrFindOptions();
        TrainOptions.ParseInto(o.Data, args, "lr-find", (flag, r) =>
        {
            switch (flag)
            {
                case "--start-lr": o.StartLr = PositiveDouble(flag, r.Value()); return true;
                case "--end-lr": o.EndLr = PositiveDouble(flag, r.Value()); return true;
                case "--num-it": o.NumIt = PositiveInt(flag, r.Value(), Limits.MaxEpochs); return true;
                case "--no-stop-div": r.NoValue(); o.StopDiv = false; return true;
                case "--out": o.Out = NonEmpty(flag, r.Value(), "a file path"); return true;
                case "--plot": o.Plot = NonEmpty(flag, r.Value(), "a file path"); return true;
                default: return false;
            }
        }, Flags);
        if (!o.Help && !(o.EndLr > o.StartLr))
            throw new UsageException($"lr-find: --end-lr must be greater than --start-lr ({Fmt(o.StartLr)}), got {Fmt(o.EndLr)}");
        return o;
    }

    private static string NonEmpty(string flag, string value, string what) =>
        value.Length > 0 ? value : throw new UsageException($"lr-find: {flag} expects {what}, got an empty string");

    private static int PositiveInt(string flag, string value, int max = int.MaxValue) => TrainOptions.PositiveInt("lr-find", flag, value, max);

    private static double PositiveDouble(string flag, string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v > 0) || double.IsInfinity(v))
            throw new UsageException($"lr-find: {flag} expects a positive number such as 1e-7 or 10, got '{value}'");
        return v;
    }

    internal static string Fmt(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

public static class LrFindCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = LrFindOptions.Parse(args);
        if (o.Help)
        {
            stdout.WriteLine(TrainOptions.Fill(LrFindOptions.Usage));
            return Cli.ExitOk;
        }
        var text = o.Json ? stderr : stdout;
        if (o.Out is not null) OutputFolder.CheckFile(o.Out, "lr-find", "--out");   // before the run, not after it
        if (o.Plot is not null) OutputFolder.CheckFile(o.Plot, "lr-find", "--plot");
        var device = DevicesCommand.Resolve(o.Data.Device);
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        // the data and model exactly as `train` builds them (format detection, split, limit, statistics, transforms)
        var data = TrainData.Load(o.Data, device, rng);
        text.WriteLine(DevicesCommand.Describe(device));
        var model = (o.Data.Pretrained is null ? Architectures.Build(o.Data.Arch, new ArchArgs(data.Bunch.Channels, data.Classes.Count), rng)
                                               : TrainCommand.PretrainedCnn(o.Data, data.Bunch.Channels, data.Classes.Count, rng)).To(device);
        Func<Tensor, Tensor, Tensor> loss = data.MultiLabel ? F.BinaryCrossEntropyWithLogits : (pred, y) => F.CrossEntropy(pred, y);
        var learn = new Learner(data.Bunch, model, loss);
        if (o.Data.Fp16) learn.ToFp16();
        if (o.Data.Pretrained is not null) learn.Split(CnnModel.ResNetLayerGroups((Sequential)model)).Freeze();   // cnn_learner's lr_find runs frozen
        LrFindResult r;
        using (Tf32Scope.For(o.Data.Tf32)) r = learn.LrFind(o.StartLr, o.EndLr, o.NumIt, o.StopDiv);   // --tf32

        if (o.Out is not null)
        {
            var csv = new StringBuilder("lr,smoothed_loss,raw_loss\n");
            for (int i = 0; i < r.Lrs.Count; i++)
                csv.Append(string.Create(CultureInfo.InvariantCulture, $"{r.Lrs[i]:R},{r.Losses[i]:R},{r.RawLosses[i]:R}\n"));
            WriteCreatingFolder(o.Out, csv.ToString());
        }

        if (o.Plot is not null)
        {
            // fastai's plot skips the first 10 and last 5 points (noisy start, divergence at the end)
            int from = r.Lrs.Count > LrFindResult.SkipStart + LrFindResult.SkipEnd + 1 ? LrFindResult.SkipStart : 0;
            int to = from > 0 ? r.Lrs.Count - LrFindResult.SkipEnd : r.Lrs.Count;
            var svg = NativeCnn.Reports.Plots.LrFinder(r.Lrs.Skip(from).Take(to - from).ToList(), r.Losses.Skip(from).Take(to - from).ToList(), r.LrSteep, r.LrMin).ToSvg();
            WriteCreatingFolder(o.Plot, svg);
        }

        text.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"lr find: {r.Lrs.Count} batches, lr {r.Lrs[0]:E2} to {r.Lrs[^1]:E2}{(r.Diverged ? ", stopped when the loss diverged" : "")}"));
        text.WriteLine(string.Create(CultureInfo.InvariantCulture, $"suggested lr (steepest descent): {r.LrSteep:E2}"));
        text.WriteLine(string.Create(CultureInfo.InvariantCulture, $"suggested lr (min loss / 10):    {r.LrMin:E2}"));
        if (o.Out is not null) text.WriteLine($"series written to {o.Out}");
        if (o.Plot is not null) text.WriteLine($"plot written to {o.Plot}");
        if (o.Json)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                WriteNumber(json, "lr_steep", r.LrSteep);
                WriteNumber(json, "lr_min", r.LrMin);
                json.WriteNumber("batches", r.Lrs.Count);
                json.WriteBoolean("diverged", r.Diverged);
                json.WriteNumber("start_lr", o.StartLr);
                json.WriteNumber("end_lr", o.EndLr);
                json.WriteNumber("num_it", o.NumIt);
                json.WriteNumber("bs", o.BatchSize);
                json.WriteNumber("seed", o.Seed);
                json.WriteNumber("train_images", data.TrainCount);
                json.WriteString("data", data.Description);
                json.WriteString("arch", Architectures.SpecOf(model)?.Name ?? o.Data.Arch);
                json.WriteBoolean("multi_label", data.MultiLabel);
                json.WriteBoolean("fp16", o.Data.Fp16);
                json.WriteString("device", device.ToString());
                if (o.Out is not null) json.WriteString("out", o.Out);
                json.WriteEndObject();
            }
            stdout.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
            stdout.Flush();
        }
        return Cli.ExitOk;
    }

    // JSON has no NaN: a suggestion that could not be made is null.
    private static void WriteNumber(Utf8JsonWriter json, string name, double v)
    {
        if (double.IsFinite(v)) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }

    /// <summary>Writes a result file atomically, making its folder first if needed.</summary>
    private static void WriteCreatingFolder(string path, string text)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        NativeCnn.Reports.ReportFiles.WriteText(path, text);
    }
}
