// Section "bench", float16 part: torch_baseline.py's float16 matmul cases (gemm_1024/4096/8192,
// dtype float16: torch's cuBLAS half GEMM) against the engine's float16 GEMM (float16 A and B,
// float32 accumulation and C) on the path the device picks (tensor cores on sm_80+), plus the
// widening path at 4096 for the ladder, and (unless --half-ldmatrix chose another) each other kernel
// (LabHalfKernels.cs) at 4096 and 8192 as variant rows ("mma-w64x32", "ldmatrix-w64x32", ...)
// beside the same PyTorch numbers. Timed as LabBench times (warm-up, median of synchronised calls). With --quick the
// sizes shrink and the case names carry them.
using System.Text.Json.Nodes;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.GpuLab;

internal static class LabBenchFp16
{
    public static void Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        bool q = o.Quick;
        int warmup = q ? 1 : 3, reps = q ? 2 : 10;
        var sizes = q ? new[] { 32, 64 } : new[] { 1024, 4096, 8192 };
        var chosen = HalfKernel.Of(gpu);
        var runs = sizes.Select(n => (n, HalfGemmPath.Auto, Kernel: chosen)).ToList();
        runs.Add((q ? 64 : 4096, HalfGemmPath.Widen, HalfKernel.Default));
        if (chosen.IsDefault)
            foreach (var kernel in HalfKernel.Others)
                runs.AddRange(sizes.Skip(1).Select(n => (n, HalfGemmPath.Auto, kernel)));
        foreach (var (n, path, kernel) in runs)
        {
            string name = $"gemm_{n}" + (path == HalfGemmPath.Widen ? "_widen" : "");
            if (!o.BenchSelected(name)) continue;
            var saved = gpu.Options.HalfGemm;
            try
            {
                gpu.Options.HalfGemm = path;
                kernel.ApplyTo(gpu);
                var a = HalfRandom(gpu, n * n, 1);
                var b = HalfRandom(gpu, n * n, 2);
                var c = gpu.Allocate(DType.Float32, n * n);
                double ms = BenchSuite.MedianMs(() => gpu.Gemm(false, false, n, n, n, 1f, a, 0, n, b, 0, n, 0f, c, 0, n), gpu.Device, warmup, reps);
                double tflops = BenchReport.Sig(2.0 * n * n * n / ms / 1e9);
                var record = new JsonObject
                {
                    ["case"] = name, ["dtype"] = "float16", ["path"] = gpu.EffectiveHalfGemm.ToString(),
                    ["tflops"] = tflops,
                    ["device"] = gpu.Device.Kind == DeviceKind.Cuda ? "cuda" : gpu.Device.ToString(),
                    ["median_ms"] = Math.Round(ms, 4), ["impl"] = "nativecnn",
                };
                string? variant = kernel.Variant;   // null for GemmFp16.cs's kernel
                if (variant is not null) record["variant"] = variant;
                results.Add("bench", record);
                Console.WriteLine($"  {name} float16 ({gpu.EffectiveHalfGemm}{(variant is null ? "" : ", " + variant)}): {ms:F3} ms  tflops {tflops}");
                foreach (var s in new[] { a, b, c }) gpu.ReturnToPool(s);
            }
            catch (Exception e)
            {
                results.Add("bench", new JsonObject { ["case"] = name, ["dtype"] = "float16", ["error"] = $"{e.GetType().Name}: {e.Message}" });
                Console.WriteLine($"  {name} float16: FAILED {e.GetType().Name}: {e.Message}");
            }
            finally { gpu.Options.HalfGemm = saved; chosen.ApplyTo(gpu); }
        }
    }

    /// <summary>n standard-normal values as float16 on the device.</summary>
    internal static Storage HalfRandom(GpuBackend gpu, int n, ulong seed)
    {
        var f = gpu.Allocate(DType.Float32, n);
        gpu.RandomNormal(f, seed, 0f, 1f);
        var h = gpu.Allocate(DType.Float16, n);
        gpu.Cast(f, h);
        gpu.ReturnToPool(f);
        return h;
    }
}
