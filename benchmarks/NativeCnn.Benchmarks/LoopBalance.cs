// `loop-balance`: what the CPU backend's loop scheduling buys, measured step against step in one
// process, so a shared host's slow spells fall on both sides alike.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- loop-balance [case filter] [pairs]
// Per matching `nativecnn bench` case on each CPU path, steps alternate between the two settings of
// CpuParallel: "equal" (equal chunks, the caller sleeps at once when it waits for a helper) and
// "guided" (shrinking chunks for the convolutions' image, row-panel and packing loops, and a short poll
// before sleeping). Prints the
// median wall time of each and the median of the paired differences (guided - equal, negative: faster).
using System.Diagnostics;
using System.Globalization;
using NativeCnn.Backends.Cpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.Benchmarks;

internal static class LoopBalance
{
    public static int Run(string[] args)
    {
        string filter = args.Length > 1 ? args[1] : "conv3x3";
        int pairs = 40;
        if (args.Length > 2 && !(int.TryParse(args[2], out pairs) && pairs > 0 && pairs <= 100_000))
        {
            Console.Error.WriteLine($"loop-balance: pairs must be a whole number from 1 to 100000, got '{args[2]}'");
            return 1;
        }
        var cases = BenchSuite.Cases(Device.Cpu).Where(c => c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        if (cases.Count == 0 || MachineLines.VectorPaths().Count == 0)
        {
            Console.Error.WriteLine(cases.Count == 0
                ? $"loop-balance: no bench case contains '{filter}'; the cases: {string.Join(", ", BenchSuite.Cases(Device.Cpu).Select(c => c.Name))}"
                : "loop-balance: this CPU has no vector path (the portable path only)");
            return 1;
        }
        MachineLines.Print();
        Console.WriteLine("| case | path | equal ms (median) | guided ms (median) | median of paired differences | pairs |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        var savedPath = CpuInfo.Path;
        bool savedGuided = CpuParallel.Guided;
        long savedSpin = CpuParallel.JoinSpinTicks;
        try
        {
            foreach (var c in cases)
            {
                foreach (var path in MachineLines.VectorPaths())
                {
                    CpuInfo.Select(path);
                    var prepared = c.Setup();
                    var equal = new double[pairs];
                    var guided = new double[pairs];
                    for (int i = 0; i < 6; i++) { Set(i % 2 == 1, savedSpin); prepared.Step(); }
                    for (int i = 0; i < pairs; i++)
                    {
                        // the order within a pair alternates too, so neither side always follows the other
                        bool guidedFirst = i % 2 == 1;
                        for (int k = 0; k < 2; k++)
                        {
                            bool on = guidedFirst == (k == 0);
                            Set(on, savedSpin);
                            long t0 = Stopwatch.GetTimestamp();
                            prepared.Step();
                            (on ? guided : equal)[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                        }
                    }
                    var diffs = guided.Zip(equal, (a, b) => a - b).ToArray();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {c.Name} | {path} | {BenchSuite.Median(equal):F3} | {BenchSuite.Median(guided):F3} | {BenchSuite.Median(diffs):+0.000;-0.000} | {pairs} |"));
                }
            }
        }
        finally
        {
            CpuInfo.Select(savedPath);
            CpuParallel.Guided = savedGuided;
            CpuParallel.JoinSpinTicks = savedSpin;
        }
        return 0;
    }

    private static void Set(bool guided, long spinTicks)
    {
        CpuParallel.Guided = guided;
        CpuParallel.JoinSpinTicks = guided ? spinTicks : 0;
    }
}
