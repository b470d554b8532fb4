// Section "kernels": the GPU kernel lab proper. Per kernel family the variants kept, the naive one
// first (copy; elementwise add; sum reduction; SGEMM naive, 64x64 and 128x128 tiles; a long-k product unsplit
// and split in k; HGEMM widened, then on tensor cores with 64x64 and 128x128 tiles; conv forward through
// im2col + the tiled GEMM), each validated against the CPU
// backend on the same data, then timed with device events (ILGPU profiling markers on the launch
// stream, i.e. CUDA events) after warm-up, the median of many launches. Printed and recorded as ms, GFLOP/s or GB/s and % of the device's measured
// ceilings: for FLOP-bound families the cuBLAS SGEMM rate of torch_baseline.py at the same size (else
// its best GEMM), for memory-bound ones the copy bandwidth (torch's copy_1GiB, else this lab's copy).
// Must hold: a variant that fails validation is recorded as failed and never timed as if it passed.
using System.Diagnostics;
using System.Text.Json.Nodes;
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Benchmarking;
using NativeCnn.GpuLab.Kernels;

namespace NativeCnn.GpuLab;

internal static class LabKernels
{
    /// <summary>A variant: what it computes (family, case), its work, one launch, and its check
    /// (largest error relative to the reference's largest magnitude, and the tolerance).</summary>
    private sealed record Variant(string Family, string Name, string Case, double Flops, double Bytes, Action Launch, Func<(double Err, double Tol)> Validate);

    public static int Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== kernels");
        var acc = gpu.Accelerator;
        var device = gpu.Device;
        bool q = o.Quick;
        int warmup = q ? 1 : 3, reps = q ? 3 : 20;
        var torch = o.TorchBaseline is not null && File.Exists(o.TorchBaseline)
            ? BenchReport.ParseTorch(File.ReadLines(o.TorchBaseline)) : new Dictionary<string, TorchRecord>();
        var torchHalf = o.TorchBaseline is not null && File.Exists(o.TorchBaseline)
            ? BenchReport.ParseTorch(File.ReadLines(o.TorchBaseline), "float16") : new Dictionary<string, TorchRecord>();
        var rng = new Rng(11);
        var variants = new List<Variant>();

        // ---- memory-bound families: copy, elementwise add, sum reduction
        int n = q ? 1 << 16 : 1 << 26;
        string mib = $"{n * 4L >> 20}MiB";
        if (q) mib = $"{n * 4L >> 10}KiB";
        var x = Tensor.Randn(new[] { n }, rng, device).Keep();
        var x2 = Tensor.Randn(new[] { n }, rng, device).Keep();
        var y = Tensor.Zeros(new[] { n }, DType.Float32, device).Keep();
        var sum = Tensor.Zeros(new[] { 1 }, DType.Float32, device).Keep();
        float[] hx = x.ToArray(), hx2 = x2.ToArray();
        int[] flat = { n }, unit = { 1 };
        variants.Add(new("copy", "strided-copy", $"copy_{mib}", 0, 8.0 * n,
            () => gpu.Copy(x.Storage, 0, unit, y.Storage, 0, unit, flat),
            () => MaxRelError(y.ToArray(), hx, 0)));
        variants.Add(new("elementwise", "add", $"add_{mib}", n, 12.0 * n,
            () => gpu.Binary(BinaryOp.Add, x.Storage, 0, unit, x2.Storage, 0, unit, y.Storage, flat),
            () => MaxRelError(y.ToArray(), hx.Zip(hx2, (a, b) => a + b).ToArray(), 0)));
        variants.Add(new("reduce", "sum", $"sum_{mib}", n, 4.0 * n,
            () => gpu.Reduce(ReduceOp.Sum, x.Storage, sum.Storage, 1, n, 1),
            () =>
            {
                double reference = hx.Sum(v => (double)v), got = sum.ToArray()[0];
                // a float32 sum of n standard normals: error grows like sqrt(n) ulps of the partial sums
                return (Math.Abs(got - reference) / Math.Sqrt(n), 1e-4);
            }));

        // ---- SGEMM: naive, then the register-tiled kernel the engine uses
        var naive = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(GemmNaiveKernels.GemmNaiveKernel);
        foreach (int s in q ? new[] { 48 } : new[] { 1024, 4096 })
        {
            var a = Tensor.Randn(new[] { s, s }, rng, device).Keep();
            var b = Tensor.Randn(new[] { s, s }, rng, device).Keep();
            var c = Tensor.Zeros(new[] { s, s }, DType.Float32, device).Keep();
            float[] reference = Tensor.FromArray(a.ToArray(), new[] { s, s }).MatMul(Tensor.FromArray(b.ToArray(), new[] { s, s })).ToArray();
            double flops = 2.0 * s * s * s, bytes = 3.0 * s * s * 4;
            // float32 sums of s products in different orders: relative error about sqrt(s) ulps
            double tol = 1e-5 * Math.Sqrt(s);
            var groups = new KernelConfig(new Index2D((s + GemmNaiveKernels.GroupX - 1) / GemmNaiveKernels.GroupX, (s + GemmNaiveKernels.GroupY - 1) / GemmNaiveKernels.GroupY),
                                          new Index2D(GemmNaiveKernels.GroupX, GemmNaiveKernels.GroupY));
            var av = ((GpuStorage)a.Storage).F32; var bv = ((GpuStorage)b.Storage).F32; var cv = ((GpuStorage)c.Storage).F32;
            variants.Add(new("sgemm", "naive", $"gemm_{s}", flops, bytes,
                () => naive(groups, av, bv, cv, s, s, s), () => MaxRelError(c.ToArray(), reference, tol)));
            foreach (var (path, name) in new[] { (GemmTile.Tile64, "tiled-64x64-8x4"), (GemmTile.Tile128, "tiled-128x128-8x8") })
            {
                variants.Add(new("sgemm", name, $"gemm_{s}", flops, bytes, () =>
                {
                    var saved = gpu.Options.FloatGemmTile;
                    gpu.Options.FloatGemmTile = path;
                    try { gpu.Gemm(false, false, s, s, s, 1f, a.Storage, 0, s, b.Storage, 0, s, 0f, c.Storage, 0, s); }
                    finally { gpu.Options.FloatGemmTile = saved; }
                }, () => MaxRelError(c.ToArray(), reference, tol)));
            }
        }

        // ---- split-k on conv backward-weight's product gW (K x CRS) = gy' (K x k) * col^T (k x CRS): resnet18's
        // layer1 3x3 64->64 at 32x32 and batch 256, one column chunk of 56 images (k = 57,344). Unsplit it is
        // 9 tiles of 64x64; split-k spreads k over the SMs (ChooseSplitK; forced to 8 on the simulator).
        {
            int wm = q ? 16 : 64, wn = q ? 24 : 576, wk = q ? 2048 : 57_344;
            var a = Tensor.Randn(new[] { wm, wk }, rng, device).Keep();
            var b = Tensor.Randn(new[] { wn, wk }, rng, device).Keep();   // col as stored: (CRS, k), used transposed
            var c = Tensor.Zeros(new[] { wm, wn }, DType.Float32, device).Keep();
            float[] reference = Tensor.FromArray(a.ToArray(), new[] { wm, wk }).MatMul(Tensor.FromArray(b.ToArray(), new[] { wn, wk }).T).ToArray();
            foreach (var (split, name) in new[] { ((int?)1, "unsplit"), (q ? 8 : (int?)null, "split-k") })
            {
                variants.Add(new("sgemm-splitk", name, $"gemm_{wm}x{wn}x{wk}_wgrad", 2.0 * wm * wn * wk, 4.0 * ((double)wm * wk + (double)wn * wk + wm * wn), () =>
                {
                    var saved = gpu.Options.ForcedSplitK;
                    gpu.Options.ForcedSplitK = split;
                    try { gpu.Gemm(false, true, wm, wn, wk, 1f, a.Storage, 0, wk, b.Storage, 0, wk, 0f, c.Storage, 0, wn); }
                    finally { gpu.Options.ForcedSplitK = saved; }
                }, () => MaxRelError(c.ToArray(), reference, 1e-5 * Math.Sqrt(wk))));
            }
        }

        // ---- HGEMM (float16 A and B, float32 accumulation and C): widened to the float32 GEMM, then
        // the mma.sync tensor-core kernel (emulated on the simulator). The reference multiplies the
        // float16-rounded inputs in float32 on the CPU, so only the summation order differs.
        foreach (int s in q ? new[] { 64 } : new[] { 4096 })
        {
            var ah = HalfRandom(gpu, s * s, 21, out var aRounded);
            var bh = HalfRandom(gpu, s * s, 22, out var bRounded);
            var c = Tensor.Zeros(new[] { s, s }, DType.Float32, device).Keep();
            float[] reference = Tensor.FromArray(aRounded, new[] { s, s }).MatMul(Tensor.FromArray(bRounded, new[] { s, s })).ToArray();
            double tol = 1e-5 * Math.Sqrt(s);
            // "-words": the operands loaded 16 bits at a time, as before 16-byte vector loads
            // "ldmatrix": GemmFp16Ldmatrix.cs (tiles as stored, swizzled, fragments by ldmatrix), 8 warps of
            // 64x32 or 4 of 64x64 (-w64x64); each also "+prefetch" (asking L1 for the slice after next:
            // HalfKernel.Prefetch) and "+async" (slices by cp.async into a ring of 3: GemmFp16Async.cs)
            const HalfLdmatrixKernel Off = HalfLdmatrixKernel.Off;
            foreach (var (path, tile, vectors, ldmatrix, name) in new[] { (HalfGemmPath.Widen, GemmTile.Auto, true, Off, "widen+sgemm"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile64, false, Off, "mma.sync-64x64-words"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile64, true, Off, "mma.sync-64x64"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile128, false, Off, "mma.sync-128x128-words"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile128, true, Off, "mma.sync-128x128"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile128, true, HalfLdmatrixKernel.Warp64x32, "ldmatrix-128x128"),
                                                                           (HalfGemmPath.TensorCore, GemmTile.Tile128, true, HalfLdmatrixKernel.Warp64x64, "ldmatrix-128x128-w64x64") })
            foreach (string copy in ldmatrix == Off ? new[] { "" } : new[] { "", "+prefetch", "+async" })
            {
                bool prefetch = copy == "+prefetch", async = copy == "+async";
                variants.Add(new("hgemm", name + copy, $"gemm_{s}_float16", 2.0 * s * s * s, 2.0 * 2 * s * s + 4.0 * s * s, () =>
                {
                    var options = gpu.Options;
                    var (savedPath, savedTile, savedKernel) = (options.HalfGemm, options.HalfGemmTile, HalfKernel.Of(gpu));
                    (options.HalfGemm, options.HalfGemmTile, options.HalfVectorLoads) = (path, tile, vectors);
                    new HalfKernel(ldmatrix, async, Prefetch: prefetch).ApplyTo(gpu);
                    try { gpu.Gemm(false, false, s, s, s, 1f, ah, 0, s, bh, 0, s, 0f, c.Storage, 0, s); }
                    finally
                    {
                        (options.HalfGemm, options.HalfGemmTile, options.HalfVectorLoads) = (savedPath, savedTile, true);
                        savedKernel.ApplyTo(gpu);
                    }
                }, () => MaxRelError(c.ToArray(), reference, tol)));
            }
        }

        // ---- conv forward: im2col + the tiled GEMM, at resnet18's conv3x3_64to64 layer (32x32 at 128px input)
        {
            int batch = q ? 1 : 128, ch = q ? 4 : 64, hw = q ? 8 : 32;
            var cx = Tensor.Randn(new[] { batch, ch, hw, hw }, rng, device).Keep();
            var cw = Tensor.Randn(new[] { ch, ch, 3, 3 }, rng, device, std: 0.05f).Keep();
            var g = F.ConvGeometryFor(cx, cw, null, (1, 1), (1, 1), (1, 1));
            var cy = Tensor.Zeros(new[] { batch, ch, hw, hw }, DType.Float32, device).Keep();
            var reference = F.Conv2d(Tensor.FromArray(cx.ToArray(), cx.ShapeArray), Tensor.FromArray(cw.ToArray(), cw.ShapeArray), null, 1, 1).ToArray();
            variants.Add(new("conv", "im2col+tiled-gemm", $"conv3x3_{ch}to{ch}_{hw}px_s1_fwd", 2.0 * batch * ch * hw * hw * ch * 9,
                4.0 * (cx.Numel + cw.Numel + cy.Numel),
                () => gpu.Conv2dForward(cx.Storage, cw.Storage, null, cy.Storage, g),
                () => MaxRelError(cy.ToArray(), reference, 1e-5 * Math.Sqrt(ch * 9))));
        }

        double bandwidth = torch.TryGetValue("copy_1GiB", out var tc) && tc.GbPerS is { } gbs ? gbs * 1e9 : 0;
        string bandwidthSource = bandwidth > 0 ? "PyTorch copy_1GiB" : "";
        int failed = 0;
        foreach (var v in variants.Where(v => o.Variant is null || v.Name == o.Variant))
        {
            var record = new JsonObject { ["family"] = v.Family, ["variant"] = v.Name, ["case"] = v.Case, ["device"] = device.ToString() };
            try
            {
                v.Launch();
                acc.Synchronize();
                var (err, tol) = v.Validate();
                record["max_rel_error"] = err;
                record["tolerance"] = tol;
                record["passed"] = err <= tol;
                if (!(err <= tol))
                {
                    failed++;
                    results.Add("kernel", record);
                    Console.WriteLine($"  FAIL {v.Family}/{v.Name} {v.Case}: error {err:G3} > {tol:G3}");
                    continue;
                }
                double ms = MedianMs(acc, device, v.Launch, warmup, reps, out string timer);
                record["median_ms"] = Math.Round(ms, 5);
                record["timer"] = timer;
                if (v.Family == "copy" && bandwidth == 0) { bandwidth = v.Bytes / ms * 1e3; bandwidthSource = $"this lab's {v.Case}"; }
                string rate;
                if (v.Family is "sgemm" or "hgemm" or "conv")
                {
                    double tflops = v.Flops / ms / 1e9;
                    record["tflops"] = BenchReport.Sig(tflops);
                    // hgemm against cuBLAS's float16 GEMM of the same size, the others against its SGEMM
                    var cublas = v.Family == "hgemm"
                        ? torchHalf.GetValueOrDefault(v.Case.Replace("_float16", ""))
                        : torch.GetValueOrDefault(v.Case) ?? torch.Values.Where(t => t.Case.StartsWith("gemm_", StringComparison.Ordinal) && t.Tflops is not null).MaxBy(t => t.Tflops);
                    if (cublas?.Tflops is { } peak and > 0) { record["pct_of_cublas"] = Math.Round(100 * tflops / peak, 1); record["cublas_case"] = cublas.Case; }
                    rate = $"{tflops * 1e3:G4} GFLOP/s{(record["pct_of_cublas"] is { } p ? $" ({p}% of cuBLAS {cublas!.Case})" : "")}";
                }
                else
                {
                    double gb = v.Bytes / ms / 1e6;
                    record["gb_per_s"] = BenchReport.Sig(gb);
                    if (bandwidth > 0) { record["pct_of_bandwidth"] = Math.Round(100 * gb * 1e9 / bandwidth, 1); record["bandwidth_source"] = bandwidthSource; }
                    rate = $"{gb:G4} GB/s{(record["pct_of_bandwidth"] is { } p ? $" ({p}% of {bandwidthSource})" : "")}";
                }
                results.Add("kernel", record);
                Console.WriteLine($"  {v.Family}/{v.Name} {v.Case}: {ms:F4} ms, {rate}, error {err:G3}");
            }
            catch (Exception e)
            {
                failed++;
                record["passed"] = false;
                record["error"] = $"{e.GetType().Name}: {e.Message}";
                results.Add("kernel", record);
                Console.WriteLine($"  FAIL {v.Family}/{v.Name} {v.Case}: {e.GetType().Name}: {e.Message}");
            }
        }
        return failed;
    }

    /// <summary>n standard-normal values as float16 on the device (LabBenchFp16's), and the same values
    /// (rounded) as float32 on the host.</summary>
    private static Storage HalfRandom(GpuBackend gpu, int n, ulong seed, out float[] rounded)
    {
        var h = LabBenchFp16.HalfRandom(gpu, n, seed);
        var f = gpu.Allocate(DType.Float32, n);
        gpu.Cast(h, f);
        rounded = new float[n];
        gpu.ToHost(f, 0, rounded);
        gpu.ReturnToPool(f);
        return h;
    }

    /// <summary>Largest |got - want| over the largest |want| (0 when equal), with the tolerance.</summary>
    private static (double Err, double Tol) MaxRelError(float[] got, float[] want, double tol)
    {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < want.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)got[i] - want[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)want[i]));
        }
        if (double.IsNaN(got.Sum())) maxDiff = double.PositiveInfinity;
        return (maxRef == 0 ? maxDiff : maxDiff / maxRef, tol);
    }

    /// <summary>Median time of <paramref name="reps"/> launches measured with device events around each
    /// (falls back to a stopwatch with synchronisation where markers are not available).</summary>
    private static double MedianMs(Accelerator acc, Device gpuDevice, Action launch, int warmup, int reps, out string timer)
    {
        for (int i = 0; i < warmup; i++) launch();
        acc.Synchronize();
        var times = new double[reps];
        timer = "device events";
        try
        {
            for (int i = 0; i < reps; i++)
            {
                using var start = acc.DefaultStream.AddProfilingMarker();
                launch();
                using var end = acc.DefaultStream.AddProfilingMarker();
                times[i] = end.MeasureFrom(start).TotalMilliseconds;
            }
        }
        catch (NotSupportedException)
        {
            timer = "stopwatch + synchronize";
            return BenchSuite.MedianMs(launch, gpuDevice, 0, reps);
        }
        return BenchSuite.Median(times);
    }
}
