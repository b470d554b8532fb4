// `nativecnn train`: mnist_cnn on MNIST with one-cycle AdamW, a fastai-like table of epoch metrics,
// and optionally one JSON object with the final metrics. Must hold: everything runs on the chosen
// device (the model is moved before the optimizer is made; the batch iterators stage each epoch's
// images and labels there); each training step runs in its own MemoryScope (after warm-up no new
// buffers); the loss is summed on the device and read only at the end of an epoch (or every 25
// steps with --verbose); evaluation runs in Eval mode under NoGrad.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NativeCnn.Autograd;
using NativeCnn.Backends;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;

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

        // fastai v1's defaults (Learner with bn_wd=True, true_wd=True): AdamW, betas (0.9, 0.99),
        // eps 1e-8, decoupled weight decay 1e-2 on every parameter.
        var optimizer = new AdamW(model.Parameters(), lr: o.Lr, beta1: 0.9f, beta2: 0.99f, eps: 1e-8f, weightDecay: 1e-2f);

        var trainBatches = new BatchIterator(train, o.BatchSize, shuffle: true, dropLast: true, rng: rng, device: device);
        var validBatches = new BatchIterator(valid, Math.Max(o.BatchSize, 256), shuffle: false, device: device);
        int stepsPerEpoch = trainBatches.BatchCount;
        var schedule = new OneCycle(o.Lr, o.Epochs * stepsPerEpoch);
        var lossSum = Tensor.Zeros(Array.Empty<int>(), DType.Float32, device).Keep();
        var zero = Tensor.Zeros(Array.Empty<int>(), DType.Float32, device).Keep();

        table.WriteLine($"{"epoch",-7}{"train_loss",-12}{"valid_loss",-12}{"accuracy",-10}{"time",-6}");
        table.Flush();
        var results = new List<EpochResult>();
        int step = 0;
        for (int epoch = 0; epoch < o.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            model.Train();
            lossSum.CopyFrom(zero);
            int stepInEpoch = 0;
            foreach (var (x, y) in trainBatches.Epoch())
            {
                using (MemoryScope.Begin())
                {
                    schedule.Apply(optimizer, step);
                    optimizer.ZeroGrad();
                    var loss = F.CrossEntropy(model.Forward(x), y);
                    loss.Backward();
                    optimizer.Step();
                    using (new NoGrad()) lossSum.CopyFrom(lossSum + loss);
                    step++;
                    stepInEpoch++;
                    if (log != TextWriter.Null && stepInEpoch % ProgressEvery == 0)
                        log.WriteLine($"  epoch {epoch} step {stepInEpoch}/{stepsPerEpoch}: loss {loss.Item():F4}, lr {optimizer.ParamGroups[0].Lr:G4}");
                }
            }
            double trainLoss = lossSum.Item() / stepInEpoch;
            var (validLoss, accuracy) = Evaluate(model, validBatches);
            clock.Stop();
            var r = new EpochResult(epoch, trainLoss, validLoss, accuracy, clock.Elapsed.TotalSeconds);
            results.Add(r);
            table.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Epoch,-7}{r.TrainLoss,-12:F6}{r.ValidLoss,-12:F6}{r.Accuracy,-10:F6}{FormatTime(r.Seconds),-6}"));
            table.Flush();
        }
        return results;
    }

    /// <summary>Mean cross-entropy and accuracy over the whole set, in Eval mode without a graph.</summary>
    public static (double Loss, double Accuracy) Evaluate(Module model, BatchIterator batches)
    {
        model.Eval();
        double lossSum = 0;
        long correct = 0, count = 0;
        using (new NoGrad())
        {
            foreach (var (x, y) in batches.Epoch())
            {
                using (MemoryScope.Begin())
                {
                    var logits = model.Forward(x);
                    int b = y.Size(0);
                    lossSum += (double)F.CrossEntropy(logits, y).Item() * b;
                    var predicted = logits.ArgMax(1).ToInt32Array();
                    var labels = y.ToInt32Array();
                    for (int i = 0; i < b; i++) if (predicted[i] == labels[i]) correct++;
                    count += b;
                }
            }
        }
        model.Train();
        return (lossSum / count, (double)correct / count);
    }

    private static string FormatTime(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
    }
}
