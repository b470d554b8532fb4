// Section "bench": the library's benchmark cases (NativeCnn.Benchmarking.BenchSuite: torch_baseline.py's
// GPU cases under its names and sizes: gemm_1024/4096/8192 float32, copy_1GiB, the five resnet18 conv
// layers forward + backward at batch 128, mnist_cnn_train_step at batch 256, resnet18's step at 128 px
// in float32 and AMP; on the GPU the conv layers and the resnet18 step also in TF32, "_tf32", and the conv
// layers in float16, "_amp"), timed the way that script times them, each recorded as it finishes; the AMP
// step also on each other float16 kernel (LabHalfKernels.cs: variant rows); then OUTDIR/report.md, the side-by-side
// report with the floors. With --quick every size shrinks and the case name carries the size actually run.
using System.Text.Json.Nodes;
using NativeCnn.Backends.Gpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.GpuLab;

internal static class LabBench
{
    public static void Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== bench");
        var device = gpu.Device;
        int warmup = o.Quick ? 1 : 3, reps = o.Quick ? 2 : 10;
        var timed = new List<BenchResult>();
        var cases = BenchSuite.Cases(device, o.Quick).Where(c => o.BenchSelected(c.Name)).ToList();
        foreach (var c in cases) timed.Add(Time(c, null));
        // the AMP step again on each other float16 kernel, unless --half-ldmatrix chose one of them:
        // variant rows in summary.md beside the same PyTorch AMP numbers (report.md keeps the default's)
        if (HalfKernel.Of(gpu).IsDefault)
            foreach (var c in cases.Where(c => c.Name.EndsWith("_amp", StringComparison.Ordinal)))
            foreach (var kernel in HalfKernel.Others)
            {
                kernel.ApplyTo(gpu);
                try { Time(c, kernel.Variant); }
                finally { HalfKernel.Default.ApplyTo(gpu); }
            }

        BenchResult Time(BenchCase c, string? variant)
        {
            var r = BenchSuite.Run(c, device, warmup, reps);
            var record = (JsonObject)JsonNode.Parse(BenchReport.JsonLine(r))!;
            if (variant is not null) record["variant"] = variant;
            var written = results.Add("bench", record);
            string name = variant is null ? c.Name : $"{c.Name} [{variant}]";
            Console.WriteLine(r.Error is null
                ? $"  {name}: {r.MedianMs:F3} ms  {string.Join(", ", written.Where(p => p.Key is "tflops" or "gb_per_s" or "images_per_s").Select(p => $"{p.Key} {p.Value}"))}"
                : $"  {name}: FAILED {r.Error}");
            return r;
        }

        // torch's AMP records share the case name; ours carry "_amp" (ParseTorchAll keys them so; TorchPairing pairs)
        var torch = o.TorchBaseline is not null && File.Exists(o.TorchBaseline)
            ? BenchReport.ParseTorchAll(File.ReadLines(o.TorchBaseline))
            : new Dictionary<string, TorchRecord>();
        var notes = new[]
        {
            $"Device: {device} ({gpu.Accelerator.Name}); {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; NativeCnn GPU lab{(o.Quick ? ", quick sizes" : "")}.",
            torch.Count > 0 ? $"PyTorch: {o.TorchBaseline} (same card, same run)." : "PyTorch: no results given.",
            "",
        };
        File.WriteAllText(Path.Combine(results.OutDir, "report.md"),
                          BenchReport.Markdown("NativeCnn on the GPU beside PyTorch", timed, torch, Ceilings.From(timed, torch), notes));
    }
}
