// `nativecnn lr-find`: fastai's learning-rate finder on mnist_cnn (the embedded MNIST by default):
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
using NativeCnn.Training;

namespace NativeCnn.Cli;

public sealed class LrFindOptions
{
    public int BatchSize { get; private set; } = 64;
    public ulong Seed { get; private set; } = 42;
    public string Device { get; private set; } = "auto";
    public double StartLr { get; private set; } = 1e-7;
    public double EndLr { get; private set; } = 10;
    public int NumIt { get; private set; } = 100;
    public bool StopDiv { get; private set; } = true;
    public string? DataDir { get; private set; }
    public int? Limit { get; private set; }
    public string? Out { get; private set; }
    /// <summary>--plot FILE: the smoothed loss against the lr (log scale) with both suggestions marked, as SVG.</summary>
    public string? Plot { get; private set; }
    public bool Json { get; private set; }
    /// <summary>--tf32: Precision.AllowTf32 on for the sweep.</summary>
    public bool Tf32 { get; private set; }
    public bool Help { get; private set; }

    public const string Usage =
        "Usage: nativecnn lr-find [options]\n" +
        "\n" +
        "Runs fastai's learning-rate finder on mnist_cnn with AdamW (betas 0.9/0.99, weight decay 1e-2):\n" +
        "the lr grows exponentially from --start-lr to --end-lr over --num-it training batches, the loss is\n" +
        "smoothed (beta 0.98, debiased), and the run stops once it passes 4x its minimum. Prints two suggested\n" +
        "learning rates: where the smoothed loss falls fastest, and the lr of the minimum divided by 10.\n" +
        "The model's weights are restored afterwards; nothing is saved but the --out file.\n" +
        "\n" +
        "Options:\n" +
        "  --start-lr X   first learning rate (default 1e-7)\n" +
        "  --end-lr X     learning rate reached after --num-it batches (default 10)\n" +
        "  --num-it N     number of training batches (default 100; runs over several epochs if needed)\n" +
        "  --no-stop-div  run all --num-it batches even when the loss diverges\n" +
        "  --bs N         batch size (default 64)\n" +
        "  --seed N       seed of every random draw: init, shuffling (default 42)\n" +
        "  --data DIR     directory holding train-/valid-images-idx3-ubyte.gz and train-/valid-labels-idx1-ubyte.gz\n" +
        "                 (default: the 8,000/2,000 MNIST digits embedded in the library)\n" +
        "  --limit N      use only the first N training images\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --tf32         float32 convs and matrix products in TF32 on tensor cores (CUDA sm_80+; ignored elsewhere)\n" +
        "  --out FILE     write the series as CSV: lr,smoothed_loss,raw_loss (one row per batch)\n" +
        "  --plot FILE    write the lr finder plot as SVG (fastai's: the smoothed loss against the lr, both\n" +
        "                 suggestions marked; the first 10 and last 5 batches left out as fastai does)\n" +
        "  --json         print the suggestions as one JSON object on stdout\n" +
        "  --verbose      print stack traces on errors\n" +
        "  -h, --help     show this help";

    public static LrFindOptions Parse(string[] args)
    {
        var o = new LrFindOptions();
        var r = new ArgReader(args, "lr-find");
        while (r.Next())
        {
            string arg = r.Flag;
            string Value() => r.Value();
            void NoValue() => r.NoValue();
            switch (arg)
            {
                case "--start-lr": o.StartLr = PositiveDouble(arg, Value()); break;
                case "--end-lr": o.EndLr = PositiveDouble(arg, Value()); break;
                case "--num-it": o.NumIt = PositiveInt(arg, Value(), Limits.MaxEpochs); break;
                case "--no-stop-div": NoValue(); o.StopDiv = false; break;
                case "--bs": o.BatchSize = PositiveInt(arg, Value(), Limits.MaxBatch); break;
                case "--seed":
                {
                    var v = Value();
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
                        throw new UsageException($"lr-find: --seed expects a non-negative integer, got '{v}'");
                    o.Seed = seed;
                    break;
                }
                case "--data": o.DataDir = NonEmpty(arg, Value(), "a directory"); break;
                case "--limit": o.Limit = PositiveInt(arg, Value()); break;
                case "--device":
                {
                    var v = Value();
                    bool cudaIndex = v.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(v.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _);
                    if (v is not ("auto" or "cpu" or "cuda" or "simulator") && !cudaIndex)
                        throw new UsageException($"lr-find: --device expects auto, cpu, cuda, cuda:N or simulator, got '{v}'");
                    o.Device = v;
                    break;
                }
                case "--out": o.Out = NonEmpty(arg, Value(), "a file path"); break;
                case "--plot": o.Plot = NonEmpty(arg, Value(), "a file path"); break;
                case "--json": NoValue(); o.Json = true; break;
                case "--tf32": NoValue(); o.Tf32 = true; break;
                case "--verbose": NoValue(); break;
                case "--help" or "-h": o.Help = true; break;
                default:
                    throw new UsageException(arg.StartsWith('-')
                        ? $"lr-find: unknown option '{arg}'; expected --start-lr, --end-lr, --num-it, --no-stop-div, --bs, --seed, --data, --limit, --device, --tf32, --out, --plot, --json, --verbose or --help"
                        : $"lr-find: unexpected argument '{arg}'; lr-find takes only options (see 'nativecnn lr-find --help')");
            }
        }
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
            stdout.WriteLine(LrFindOptions.Usage);
            return Cli.ExitOk;
        }
        var text = o.Json ? stderr : stdout;
        if (o.Out is not null) OutputFolder.CheckFile(o.Out, "lr-find", "--out");   // before the run, not after it
        if (o.Plot is not null) OutputFolder.CheckFile(o.Plot, "lr-find", "--plot");
        var data = o.DataDir is null ? Mnist.LoadEmbedded() : Mnist.LoadDirectory(o.DataDir);
        var train = o.Limit is int n ? data.Train.Take(n) : data.Train;
        var valid = o.Limit is int m ? data.Valid.Take(m) : data.Valid;
        if (o.BatchSize > train.Count)
            throw new UsageException($"lr-find: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");

        var device = DevicesCommand.Resolve(o.Device);
        text.WriteLine(DevicesCommand.Describe(device));
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        var model = SimpleCnn.MnistCnn(train.Classes, rng).To(device);
        var trainBatches = new BatchIterator(train, o.BatchSize, shuffle: true, dropLast: true, rng: rng, device: device);
        var validBatches = new BatchIterator(valid, Math.Max(o.BatchSize, 256), shuffle: false, device: device);
        var learn = new Learner(DataBunch.From(trainBatches, validBatches), model, (pred, y) => F.CrossEntropy(pred, y));
        LrFindResult r;
        using (Tf32Scope.For(o.Tf32)) r = learn.LrFind(o.StartLr, o.EndLr, o.NumIt, o.StopDiv);

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
                json.WriteNumber("train_images", train.Count);
                json.WriteString("data", o.DataDir ?? "embedded:mnist10k");
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
