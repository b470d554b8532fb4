// `step-profile`: where a CPU train step's work goes, primitive by primitive, on ONE thread timed by
// its CPU time (CpuProfile's thread-CPU clock), so the numbers hold on a busy, shared host.
//   DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- step-profile [case filter] [steps] [rows]
// Prints, per matching `nativecnn bench` case on each CPU path: the step's thread CPU time, the part
// spent inside the backend's primitives (the rest is autograd, allocation and bookkeeping) and the
// primitives' table (exclusive ms per step, most expensive first); then the same step on two threads:
// its best wall time, its process CPU time and every step's wall time in order (meaningful on a quiet
// host only; `nativecnn bench` is the measure there). The one-thread numbers are the work the two
// threads share.
using NativeCnn.Backends.Cpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.Benchmarks;

internal static class StepProfile
{
    public static int Run(string[] args)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("step-profile: needs Linux (thread CPU clocks)");
            return 1;
        }
        string filter = args.Length > 1 ? args[1] : "_step";
        int steps = args.Length > 2 && int.TryParse(args[2], out int s) && s > 0 ? s : 5;
        int rows = args.Length > 3 && int.TryParse(args[3], out int r) && r > 0 ? r : 30;
        MachineLines.Print();
        int savedGemm = CpuGemm.MaxThreads, savedLoop = CpuParallel.MaxThreads;
        var savedPath = CpuInfo.Path;
        CpuGemm.MaxThreads = CpuParallel.MaxThreads = 1;
        try
        {
            foreach (var c in BenchSuite.Cases(Device.Cpu))
            {
                if (!c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                foreach (var path in MachineLines.VectorPaths())
                {
                    CpuInfo.Select(path);
                    var prepared = c.Setup();
                    for (int i = 0; i < 3; i++) prepared.Step();
                    double best = double.MaxValue;
                    for (int i = 0; i < steps; i++)
                    {
                        double t0 = CpuProfile.ThreadCpuMs();
                        prepared.Step();
                        best = Math.Min(best, CpuProfile.ThreadCpuMs() - t0);
                    }
                    var profile = BenchSuite.ProfileCpu(c, 2, steps, threadCpuClock: true);
                    // the same step on two threads: its wall time (quiet host only) and the CPU time of
                    // the whole process (both threads' work, spinning included)
                    CpuGemm.MaxThreads = CpuParallel.MaxThreads = 2;
                    double wall2 = double.MaxValue, cpu2 = double.MaxValue;
                    var walls = new List<double>();
                    for (int i = 0; i < steps; i++)
                    {
                        long w0 = System.Diagnostics.Stopwatch.GetTimestamp();
                        double c0 = GemmShapes.ProcessCpu();
                        prepared.Step();
                        cpu2 = Math.Min(cpu2, (GemmShapes.ProcessCpu() - c0) * 1e3);
                        wall2 = Math.Min(wall2, System.Diagnostics.Stopwatch.GetElapsedTime(w0).TotalMilliseconds);
                        walls.Add(System.Diagnostics.Stopwatch.GetElapsedTime(w0).TotalMilliseconds);
                    }
                    CpuGemm.MaxThreads = CpuParallel.MaxThreads = 1;
                    // every step's two-thread wall time, in order: runs of slow steps are the host (a vCPU
                    // taken away), single slow steps the process (a collection, a late helper)
                    Console.WriteLine("two-thread step times, ms, in order: " + string.Join(" ", walls.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture))));
                    Console.WriteLine();
                    Console.WriteLine(FormattableString.Invariant(
                        $"## {c.Name}, {path}: {best:F1} ms of one thread's CPU per step (best of {steps}); primitives {profile.TotalMs / steps:F1} ms per step; two threads: {wall2:F1} ms wall, {cpu2:F1} ms process CPU"));
                    Console.WriteLine();
                    Console.Write(profile.Format(rows, steps));
                }
            }
        }
        finally
        {
            CpuGemm.MaxThreads = savedGemm;
            CpuParallel.MaxThreads = savedLoop;
            CpuInfo.Select(savedPath);
        }
        return 0;
    }
}
