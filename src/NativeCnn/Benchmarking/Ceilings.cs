// The device's measured ceilings, from which the report's floors come: the highest FLOP rate seen
// (a register-only FMA loop on the CPU; on a GPU the best GEMM rate in the same run, cuBLAS's when
// torch_baseline.py's numbers are given) and the copy bandwidth (bytes read + written per second).
// Must hold: a ceiling is always a measurement from this run, named with where it came from; never a
// datasheet number.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace NativeCnn.Benchmarking;

/// <summary>Peak FLOP/s and bandwidth in bytes/s, each with the measurement it came from.</summary>
internal sealed record Ceilings(double PeakFlops, string PeakSource, double BytesPerSecond, string BandwidthSource)
{
    /// <summary>Seconds-based floors of a case in milliseconds: FLOPs over peak, bytes over bandwidth
    /// (NaN where the ceiling or the work is unknown).</summary>
    public (double FlopMs, double ByteMs) Floors(double flops, double bytes) =>
        (PeakFlops > 0 && flops > 0 ? flops / PeakFlops * 1e3 : double.NaN,
         BytesPerSecond > 0 && bytes > 0 ? bytes / BytesPerSecond * 1e3 : double.NaN);

    /// <summary>Ceilings from a run's results: the best GEMM rate (ours, or PyTorch's when higher),
    /// the CPU FMA peak when measured, and the best copy rate.</summary>
    public static Ceilings From(IEnumerable<BenchResult> ours, IReadOnlyDictionary<string, TorchRecord> torch, double? cpuFmaPeak = null)
    {
        double peak = 0, bw = 0;
        string peakSrc = "none measured", bwSrc = "none measured";
        if (cpuFmaPeak is > 0) { peak = cpuFmaPeak.Value; peakSrc = "FMA loop on every core (this run)"; }
        foreach (var r in ours.Where(r => r.Error is null))
        {
            if (r.Family == "gemm" && r.Flops / r.MedianMs * 1e3 > peak) { peak = r.Flops / r.MedianMs * 1e3; peakSrc = $"NativeCnn {r.Case}"; }
            if (r.Family == "copy" && r.Bytes / r.MedianMs * 1e3 > bw) { bw = r.Bytes / r.MedianMs * 1e3; bwSrc = $"NativeCnn {r.Case}"; }
        }
        foreach (var t in torch.Values)
        {
            if (t.Case.StartsWith("gemm_", StringComparison.Ordinal) && t.Tflops is { } tf && tf * 1e12 > peak) { peak = tf * 1e12; peakSrc = $"PyTorch {t.Case}"; }
            if (t.Case.StartsWith("copy_", StringComparison.Ordinal) && t.GbPerS is { } gb && gb * 1e9 > bw) { bw = gb * 1e9; bwSrc = $"PyTorch {t.Case}"; }
        }
        return new Ceilings(peak, peakSrc, bw, bwSrc);
    }

    /// <summary>Measures the CPU's float32 FMA peak: independent FMA chains in registers on every core.</summary>
    public static double MeasureCpuFmaPeak(int milliseconds = 200)
    {
        int threads = Environment.ProcessorCount;
        var rates = new double[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            FmaLoop(1000); // JIT and warm-up
            long iterations = 0;
            var sw = Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < milliseconds)
            {
                FmaLoop(100_000);
                iterations += 100_000;
            }
            rates[t] = iterations * FlopsPerIteration / sw.Elapsed.TotalSeconds;
        });
        return rates.Sum();
    }

    private static int Lanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector<float>.Count;

    // 12 independent accumulators hide the FMA latency (4-5 cycles) at 2 FMAs per cycle.
    private static double FlopsPerIteration => 12.0 * Lanes * 2;

    private static float FmaLoop(int iterations)
    {
        if (Vector512.IsHardwareAccelerated) return Loop512(iterations);
        if (Vector256.IsHardwareAccelerated) return Loop256(iterations);
        return LoopVector(iterations);
    }

    private static float Loop512(int n)
    {
        var m = Vector512.Create(0.9999f); var c = Vector512.Create(1e-4f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static float Loop256(int n)
    {
        var m = Vector256.Create(0.9999f); var c = Vector256.Create(1e-4f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c); a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static float LoopVector(int n)
    {
        var m = new Vector<float>(0.9999f); var c = new Vector<float>(1e-4f);
        Vector<float> a0 = Vector<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < n; i++)
        {
            a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c; a4 = a4 * m + c; a5 = a5 * m + c;
            a6 = a6 * m + c; a7 = a7 * m + c; a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
        }
        return Vector.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
