// Section "bench": torch_baseline.py's GPU cases through the engine's public API, timed the way that
// script times them (warm-up calls, then the median of timed calls, each ending with a device
// synchronisation, as torch's CUDA events do): gemm_1024/4096/8192 (float32), copy_1GiB, the five
// resnet18 conv layers forward + backward at batch 128, and mnist_cnn_train_step at batch 256. Each
// step runs in a MemoryScope, so after warm-up it allocates nothing. With --quick every size shrinks
// and the case name carries the size actually run, so a quick number never passes for a real one.
using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Models;
using NativeCnn.Optim;

namespace NativeCnn.GpuLab;

public static class LabBench
{
    private sealed record Case(string Name, Func<Action> Setup, Func<double, JsonObject> Rates);

    public static void Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== bench");
        var device = gpu.Device;
        bool q = o.Quick;
        int warmup = q ? 1 : 3, reps = q ? 2 : 10;
        var rng = new Rng(0);
        var cases = new List<Case>();

        foreach (int n in q ? new[] { 32, 64 } : new[] { 1024, 4096, 8192 })
            cases.Add(new($"gemm_{n}", () =>
            {
                var a = Tensor.Randn(new[] { n, n }, rng, device).Keep();
                var b = Tensor.Randn(new[] { n, n }, rng, device).Keep();
                return () => { using (MemoryScope.Begin()) _ = a.MatMul(b); };
            }, ms => new JsonObject { ["dtype"] = "float32", ["tflops"] = Sig(2.0 * n * n * n / ms / 1e9) }));

        int copyFloats = q ? 1 << 18 : 1 << 28;
        cases.Add(new(q ? "copy_1MiB" : "copy_1GiB", () =>
        {
            var x = Tensor.Zeros(new[] { copyFloats }, DType.Float32, device).Keep();
            var y = Tensor.Zeros(new[] { copyFloats }, DType.Float32, device).Keep();
            return () => y.CopyFrom(x);
        }, ms => new JsonObject { ["gb_per_s"] = Sig(2.0 * copyFloats * 4 / ms / 1e6) }));

        int batch = q ? 1 : 128;
        foreach (var (ci0, co0, hw0, k, s) in new[] { (3, 64, 128, 7, 2), (64, 64, 32, 3, 1), (128, 128, 16, 3, 1), (256, 256, 8, 3, 1), (512, 512, 4, 3, 1) })
        {
            // quick: channels / 16 (the 3-channel input stays), spatial / 4 (at least 4)
            int ci = q && ci0 > 3 ? ci0 / 16 : ci0, co = q ? co0 / 16 : co0, hw = q ? Math.Max(4, hw0 / 4) : hw0;
            int ho = (hw + 2 * (k / 2) - k) / s + 1;
            double flops = 3.0 * 2 * batch * co * ho * ho * ci * k * k;
            cases.Add(new($"conv{k}x{k}_{ci}to{co}_{hw}px_s{s}_fwdbwd", () =>
            {
                var x = Tensor.Randn(new[] { batch, ci, hw, hw }, rng, device).Keep();
                var w = Tensor.Randn(new[] { co, ci, k, k }, rng, device, std: 0.05f).Keep();
                x.RequiresGrad = true;
                w.RequiresGrad = true;
                var ones = Tensor.Ones(new[] { batch, co, ho, ho }, DType.Float32, device).Keep();
                return () =>
                {
                    using (MemoryScope.Begin()) F.Conv2d(x, w, null, s, k / 2).Backward(ones);
                };
            }, ms => new JsonObject { ["batch"] = batch, ["tflops"] = Sig(flops / ms / 1e9) }));
        }

        int bs = q ? 2 : 256, px = q ? 8 : 28;
        cases.Add(new(q ? $"mnist_cnn_train_step_{px}px" : "mnist_cnn_train_step", () =>
        {
            var model = SimpleCnn.MnistCnn(10, new Rng(0)).To(device);
            var opt = new SGD(model.Parameters(), lr: 0.01f, momentum: 0.9f, weightDecay: 1e-4f);
            var x = Tensor.Randn(new[] { bs, 1, px, px }, rng, device).Keep();
            var labels = Enumerable.Range(0, bs).Select(i => (i * 7) % 10).ToArray();
            var y = Tensor.FromArray(labels, new[] { bs }).To(device).Keep();
            return () =>
            {
                using (MemoryScope.Begin())
                {
                    opt.ZeroGrad();
                    var loss = F.CrossEntropy(model.Forward(x), y);
                    loss.Backward();
                    opt.Step();
                }
            };
        }, ms => new JsonObject { ["amp"] = false, ["batch"] = bs, ["images_per_s"] = Sig(bs / ms * 1e3) }));

        foreach (var c in cases.Where(c => o.BenchFilter is null || c.Name.Contains(o.BenchFilter, StringComparison.Ordinal)))
        {
            try
            {
                var step = c.Setup();
                double ms = MedianMs(step, gpu, warmup, reps);
                var record = c.Rates(ms);
                record["case"] = c.Name;
                record["device"] = device.Kind == DeviceKind.Cuda ? "cuda" : device.ToString();
                record["median_ms"] = Math.Round(ms, 4);
                record["impl"] = "nativecnn";
                var written = results.Add("bench", record);
                Console.WriteLine($"  {c.Name}: {ms:F3} ms  {string.Join(", ", written.Where(p => p.Key is "tflops" or "gb_per_s" or "images_per_s").Select(p => $"{p.Key} {p.Value}"))}");
            }
            catch (Exception e)
            {
                results.Add("bench", new JsonObject { ["case"] = c.Name, ["error"] = $"{e.GetType().Name}: {e.Message}" });
                Console.WriteLine($"  {c.Name}: FAILED {e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Four significant digits (a simulator's 2e-5 TFLOP/s must not print as 0).</summary>
    internal static double Sig(double v) =>
        v == 0 || !double.IsFinite(v) ? v : Math.Round(v, Math.Clamp(3 - (int)Math.Floor(Math.Log10(Math.Abs(v))), 0, 15));

    /// <summary>Median wall time of <paramref name="reps"/> calls, each followed by a device synchronisation.</summary>
    internal static double MedianMs(Action step, GpuBackend gpu, int warmup, int reps)
    {
        for (int i = 0; i < warmup; i++) step();
        gpu.Synchronize();
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            gpu.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        return reps % 2 == 1 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    }
}
