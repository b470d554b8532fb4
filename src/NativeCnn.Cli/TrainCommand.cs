// `nativecnn train`: mnist_cnn on MNIST through the Learner (FitOneCycle, fastai v1's AdamW), the
// fastai epoch table, and optionally one JSON object with the final metrics. Must hold: everything
// runs on the chosen device (the model is moved before the Learner makes its optimizer; the batch
// iterators stage each epoch's images and labels there); the Learner runs each step in its own
// MemoryScope and its Recorder reads losses once per epoch (every 25 steps with --verbose).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class TrainCommand
{
    private const int ProgressEvery = 25;

    public sealed record EpochResult(int Epoch, double TrainLoss, double ValidLoss, double Accuracy, double Seconds);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = TrainOptions.Parse(args);
        if (o.Help)
        {
            stdout.WriteLine(TrainOptions.Usage);
            return Cli.ExitOk;
        }
        var table = o.Json ? stderr : stdout;
        var log = o.Verbose ? stderr : TextWriter.Null;

        var data = o.DataDir is null ? Mnist.LoadEmbedded() : Mnist.LoadDirectory(o.DataDir);
        var (train, valid) = o.Limit is int n ? (data.Train.Take(n), data.Valid.Take(n)) : (data.Train, data.Valid);
        if (o.BatchSize > train.Count)
            throw new UsageException($"train: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");
        log.WriteLine($"data: {(o.DataDir ?? "embedded mnist10k")} ({train.Count} train, {valid.Count} valid images of {train.Height}x{train.Width})");

        var device = DevicesCommand.Resolve(o.Device);
        table.WriteLine(DevicesCommand.Describe(device));
        var total = Stopwatch.StartNew();
        var results = Train(o, train, valid, table, log, device);
        total.Stop();

        if (o.Json)
        {
            var last = results[^1];
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using var json = new Utf8JsonWriter(buffer);
            json.WriteStartObject();
            json.WriteNumber("accuracy", Math.Round(last.Accuracy, 6));
            json.WriteNumber("valid_loss", Math.Round(last.ValidLoss, 6));
            json.WriteNumber("train_loss", Math.Round(last.TrainLoss, 6));
            json.WriteNumber("seconds", Math.Round(total.Elapsed.TotalSeconds, 3));
            json.WriteNumber("seconds_per_epoch", Math.Round(results.Average(r => r.Seconds), 3));
            json.WriteNumber("epochs", o.Epochs);
            json.WriteNumber("lr", o.Lr);
            json.WriteNumber("bs", o.BatchSize);
            json.WriteNumber("seed", o.Seed);
            json.WriteNumber("train_images", train.Count);
            json.WriteNumber("valid_images", valid.Count);
            json.WriteString("data", o.DataDir ?? "embedded:mnist10k");
            json.WriteString("device", device.ToString());
            json.WriteBoolean("fp16", o.Fp16);
            json.WriteEndObject();
            json.Flush();
            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
            stdout.Flush();
        }
        return Cli.ExitOk;
    }

    /// <summary>The training run itself on <paramref name="device"/> (the CPU if null); writes the table to <paramref name="table"/>.</summary>
    public static List<EpochResult> Train(TrainOptions o, ImageDataset train, ImageDataset valid, TextWriter table, TextWriter log, Device? device = null)
    {
        device ??= Device.Cpu;
        // One seed for every draw. A private generator (not Rng.Global) keeps a run reproducible even
        // when other code in the process draws concurrently (the CLI tests run in parallel).
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        // Initialised on the CPU (the same values on every device for a seed), then moved.
        var model = SimpleCnn.MnistCnn(train.Classes, rng).To(device);
        log.WriteLine(model);
        log.WriteLine($"parameters: {model.ParameterCount():N0}");

        var trainBatches = new BatchIterator(train, o.BatchSize, shuffle: true, dropLast: true, rng: rng, device: device);
        var validBatches = new BatchIterator(valid, Math.Max(o.BatchSize, 256), shuffle: false, device: device);
        // fastai v1's defaults (Learner with bn_wd=True, true_wd=True): AdamW, betas (0.9, 0.99),
        // eps 1e-8, decoupled weight decay 1e-2 on every parameter (Learner.DefaultOptimizer).
        var learn = new Learner(DataBunch.From(trainBatches, validBatches), model, (pred, y) => F.CrossEntropy(pred, y), new[] { Metrics.Accuracy() });
        if (o.Fp16) learn.ToFp16();
        learn.AddCallback(new EpochTablePrinter(table));
        if (log != TextWriter.Null) learn.AddCallback(new ProgressLog(log));
        learn.FitOneCycle(o.Epochs, o.Lr);

        var r = learn.Recorder;
        return Enumerable.Range(0, r.EpochSeconds.Count)
            .Select(e => new EpochResult(e, r.TrainLosses[e], r.ValidLosses[e], r.MetricValues[e][0], r.EpochSeconds[e]))
            .ToList();
    }

    /// <summary>--verbose: the loss and lr every few steps (reading the loss there is the only extra sync).</summary>
    private sealed class ProgressLog(TextWriter log) : Callback
    {
        public override int Order => 30;

        public override void AfterBatch(Learner learn)
        {
            if (!learn.Training || learn.Loss is null || (learn.Iter + 1) % ProgressEvery != 0) return;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  epoch {learn.Epoch} step {learn.Iter + 1}/{learn.NIter}: loss {learn.Loss.Item():F4}, lr {learn.Opt!.ParamGroups[0].Lr:G4}"));
        }
    }
}
