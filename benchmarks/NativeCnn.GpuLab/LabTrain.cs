// Section "train": `nativecnn train` itself (TrainCommand.Train: mnist_cnn, one-cycle AdamW, the
// embedded 8,000 / 2,000 MNIST digits, seed 42) on the lab's device in float32, with --tf32 (float32
// convs and GEMMs in TF32 on sm_80+) and with --fp16 (mixed precision: tensor cores on sm_80+), then
// on the CPU in float32 with the same seed, so one run shows whether the GPU reaches the CPU's accuracy
// and TF32 and mixed precision the float32 one. With --quick: 32 / 16
// digits shrunk to 7x7 (4x4 block means), batch 16: enough to run every step of the loop on the simulator.
using System.Text.Json.Nodes;
using NativeCnn.Backends.Gpu;
using NativeCnn.Cli;
using NativeCnn.Data;

namespace NativeCnn.GpuLab;

internal static class LabTrain
{
    public static void Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== train");
        var data = Mnist.LoadEmbedded();
        var (train, valid) = o.Quick ? (Shrink(data.Train.Take(32), 4), Shrink(data.Valid.Take(16), 4)) : (data.Train, data.Valid);
        var args = new List<string> { "--epochs", o.Epochs.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (o.Quick) args.AddRange(new[] { "--bs", "16" });
        var fp32 = TrainOptions.Parse(args.ToArray());
        var fp16 = TrainOptions.Parse(args.Append("--fp16").ToArray());
        var tf32 = TrainOptions.Parse(args.Append("--tf32").ToArray());

        var runs = new List<(Device Device, TrainOptions Options)> { (gpu.Device, fp32), (gpu.Device, tf32), (gpu.Device, fp16) };
        if (o.CpuTrain) runs.Add((Device.Cpu, fp32));
        foreach (var (device, options) in runs)
        {
            string precision = options.Fp16 ? "fp16" : options.Tf32 ? "tf32" : "fp32";
            Console.WriteLine($"  {device} {precision}: {train.Count} train / {valid.Count} valid images of {train.Height}x{train.Width}, " +
                              $"{options.Epochs} epochs, batch {options.BatchSize}, lr {options.Lr}, seed {options.Seed}");
            var table = new StringWriter();
            var epochs = TrainCommand.Train(options, train, valid, table, TextWriter.Null, device);
            foreach (var line in table.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine("    " + line.TrimEnd());
            foreach (var e in epochs)
                results.Add("train", new JsonObject
                {
                    ["device"] = device.ToString(), ["epoch"] = e.Epoch, ["train_loss"] = Math.Round(e.TrainLoss, 6),
                    ["valid_loss"] = Math.Round(e.ValidLoss, 6), ["accuracy"] = Math.Round(e.Accuracy, 6), ["seconds"] = Math.Round(e.Seconds, 3),
                    ["images"] = train.Count, ["bs"] = options.BatchSize, ["precision"] = precision,
                });
        }
    }

    /// <summary>Each image replaced by the means of its f x f blocks (28x28 -> 7x7 for f = 4).</summary>
    private static ImageDataset Shrink(ImageDataset d, int f)
    {
        int h = d.Height / f, w = d.Width / f;
        var pixels = new byte[d.Count * h * w];
        for (int i = 0; i < d.Count; i++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int sum = 0;
                    for (int dy = 0; dy < f; dy++)
                        for (int dx = 0; dx < f; dx++)
                            sum += d.Pixels[(long)i * d.Height * d.Width + (y * f + dy) * d.Width + x * f + dx];
                    pixels[(i * h + y) * w + x] = (byte)(sum / (f * f));
                }
        return new ImageDataset(pixels, d.Labels.ToArray(), h, w, d.Classes, d.Name + $" ({h}x{w})");
    }
}
