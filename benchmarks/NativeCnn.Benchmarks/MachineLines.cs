// What every CPU benchmark command prints first and loops over: the CPU (model, family/model, caches,
// the kernel path chosen) and the load average, so no number goes out without its machine; and the
// vector paths this CPU supports (the portable path left out where a command times kernels only).
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

internal static class MachineLines
{
    /// <summary>Prints the CPU line and the load average (where /proc/loadavg exists).</summary>
    public static void Print()
    {
        Console.WriteLine($"CPU: {CpuInfo.Current.Describe()}");
        Console.WriteLine(File.Exists("/proc/loadavg")
            ? $"load average: {File.ReadAllText("/proc/loadavg").Trim()}"
            : "load average: not available on this OS");
    }

    /// <summary>The CPU paths with vector kernels this CPU supports (avx512, avx2), widest first.</summary>
    public static List<CpuPath> VectorPaths() => CpuInfo.Supported().Where(p => p != CpuPath.Portable).ToList();
}
