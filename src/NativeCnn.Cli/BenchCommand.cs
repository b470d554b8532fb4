// `nativecnn bench`: the main benchmark cases (torch_baseline.py's names and sizes for the device
// kind) timed on the user's own device, printed as a table; with --torch the PyTorch results of the
// same machine go beside them as ratios, and --out writes the markdown report with the floors
// (benchmarks/results/<device>.md). Must hold: the numbers printed are the ones measured in this
// call; a quick run's cases carry their smaller sizes in their names.
using System.Globalization;
using NativeCnn.Backends.Cpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.Cli;

public static class BenchCommand
{
    public const string Usage =
        "Usage: nativecnn bench [options]\n" +
        "\n" +
        "Times the main cases of ../shared/reference/torch_baseline.py on this device (GEMM, a copy, the\n" +
        "five resnet18 conv layers forward+backward, the mnist_cnn train step) under the script's case\n" +
        "names, and prints ms and rates. Give the script's output (python3 torch_baseline.py --device cpu\n" +
        "> torch.jsonl) with --torch to see the ratios; --out writes the markdown report with the floors\n" +
        "(FLOPs over the measured peak, bytes over the measured copy bandwidth). On a GPU the conv cases\n" +
        "and the resnet18 step also run in TF32 (names ending _tf32) and float16 (_amp); each case is paired\n" +
        "with PyTorch's record of its precision: strict float32 with _notf32 (TF32 off) where the script\n" +
        "has one, _tf32 with PyTorch's default, _amp with PyTorch AMP.\n" +
        "\n" +
        "Options:\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --quick        small sizes (seconds; case names carry the sizes run)\n" +
        "  --tf32         run every float32 case in TF32 (Precision.AllowTf32), named with _tf32 and paired with\n" +
        "                 PyTorch's default; the TF32 and float16 variants the GPU case list has are then left out\n" +
        "  --cases TEXT   only the cases whose name contains TEXT\n" +
        "  --torch FILE   torch_baseline.py's output from this machine, for the PyTorch columns and ratios\n" +
        "  --out FILE     write the markdown report to FILE\n" +
        "  --warmup N     untimed calls per case (default 3)\n" +
        "  --reps N       timed calls per case; the median is reported (default 10)\n" +
        "  --json         print one JSON object per case (torch_baseline.py's fields) instead of the table\n" +
        "                 (on a GPU each case also carries peak_mem_mb: the device memory high-water mark)\n" +
        "  --cpu-path P   CPU kernel path: auto (default: chosen from this CPU), avx512, avx2 (256-bit, as an\n" +
        "                 AVX2-only CPU runs) or portable; the environment variable NATIVECNN_CPU_PATH does the same\n" +
        "  --profile      after timing, print each case's per-primitive CPU profile (5 steps, exclusive ms)\n" +
        "  --verbose      stack traces on errors\n" +
        "  -h, --help     show this help";

    /// <summary>Every flag bench takes.</summary>
    public static readonly string[] Flags = { "--device", "--quick", "--tf32", "--json", "--profile", "--cpu-path", "--cases", "--torch", "--out", "--warmup", "--reps", "--verbose", "--help" };

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string device = "auto";
        string? filter = null, torchPath = null, outPath = null;
        bool quick = false, json = false, profile = false, tf32 = false;
        CpuPath? cpuPath = null;
        int warmup = 3, reps = 10;
        var reader = new ArgReader(args, "bench", Flags);
        while (reader.Next())
        {
            string arg = reader.Flag;
            string Value() => reader.Value();
            switch (arg)
            {
                case "--help" or "-h": stdout.WriteLine(Usage); return Cli.ExitOk;
                case "--device": device = Value(); break;
                case "--quick": reader.NoValue(); quick = true; break;
                case "--tf32": reader.NoValue(); tf32 = true; break;
                case "--json": reader.NoValue(); json = true; break;
                case "--profile": reader.NoValue(); profile = true; break;
                case "--cpu-path":
                    {
                        string v = Value();
                        cpuPath = CpuInfo.Parse(v) ?? throw new UsageException($"bench: --cpu-path expects auto, avx512, avx2 or portable, got '{v}'");
                        break;
                    }
                case "--verbose": reader.NoValue(); break;
                case "--cases": filter = Value(); break;
                case "--torch": torchPath = Value(); break;
                case "--out": outPath = Value(); break;
                case "--warmup": warmup = Count(arg, Value(), min: 0); break;
                case "--reps": reps = Count(arg, Value(), min: 1); break;
                default:
                    throw new UsageException(arg.StartsWith('-')
                        ? $"bench: unknown option '{arg}'; expected --device, --quick, --tf32, --cases, --torch, --out, --warmup, --reps, --json, --cpu-path, --profile or --help"
                        : $"bench: unexpected argument '{arg}'; bench takes only options (see 'nativecnn bench --help')");
            }
        }
        if (device is not ("auto" or "cpu" or "cuda" or "simulator") && !device.StartsWith("cuda:", StringComparison.Ordinal))
            throw new UsageException($"bench: --device expects auto, cpu, cuda, cuda:N or simulator, got '{device}'");
        // Read the PyTorch file first: a wrong path fails before minutes of timing.
        var torch = torchPath is null ? new Dictionary<string, TorchRecord>() : BenchReport.LoadTorchAll(torchPath);

        if (cpuPath is { } path)
        {
            if (!CpuInfo.Supports(path))
                throw new UsageException($"bench: --cpu-path {path.ToString().ToLowerInvariant()}: this CPU does not support it (supported: {string.Join(", ", CpuInfo.Supported().Select(p => p.ToString().ToLowerInvariant()))})");
            CpuInfo.Select(path);
        }
        var dev = DevicesCommand.Resolve(device);
        string described = DevicesCommand.Describe(dev);
        if (dev.Kind == DeviceKind.Cpu) described += "\ncpu: " + CpuInfo.Current.Describe();
        var cases = BenchSuite.Cases(dev, quick, tf32).Where(c => filter is null || c.Name.Contains(filter, StringComparison.Ordinal)).ToList();
        if (cases.Count == 0)
            throw new UsageException($"bench: no case name contains '{filter}'; cases: {string.Join(", ", BenchSuite.Cases(dev, quick, tf32).Select(c => c.Name))}");
        var table = json ? stderr : stdout;
        table.WriteLine(described);
        if (IsDebugBuild())
            table.WriteLine("warning: this is a Debug build (JIT optimisation off): the times are not representative; use 'dotnet run -c Release'");
        if (!json) table.WriteLine(torch.Count > 0 ? $"{"case",-36} {"ms",10} {"rate",18} {"torch ms",10} {"ratio",6}" : $"{"case",-36} {"ms",10} {"rate",18}");

        var results = new List<BenchResult>();
        foreach (var c in cases)
        {
            var r = BenchSuite.Run(c, dev, warmup, reps);
            results.Add(r);
            if (json) { stdout.WriteLine(BenchReport.JsonLine(r)); stdout.Flush(); continue; }
            if (r.Error is not null) { table.WriteLine($"{r.Case,-36} failed: {r.Error}"); continue; }
            string line = string.Create(CultureInfo.InvariantCulture, $"{r.Case,-36} {r.MedianMs,10:F3} {Rate(r),18}");
            // strict float32 with PyTorch's _notf32, _tf32 with its default, _amp with its AMP (TorchPairing)
            var pair = TorchPairing.Pair(r.Case, torch);
            var t = pair?.Record;
            if (t is not null)
                line += string.Create(CultureInfo.InvariantCulture, $" {t.MedianMs,10:F3} {r.MedianMs / t.MedianMs,6:F2}  vs {t.Case}{(t.Amp ? " amp" : "")} ({pair!.Label})");
            // peak device memory beside PyTorch's peak_mem_mb (train steps on a GPU)
            if (r.PeakMemMb is { } peak && r.Family == "train")
                line += string.Create(CultureInfo.InvariantCulture, $"  peak {peak:F0} MiB") +
                        (t?.PeakMemMb is { } tp ? string.Create(CultureInfo.InvariantCulture, $" (torch {tp:F0} MiB, {peak / tp:F2}x)") : "");
            table.WriteLine(line);
            table.Flush();
        }
        if (profile && dev.Kind == DeviceKind.Cpu)
            foreach (var c in cases)
            {
                table.WriteLine($"\nprofile of {c.Name} (5 steps; exclusive ms per primitive and shape):");
                table.WriteLine(BenchSuite.ProfileCpu(c, warmup, 5).Format(25));
            }

        if (outPath is not null)
        {
            double? fma = dev.Kind == DeviceKind.Cpu ? Ceilings.MeasureCpuFmaPeak() : null;
            var ceilings = Ceilings.From(results, torch, fma);
            var notes = new List<string>
            {
                $"Device: {described.Replace("device: ", "").Replace("\ncpu: ", "; CPU: ")}.",
                string.Create(CultureInfo.InvariantCulture, $"Command: nativecnn bench {string.Join(' ', args)}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} logical cores; .NET {Environment.Version}."),
                torch.Count > 0 ? $"PyTorch: {torchPath}." : "PyTorch: not given (run torch_baseline.py on this machine and pass --torch for the ratios).",
                "",
            };
            string md = BenchReport.Markdown("NativeCnn benchmarks", results, torch, ceilings, notes);
            var full = Path.GetFullPath(outPath);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, md);
            table.WriteLine($"report written to {full}");
        }
        return results.Any(r => r.Error is not null) ? Cli.ExitFailure : Cli.ExitOk;
    }

    private static string Rate(BenchResult r) => r.Rate switch
    {
        RateKind.Tflops => string.Create(CultureInfo.InvariantCulture, $"{r.RateValue * 1e3:F1} GFLOP/s"),
        RateKind.GbPerS => string.Create(CultureInfo.InvariantCulture, $"{r.RateValue:F1} GB/s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{r.RateValue:F0} img/s"),
    };

    private static bool IsDebugBuild() =>
        typeof(BenchSuite).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .OfType<System.Diagnostics.DebuggableAttribute>().Any(a => a.IsJITOptimizerDisabled);

    private static int Count(string flag, string value, int min)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < min)
            throw new UsageException($"bench: {flag} expects an integer >= {min}, got '{value}'");
        if (v > 100_000) throw new UsageException($"bench: {flag} expects an integer from {min} to 100000, got '{value}'");
        return v;
    }
}
