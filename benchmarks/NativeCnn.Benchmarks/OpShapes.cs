// `op-shapes`: the CPU backend's non-convolution primitives of the mnist_cnn and resnet18 train steps
// (max-pool, batch norm with its fused ReLU/residual, the SGD step, fill, a weight gradient's
// accumulation into zeros against its copy into a spare tensor) on their
// shapes, on each CPU path, as one thread's CPU time (best of the reps) and the bytes each call must
// move over that time (GB/s against the ~21 GB/s copy bandwidth of the Zen 4 host).
//   DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- op-shapes [filter] [reps]
// One thread (CpuParallel capped at 1) timed by CLOCK_THREAD_CPUTIME_ID, so a busy host barely
// changes the numbers (see ConvShapes.cs).
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

internal static class OpShapes
{
    /// <summary>One timed primitive: its name, the bytes it must read and write, and the call.</summary>
    private sealed record Op(string Name, double Bytes, Action<CpuBackend> Call);

    private static IEnumerable<Op> Ops(Random rng)
    {
        var backend = CpuBackend.Instance;
        Storage Rand(long n) => backend.FromHost(GemmShapes.RandomFloats(rng, n));
        Storage Zeros(long n) => backend.FromHost(new float[n]);

        foreach (var (name, n, c, h) in new[] { ("resnet18 stem pool", 16, 64, 64), ("mnist-like pool", 64, 32, 28) })
        {
            int p = (h + 2 - 3) / 2 + 1;
            var g = new PoolGeometry(n, c, h, h, p, p, 3, 3, 2, 2, 1, 1, false);
            long xn = (long)n * c * h * h, yn = (long)n * c * p * p;
            Storage x = Rand(xn), y = Zeros(yn), gy = Rand(yn), gx = Zeros(xn);
            var ix = backend.FromHost(new int[yn]);
            yield return new($"maxpool_fwd {name} {n}x{c}x{h}x{h} 3x3 s2 p1", 4.0 * (xn + 2 * yn), b => b.MaxPool2dForward(x, y, ix, g));
            yield return new($"maxpool_bwd {name} {n}x{c}x{h}x{h} 3x3 s2 p1", 4.0 * (xn + 2 * yn), b => b.MaxPool2dBackward(gy, ix, gx, g));
        }

        foreach (var (n, c, hw, relu, residual) in new[]
                 {
                     (16, 64, 4096, true, false), (16, 64, 1024, true, true), (16, 64, 1024, true, false),
                     (16, 128, 256, true, true), (16, 128, 256, false, false), (16, 256, 64, true, true), (16, 512, 16, true, true),
                     (64, 32, 784, true, false), (64, 64, 196, true, false), (64, 128, 49, true, false),
                 })
        {
            long total = (long)n * c * hw;
            Storage x = Rand(total), y = Zeros(total), gy = Rand(total), gx = Zeros(total), gr = Zeros(total);
            Storage r = Rand(total);
            Storage gamma = Rand(c), beta = Rand(c), mean = Zeros(c), inv = Zeros(c), rm = Zeros(c), rv = Zeros(c), gg = Zeros(c), gb = Zeros(c);
            string shape = $"{n}x{c}x{hw}{(relu ? " relu" : "")}{(residual ? " +res" : "")}";
            // the minimum traffic: forward reads x (and the residual) once and writes y;
            // backward reads x, y (for the mask) and gy, writes gx (and the residual's gradient)
            yield return new($"bn_act_fwd {shape}", 4.0 * total * (residual ? 3 : 2),
                b => b.BatchNormActForwardTraining(x, residual ? r : null, gamma, beta, y, mean, inv, rm, rv, n, c, hw, 0.1f, 1e-5f, relu));
            yield return new($"bn_act_bwd {shape}", 4.0 * total * (residual ? 5 : 4),
                b => b.BatchNormActBackward(x, y, gy, gamma, mean, inv, gx, residual ? gr : null, gg, gb, n, c, hw, relu));
        }

        foreach (int size in new[] { 512 * 512 * 9, 64 * 64 * 9 })
        {
            Storage p = Rand(size), grad = Rand(size), buf = Rand(size);
            yield return new($"sgd_step momentum+wd {size}", 4.0 * size * 5, b => b.SgdStep(p, grad, buf, size, 1e-6f, 0.9f, 0f, 1e-4f, false, false));
            yield return new($"fill {size}", 4.0 * size, b => b.Fill(grad, 0f));
            // a weight gradient reaching .Grad: ZeroGrad() then accumulate (fill, add into zeros) against
            // ZeroGrad(setToNone: true) then write (one copy into the tensor set aside)
            int[] shape = { size / 9, 9 }, dense = { 9, 1 };
            Storage acc = Zeros(size);
            yield return new($"grad accumulate: fill + add {size}", 4.0 * size * 4, b =>
            {
                b.Fill(acc, 0f);
                b.Binary(BinaryOp.Add, acc, 0, dense, grad, 0, dense, acc, shape);
            });
            yield return new($"grad write: copy {size}", 4.0 * size * 2, b => b.Copy(grad, 0, dense, acc, 0, dense, shape));
        }
    }

    public static int Run(string[] args)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("op-shapes: needs Linux (thread CPU clocks)");
            return 1;
        }
        string filter = args.Length > 1 ? args[1] : "";
        int reps = args.Length > 2 && int.TryParse(args[2], out int r) && r > 0 ? r : 5;
        var paths = CpuInfo.Supported();
        MachineLines.Print();
        Console.WriteLine();
        Console.WriteLine("One thread, ms of its CPU time (best of the reps), and the least bytes the call must move over that time.");
        Console.WriteLine();
        Console.WriteLine($"| primitive | {string.Join(" | ", paths.Select(p => p.ToString().ToLowerInvariant() + " ms"))} | MB | GB/s ({paths[0].ToString().ToLowerInvariant()}) |");
        Console.WriteLine($"| --- |{string.Concat(paths.Select(_ => " ---: |"))} ---: | ---: |");
        var backend = CpuBackend.Instance;
        int savedLoop = CpuParallel.MaxThreads;
        var savedPath = CpuInfo.Path;
        CpuParallel.MaxThreads = 1;
        try
        {
            foreach (var op in Ops(new Random(1)))
            {
                if (filter.Length > 0 && !op.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                var times = new List<double>();
                foreach (var path in paths)
                {
                    CpuInfo.Select(path);
                    times.Add(GemmShapes.BestThreadCpu(reps, () => op.Call(backend)));
                }
                Console.WriteLine(FormattableString.Invariant(
                    $"| {op.Name} | {string.Join(" | ", times.Select(t => (t * 1e3).ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))} | {op.Bytes / 1e6:F1} | {op.Bytes / times[0] * 1e-9:F1} |"));
            }
        }
        finally
        {
            CpuParallel.MaxThreads = savedLoop;
            CpuInfo.Select(savedPath);
        }
        return 0;
    }
}
