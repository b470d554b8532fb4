// `conv-shapes`: the CPU backend's three convolution passes (forward, backward-data, backward-weight)
// on the layers of the conv3x3 cases and the mnist_cnn / resnet18 train steps, on each CPU path, as
// GFLOP/s over one thread's CPU time, next to the packed SGEMM on the same product with its operands
// stored (the ceiling the convolution's unfolding and layout work stand between).
//   DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- conv-shapes [filter] [reps] [--passes]
// --passes adds each pass's GFLOP/s over the two-thread process CPU time (forward / data / weight).
// One thread (CpuParallel and CpuGemm capped at 1) timed by CLOCK_THREAD_CPUTIME_ID: a busy, shared
// host delays the run but barely changes the numbers, so changes to the conv path can be compared
// while other work runs. Layers with at most 3 input channels run twice, the few-channel kernels
// (CpuConv.FewChannels.cs) forced off ("other": the path the layer would take without them) and on ("few-ch"). Two-thread wall times belong to `nativecnn bench` on a quiet host.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

internal static class ConvShapes
{
    private sealed record Layer(string Name, ConvGeometry G);

    private static ConvGeometry Conv(int n, int c, int hw, int k, int r, int stride, int pad) =>
        new(n, c, hw, hw, k, r, r, stride, stride, pad, pad, 1, 1);

    private static readonly Layer[] Layers =
    {
        new("conv3x3_64to64_32px b8", Conv(8, 64, 32, 64, 3, 1, 1)),
        new("conv3x3_128to128_16px b8", Conv(8, 128, 16, 128, 3, 1, 1)),
        new("conv3x3_256to256_8px b8", Conv(8, 256, 8, 256, 3, 1, 1)),
        new("conv3x3_512to512_4px b8", Conv(8, 512, 4, 512, 3, 1, 1)),
        new("mnist conv1 1->32 28px", Conv(64, 1, 28, 32, 3, 1, 1)),
        new("mnist conv2 32->64 28px s2", Conv(64, 32, 28, 64, 3, 2, 1)),
        new("mnist conv3 64->128 14px s2", Conv(64, 64, 14, 128, 3, 2, 1)),
        new("mnist conv4 128->128 7px", Conv(64, 128, 7, 128, 3, 1, 1)),
        new("resnet18 stem 3->64 128px 7x7 s2", Conv(16, 3, 128, 64, 7, 2, 3)),
        // few input channels, for where the few-channel kernels (CpuConv.FewChannels.cs) apply
        new("few-channel conv1 3->32 32px", Conv(64, 3, 32, 32, 3, 1, 1)),
        new("few-channel conv1 1->32 28px 5x5", Conv(64, 1, 28, 32, 5, 1, 2)),
        new("few-channel conv1 1->32 28px s2", Conv(64, 1, 28, 32, 3, 2, 1)),
        new("resnet18 layer1 64->64 32px", Conv(16, 64, 32, 64, 3, 1, 1)),
        new("resnet18 layer2 128->128 16px", Conv(16, 128, 16, 128, 3, 1, 1)),
        new("resnet18 layer3 256->256 8px", Conv(16, 256, 8, 256, 3, 1, 1)),
        new("resnet18 layer4 512->512 4px", Conv(16, 512, 4, 512, 3, 1, 1)),
        new("resnet18 down 64->128 32px s2", Conv(16, 64, 32, 128, 3, 2, 1)),
        new("resnet18 down 128->256 16px s2", Conv(16, 128, 16, 256, 3, 2, 1)),
        new("resnet18 down 256->512 8px s2", Conv(16, 256, 8, 512, 3, 2, 1)),
    };

    public static int Run(string[] args)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("conv-shapes: needs Linux (thread CPU clocks)");
            return 1;
        }
        string filter = args.Length > 1 ? args[1] : "";
        int reps = args.Length > 2 && int.TryParse(args[2], out int r) && r > 0 ? r : 5;
        bool perPass = args.Contains("--passes");
        var paths = MachineLines.VectorPaths();
        MachineLines.Print();
        Console.WriteLine();
        Console.WriteLine("One thread, GFLOP/s over its CPU time (best of the reps); `gemm` is the packed SGEMM on the forward product with stored operands; `via col2im` is strided backward-data through gcol + col2im instead of the per-phase convolutions.");
        Console.WriteLine();
        Console.WriteLine("| layer | path | forward | backward-data | backward-data via col2im | backward-weight | all three (ms) | gemm | 2 threads: all three, wall ms | 2 threads: process CPU ms |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var backend = CpuBackend.Instance;
        var rng = new Random(1);
        int savedGemm = CpuGemm.MaxThreads, savedLoop = CpuParallel.MaxThreads;
        var savedPath = CpuInfo.Path;
        CpuGemm.MaxThreads = 1;
        CpuParallel.MaxThreads = 1;
        try
        {
            foreach (var layer in Layers)
            {
                if (filter.Length > 0 && !layer.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                var g = layer.G;
                var x = backend.FromHost(GemmShapes.RandomFloats(rng, (long)g.N * g.C * g.H * g.W));
                var w = backend.FromHost(GemmShapes.RandomFloats(rng, (long)g.K * g.Crs));
                var gy = backend.FromHost(GemmShapes.RandomFloats(rng, (long)g.N * g.K * g.P * g.Q));
                var y = backend.FromHost(new float[(long)g.N * g.K * g.P * g.Q]);
                var gx = backend.FromHost(new float[(long)g.N * g.C * g.H * g.W]);
                var gw = backend.FromHost(new float[(long)g.K * g.Crs]);
                var a = GemmShapes.RandomFloats(rng, (long)g.K * g.Crs);
                var b = GemmShapes.RandomFloats(rng, (long)g.Crs * g.N * g.P * g.Q);
                var c = new float[(long)g.K * g.N * g.P * g.Q];
                double flops = g.Flops;
                // layers with few input channels run with the few-channel kernels forced off and on
                var modes = g.C <= 3 ? new[] { FewChannelsMode.Off, FewChannelsMode.Always } : new[] { FewChannelsMode.Auto };
                foreach (var path in paths)
                foreach (var mode in modes)
                {
                    CpuInfo.Select(path);
                    CpuBackend.FewChannelsConv = mode;
                    string label = mode switch { FewChannelsMode.Off => $"{path} other", FewChannelsMode.Always => $"{path} few-ch", _ => $"{path}" };
                    double fwd = GemmShapes.BestThreadCpu(reps, () => backend.Conv2dForward(x, w, null, y, g));
                    double bwdData = GemmShapes.BestThreadCpu(reps, () => backend.Conv2dBackwardData(gy, w, gx, g));
                    // strided layers: backward-data again through gcol + col2im (the path before
                    // CpuConv.PhaseBackwardData.cs), in the same run
                    double bwdDataCol2Im = double.NaN;
                    if (CpuBackend.PhasesApplyToBackwardData(g))
                    {
                        CpuBackend.PhaseBackwardData = false;
                        try { bwdDataCol2Im = GemmShapes.BestThreadCpu(reps, () => backend.Conv2dBackwardData(gy, w, gx, g)); }
                        finally { CpuBackend.PhaseBackwardData = true; }
                    }
                    double bwdWeight = GemmShapes.BestThreadCpu(reps, () => backend.Conv2dBackwardWeight(x, gy, gw, null, g));
                    int n = g.N * g.P * g.Q;
                    CpuGemm.MaxThreads = CpuParallel.MaxThreads = 2;
                    var (wall, cpu) = BestWall(reps, () =>
                    {
                        backend.Conv2dForward(x, w, null, y, g);
                        backend.Conv2dBackwardData(gy, w, gx, g);
                        backend.Conv2dBackwardWeight(x, gy, gw, null, g);
                    });
                    string passes = "";
                    if (perPass)
                    {
                        // each pass alone on two threads, GFLOP/s over the process's CPU time
                        double f2 = BestWall(reps, () => backend.Conv2dForward(x, w, null, y, g)).Cpu;
                        double d2 = BestWall(reps, () => backend.Conv2dBackwardData(gy, w, gx, g)).Cpu;
                        double w2 = BestWall(reps, () => backend.Conv2dBackwardWeight(x, gy, gw, null, g)).Cpu;
                        passes = FormattableString.Invariant($" {flops / f2 * 1e-9:F1} / {flops / d2 * 1e-9:F1} / {flops / w2 * 1e-9:F1} |");
                    }
                    CpuGemm.MaxThreads = CpuParallel.MaxThreads = 1;
                    double gemm = GemmShapes.BestThreadCpu(reps, () => CpuGemm.Run(CpuGemm.ForPath(path), false, false, g.K, n, g.Crs, 1f, a, 0, g.Crs, b, 0, n, 0f, c, 0, n));
                    Console.WriteLine(FormattableString.Invariant(
                        $"| {layer.Name} | {label} | {flops / fwd * 1e-9:F1} | {flops / bwdData * 1e-9:F1} | {(double.IsNaN(bwdDataCol2Im) ? "" : (flops / bwdDataCol2Im * 1e-9).ToString("F1", System.Globalization.CultureInfo.InvariantCulture))} | {flops / bwdWeight * 1e-9:F1} | {(fwd + bwdData + bwdWeight) * 1e3:F2} | {flops / gemm * 1e-9:F1} | {wall * 1e3:F2} | {cpu * 1e3:F2} |{passes}"));
                }
            }
        }
        finally
        {
            CpuGemm.MaxThreads = savedGemm;
            CpuParallel.MaxThreads = savedLoop;
            CpuInfo.Select(savedPath);
            CpuBackend.FewChannelsConv = FewChannelsMode.Auto;
        }
        return 0;
    }

    /// <summary>Least wall time (meaningful on a quiet host only) and least process CPU time (every
    /// thread's work: above the one-thread time by what the split costs) of <paramref name="reps"/>
    /// calls after one warm-up call.</summary>
    private static (double Wall, double Cpu) BestWall(int reps, Action call)
    {
        call();
        double wall = double.MaxValue, cpu = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            double c0 = GemmShapes.ProcessCpu();
            call();
            wall = Math.Min(wall, System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
            cpu = Math.Min(cpu, GemmShapes.ProcessCpu() - c0);
        }
        return (wall, cpu);
    }
}
