// `gemm-shapes`: the packed SGEMM on the shapes the conv3x3 cases and the mnist_cnn / resnet18 train
// steps run (benchmarks/results/cpu.md), each micro-kernel this CPU runs, one and two threads.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- gemm-shapes [filter] [reps]
// One thread: GFLOP/s over the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a shared,
// busy host delays the run but barely changes the number. Two threads: over wall time (meaningful
// only on a quiet host) and over the process's CPU time (both threads' work: more than one thread's
// means the split costs extra work). Best of `reps` after one warm-up call; run with
// DOTNET_TieredCompilation=0 so every method runs fully optimised from its first call.
using System.Diagnostics;
using System.Runtime.InteropServices;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

internal static unsafe class GemmShapes
{
    private sealed record Shape(string Name, int M, int N, int K, bool TransA, bool TransB);

    private static readonly Shape[] Shapes =
    {
        new("conv3x3_64to64 forward", 64, 8192, 576, false, false),
        new("conv3x3_64to64 backward-data", 576, 8192, 64, true, false),
        new("conv3x3_64to64 backward-weight", 64, 576, 8192, false, true),
        new("mnist conv1 forward", 32, 50176, 9, false, false),
        new("mnist conv1 backward-weight", 32, 9, 50176, false, true),
        new("mnist conv2 forward (32 images)", 64, 6272, 288, false, false),
        new("mnist conv2 backward-data", 288, 6272, 64, true, false),
        new("mnist conv2 backward-weight", 64, 288, 6272, false, true),
        new("mnist conv3 forward", 128, 3136, 576, false, false),
        new("mnist conv3 backward-data", 576, 3136, 128, true, false),
        new("mnist conv3 backward-weight", 128, 576, 3136, false, true),
        new("mnist conv4 forward (32 images)", 128, 1568, 1152, false, false),
        new("mnist conv4 backward-data", 1152, 1568, 128, true, false),
        new("mnist conv4 backward-weight", 128, 1152, 1568, false, true),
        new("resnet18 layer2 forward", 128, 4096, 1152, false, false),
        new("resnet18 layer3 forward", 256, 1024, 2304, false, false),
        new("resnet18 layer4 forward", 512, 256, 4608, false, false),
        new("resnet18 layer4 backward-weight", 512, 4608, 256, false, true),
        new("gemm_1024", 1024, 1024, 1024, false, false),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, TimeSpec* time);

    private static double Clock(int id)
    {
        TimeSpec t;
        return ClockGetTime(id, &t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;
    }

    internal static double ThreadCpu() => Clock(3);   // CLOCK_THREAD_CPUTIME_ID
    internal static double ProcessCpu() => Clock(2);

    /// <summary>Least thread CPU time (seconds) of <paramref name="reps"/> calls after one warm-up call
    /// (the measure of conv-shapes and op-shapes too).</summary>
    internal static double BestThreadCpu(int reps, Action call)
    {
        call();
        double best = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            double t0 = ThreadCpu();
            call();
            best = Math.Min(best, ThreadCpu() - t0);
        }
        return best;
    }

    /// <summary>Uniform floats in [-0.5, 0.5).</summary>
    internal static float[] RandomFloats(Random rng, long length)
    {
        var v = new float[length];
        for (long i = 0; i < length; i++) v[i] = (float)rng.NextDouble() - 0.5f;
        return v;
    }  // CLOCK_PROCESS_CPUTIME_ID
    private static double Wall() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    public static int Run(string[] args)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("gemm-shapes: needs Linux (thread CPU clocks)");
            return 1;
        }
        string filter = args.Length > 1 ? args[1] : "";
        int reps = args.Length > 2 && int.TryParse(args[2], out int r) && r > 0 ? r : 5;
        var kernels = new List<GemmKernel>();
        if (CpuInfo.Supports(CpuPath.Avx512)) kernels.Add(GemmKernel.Vector512);
        if (CpuInfo.Supports(CpuPath.Avx2)) kernels.Add(GemmKernel.Vector256);
        MachineLines.Print();
        Console.WriteLine();
        Console.WriteLine("| shape (m x n x k) | where | kernel | 1 thread GFLOP/s (CPU time) | 2 threads GFLOP/s (wall) | 2 threads GFLOP/s (process CPU) |");
        Console.WriteLine("| --- | --- | --- | ---: | ---: | ---: |");
        var rng = new Random(1);
        int savedThreads = CpuGemm.MaxThreads;
        try
        {
            foreach (var s in Shapes)
            {
                if (filter.Length > 0 && !s.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
                var a = new float[(long)s.M * s.K];
                var b = new float[(long)s.K * s.N];
                var c = new float[(long)s.M * s.N];
                for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
                for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;
                double flops = 2.0 * s.M * s.N * s.K;
                foreach (var kernel in kernels)
                {
                    void Call() => CpuGemm.Run(kernel, s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, s.N);
                    CpuGemm.MaxThreads = 1;
                    Call();
                    double one = double.MaxValue;
                    for (int i = 0; i < reps; i++) { double t0 = ThreadCpu(); Call(); one = Math.Min(one, ThreadCpu() - t0); }
                    CpuGemm.MaxThreads = 2;
                    Call();
                    double wall = double.MaxValue, cpu = double.MaxValue;
                    for (int i = 0; i < reps; i++)
                    {
                        double w0 = Wall(), c0 = ProcessCpu();
                        Call();
                        wall = Math.Min(wall, Wall() - w0);
                        cpu = Math.Min(cpu, ProcessCpu() - c0);
                    }
                    string ta = s.TransA ? " tA" : "", tb = s.TransB ? " tB" : "";
                    Console.WriteLine(FormattableString.Invariant(
                        $"| {s.M}x{s.N}x{s.K}{ta}{tb} | {s.Name} | {kernel} | {flops / one * 1e-9:F1} | {flops / wall * 1e-9:F1} | {flops / cpu * 1e-9:F1} |"));
                }
            }
        }
        finally { CpuGemm.MaxThreads = savedThreads; }
        return 0;
    }
}
