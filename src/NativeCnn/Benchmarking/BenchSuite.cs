// The benchmark cases of ../shared/reference/torch_baseline.py, run through the engine's public API
// on any device, under the same case names, so a NativeCnn number and a PyTorch number line up by
// name: gemm_N (float32), a copy (the bandwidth ceiling), the five resnet18 conv layers forward +
// backward, and the train steps. Each case knows its work (FLOPs) and its minimum memory traffic
// (bytes), from which the report draws the two floors. Timing follows the script: warm-up calls,
// then the median of timed calls, each ending with a device synchronisation.
// On a GPU the conv cases and the resnet18 step also run in TF32 ("_tf32": Precision.AllowTf32 on for
// the case) and in float16 ("_amp"), each paired with its PyTorch record by TorchPairing.
// Must hold: a case run at a size other than torch's carries the size in its name (quick runs), so
// a quick number never passes for a real one; every step runs in a MemoryScope (no growth).
using System.Diagnostics;
using NativeCnn.Autograd;
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Backends.Gpu;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;

namespace NativeCnn.Benchmarking;

/// <summary>What a case's rate is reported in (as torch_baseline.py's fields).</summary>
internal enum RateKind { Tflops, GbPerS, ImagesPerS }

/// <summary>A case ready to time: the call, and the work and minimum traffic of one step; a call may run
/// <paramref name="StepsPerCall"/> steps (the time reported is per step).</summary>
internal sealed record PreparedCase(Action Step, double Flops, double Bytes, int StepsPerCall = 1);

/// <summary>One benchmark case: its torch_baseline name (with "_tf32" or "_amp" for those precisions:
/// TorchPairing), batch (0 if none), rate kind and setup.</summary>
internal sealed record BenchCase(string Name, string Family, int Batch, RateKind Rate, Func<PreparedCase> Setup)
{
    /// <summary>The precision the name says; a TF32 case runs (setup and steps) with Precision.AllowTf32 on.</summary>
    public BenchPrecision Precision => TorchPairing.PrecisionOf(Name);
}

/// <summary>A timed case. <see cref="Error"/> is set (and the numbers are 0) when it failed.
/// <see cref="PeakMemMb"/>: on a GPU, the most device memory in use during the warm-up and timed calls
/// (the backend's high-water mark, PyTorch's max_memory_allocated), MiB; null on the CPU.</summary>
internal sealed record BenchResult(string Case, string Family, string Device, int Batch, RateKind Rate,
                                 double MedianMs, double Flops, double Bytes, string? Error = null, double? PeakMemMb = null)
{
    /// <summary>The case's rate in its kind's unit (TFLOP/s, GB/s or images/s).</summary>
    public double RateValue => Rate switch
    {
        RateKind.Tflops => Flops / MedianMs / 1e9,
        RateKind.GbPerS => Bytes / MedianMs / 1e6,
        _ => Batch / MedianMs * 1e3,
    };
}

internal static class BenchSuite
{
    /// <summary>The cases for <paramref name="device"/> at torch_baseline.py's sizes for its kind (CPU or
    /// GPU); <paramref name="quick"/> shrinks every size and names the cases by the sizes actually run;
    /// <paramref name="tf32"/> gives the float32 cases only, each in TF32 ("_tf32").</summary>
    public static IReadOnlyList<BenchCase> Cases(Device device, bool quick = false, bool tf32 = false)
    {
        // --tf32: every float32 case in TF32 (named so: TorchPairing pairs it with PyTorch's default)
        if (tf32)
            return Cases(device, quick).Where(c => c.Precision == BenchPrecision.Float32)
                                       .Select(c => c with { Name = c.Name + TorchPairing.Tf32Suffix }).ToList();
        bool gpu = device.Kind != DeviceKind.Cpu;
        var cases = new List<BenchCase>();
        var rng = new Rng(0);

        int[] gemmSizes = quick ? new[] { 32, 64 } : gpu ? new[] { 1024, 4096, 8192 } : new[] { 256, 512, 1024 };
        foreach (int n in gemmSizes)
            cases.Add(new($"gemm_{n}", "gemm", 0, RateKind.Tflops, () =>
            {
                var a = Tensor.Randn(new[] { n, n }, rng, device).Keep();
                var b = Tensor.Randn(new[] { n, n }, rng, device).Keep();
                return new(() => { using (MemoryScope.Begin()) _ = a.MatMul(b); }, 2.0 * n * n * n, 3.0 * n * n * sizeof(float));
            }));

        // torch_baseline.py measures copy_1GiB on the GPU only; the CPU copy is ours, for the ceiling.
        int copyFloats = quick ? 1 << 18 : gpu ? 1 << 28 : 1 << 26;
        cases.Add(new(copyFloats == 1 << 28 ? "copy_1GiB" : $"copy_{copyFloats * 4L >> 20}MiB", "copy", 0, RateKind.GbPerS, () =>
        {
            var x = Tensor.Zeros(new[] { copyFloats }, DType.Float32, device).Keep();
            var y = Tensor.Zeros(new[] { copyFloats }, DType.Float32, device).Keep();
            return new(() => y.CopyFrom(x), 0, 2.0 * copyFloats * sizeof(float));
        }));

        int batch = quick ? 1 : gpu ? 128 : 8;
        // on a GPU each conv also in TF32 and in float16 (the pairings with PyTorch's default and AMP)
        var convPrecisions = gpu ? new[] { BenchPrecision.Float32, BenchPrecision.Tf32, BenchPrecision.Amp } : new[] { BenchPrecision.Float32 };
        foreach (var precision in convPrecisions)
        foreach (var (ci0, co0, hw0, k, s) in new[] { (3, 64, 128, 7, 2), (64, 64, 32, 3, 1), (128, 128, 16, 3, 1), (256, 256, 8, 3, 1), (512, 512, 4, 3, 1) })
        {
            // quick: channels / 16 (the 3-channel input stays), spatial / 4 (at least 4)
            int ci = quick && ci0 > 3 ? ci0 / 16 : ci0, co = quick ? co0 / 16 : co0, hw = quick ? Math.Max(4, hw0 / 4) : hw0;
            cases.Add(ConvCase($"conv{k}x{k}_{ci}to{co}_{hw}px_s{s}_fwdbwd{Suffix(precision)}", device, rng, batch, ci, co, hw, k, s,
                               precision == BenchPrecision.Amp ? DType.Float16 : DType.Float32));
        }

        int mnistBatch = quick ? 2 : gpu ? 256 : 64, px = quick ? 8 : 28;
        cases.Add(TrainStep(quick ? $"mnist_cnn_train_step_{px}px" : "mnist_cnn_train_step", device, mnistBatch, 1, px,
                            () => SimpleCnn.MnistCnn(10, new Rng(0))));
        // resnet18 (torchvision topology, 10 classes) at 128 px; quick: 16 px, and not on the simulator,
        // where 11.7M parameters take minutes a step
        if (!quick || device.Kind == DeviceKind.Cpu)
        {
            int resBatch = quick ? 2 : gpu ? 256 : 16, resPx = quick ? 16 : 128;
            cases.Add(TrainStep(quick ? $"resnet18_{resPx}px_train_step_b{resBatch}" : "resnet18_128px_train_step", device, resBatch, 3, resPx,
                                () => ResNet.ResNet18(10, 3, new Rng(0))));
        }
        // the same step in TF32 (float32 tensors, Precision.AllowTf32 on: the pairing with PyTorch's default)
        if (gpu && !quick)
            cases.Add(TrainStep("resnet18_128px_train_step" + TorchPairing.Tf32Suffix, device, 256, 3, 128, () => ResNet.ResNet18(10, 3, new Rng(0))));
        // torch_baseline.py's AMP case (GPU only there): the same step in mixed precision
        if (gpu && !quick)
            cases.Add(TrainStepAmp("resnet18_128px_train_step_amp", device, 256, 3, 128, () => ResNet.ResNet18(10, 3, new Rng(0))));
        return cases;
    }

    private static string Suffix(BenchPrecision p) =>
        p switch { BenchPrecision.Tf32 => TorchPairing.Tf32Suffix, BenchPrecision.Amp => TorchPairing.AmpSuffix, _ => "" };

    /// <summary>torch_baseline.py's conv case: a bias-free conv (padding k/2) forward + backward with a gradient
    /// of ones, at batch <paramref name="batch"/>; x and w in <paramref name="dtype"/> (float16: the AMP pairing,
    /// as autocast runs the conv on float16 casts of them).</summary>
    private static BenchCase ConvCase(string name, Device device, Rng rng, int batch, int ci, int co, int hw, int k, int s, DType dtype) =>
        new(name, "conv", batch, RateKind.Tflops, () =>
        {
            int ho = (hw + 2 * (k / 2) - k) / s + 1;
            var x = Tensor.Randn(new[] { batch, ci, hw, hw }, rng, device).To(dtype).Keep();
            var w = Tensor.Randn(new[] { co, ci, k, k }, rng, device, std: 0.05f).To(dtype).Keep();
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            var ones = Tensor.Ones(new[] { batch, co, ho, ho }, dtype, device).Keep();
            double flops = 3.0 * 2 * batch * co * ho * ho * ci * k * k;
            // forward reads x, w and writes y; backward-data reads dy, w, writes dx; backward-weight
            // reads x, dy, writes dw: each of x, w, y moves three times.
            double bytes = 3.0 * dtype.SizeInBytes() * ((double)x.Numel + w.Numel + (double)batch * co * ho * ho);
            return new(() => { using (MemoryScope.Begin()) F.Conv2d(x, w, null, s, k / 2).Backward(ones); }, flops, bytes);
        });

    /// <summary>torch_baseline.py's train step with amp=True: the Learner's mixed precision (float16 model
    /// except batch norm, float32 masters, dynamic loss scaling) with the same SGD; one call runs
    /// <paramref name="steps"/> training batches of the same data through Learner.Fit (no validation).</summary>
    public static BenchCase TrainStepAmp(string name, Device device, int batch, int channels, int px, Func<Module> model, int steps = 8) =>
        new(name, "train", batch, RateKind.ImagesPerS, () =>
        {
            var rng = new Rng(1);
            var m = model().To(device);
            var x = Tensor.Randn(new[] { batch, channels, px, px }, rng, device).Keep();
            var labels = Enumerable.Range(0, batch).Select(i => (i * 7) % 10).ToArray();
            var y = Tensor.FromArray(labels, new[] { batch }).To(device).Keep();
            double forwardFlops;
            using (MemoryScope.Begin())
            using (var cost = OpCost.Begin())
            {
                _ = F.CrossEntropy(m.Forward(x), y);
                forwardFlops = cost.Flops;
            }
            var data = DataBunch.From(Enumerable.Repeat((x, y), steps).ToList(), new List<(Tensor, Tensor)>());
            var learn = new Learner(data, m, (p, t) => F.CrossEntropy(p, t),
                                    optFunc: (groups, lr) => new SGD(groups, lr, momentum: 0.9f, weightDecay: 1e-4f)).ToFp16();
            return new(() => learn.Fit(1, 0.01f), 3 * forwardFlops, 0, steps);
        });

    /// <summary>torch_baseline.py's train_step_case: random input, forward, cross-entropy, backward and
    /// SGD (lr 0.01, momentum 0.9, weight decay 1e-4), one step per call.</summary>
    public static BenchCase TrainStep(string name, Device device, int batch, int channels, int px, Func<Module> model) =>
        new(name, "train", batch, RateKind.ImagesPerS, () =>
        {
            var rng = new Rng(1);
            var m = model().To(device);
            m.Train();
            var opt = new SGD(m.Parameters(), lr: 0.01f, momentum: 0.9f, weightDecay: 1e-4f);
            var x = Tensor.Randn(new[] { batch, channels, px, px }, rng, device).Keep();
            var labels = Enumerable.Range(0, batch).Select(i => (i * 7) % 10).ToArray();
            var y = Tensor.FromArray(labels, new[] { batch }).To(device).Keep();
            double forwardFlops, forwardBytes;
            using (MemoryScope.Begin())
            using (var cost = OpCost.Begin())
            {
                _ = F.CrossEntropy(m.Forward(x), y);
                forwardFlops = cost.Flops;
                forwardBytes = cost.OutputBytes;
            }
            long parameters = m.Parameters().Sum(p => (long)p.Numel);
            // Backward costs twice the forward's FLOPs (gradients of inputs and of weights). Minimum
            // traffic: each activation written once, read back by backward and its gradient written
            // once (3x), plus per parameter: read and write the weight, read the gradient, read and
            // write the momentum (5 floats). An under-estimate: inputs of the forward are read too.
            return new(() =>
            {
                using (MemoryScope.Begin())
                {
                    opt.ZeroGrad(setToNone: true);   // as torch_baseline.py's zero_grad(set_to_none=True)
                    F.CrossEntropy(m.Forward(x), y).Backward();
                    opt.Step();
                }
            }, 3 * forwardFlops, 3 * forwardBytes + 5.0 * sizeof(float) * parameters);
        });

    /// <summary>Times one case: <paramref name="warmup"/> untimed calls, then the median of <paramref name="reps"/> timed calls.</summary>
    public static BenchResult Run(BenchCase c, Device device, int warmup = 3, int reps = 10)
    {
        Check.Positive(reps, "BenchSuite.Run: reps");
        if (warmup < 0) throw new NativeCnnException($"BenchSuite.Run: warmup must be >= 0, got {warmup}");
        string deviceName = device.Kind == DeviceKind.Cuda ? "cuda" : device.ToString();
        bool savedTf32 = Precision.AllowTf32;
        if (c.Precision == BenchPrecision.Tf32) Precision.AllowTf32 = true;
        try
        {
            var p = c.Setup();
            // the high-water mark from here: the case's tensors (model, data) and every step's buffers
            var gpu = device.Kind == DeviceKind.Cpu ? null : DeviceRegistry.Resolve(device) as GpuBackend;
            gpu?.Synchronize();
            gpu?.ResetPeakBytesInUse();
            double ms = MedianMs(p.Step, device, warmup, reps) / p.StepsPerCall;
            double? peak = gpu is null ? null : gpu.PeakBytesInUse / 1048576.0;
            return new BenchResult(c.Name, c.Family, deviceName, c.Batch, c.Rate, ms, p.Flops, p.Bytes, PeakMemMb: peak);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new BenchResult(c.Name, c.Family, deviceName, c.Batch, c.Rate, 0, 0, 0, $"{e.GetType().Name}: {e.Message}");
        }
        finally { Precision.AllowTf32 = savedTf32; }
    }

    /// <summary>The CPU backend's per-primitive profile of <paramref name="steps"/> calls of a case, after
    /// <paramref name="warmup"/> unprofiled ones (CpuProfile.cs: exclusive times, inner calls apart).</summary>
    public static CpuProfile ProfileCpu(BenchCase c, int warmup = 3, int steps = 5, bool threadCpuClock = false)
    {
        Check.Positive(steps, "BenchSuite.ProfileCpu: steps");
        var p = c.Setup();
        for (int i = 0; i < warmup; i++) p.Step();
        var profile = new CpuProfile(threadCpuClock);
        var backend = CpuBackend.Instance;
        backend.Profile = profile;
        try
        {
            for (int i = 0; i < steps; i++) p.Step();
        }
        finally { backend.Profile = null; }
        return profile;
    }

    /// <summary>Median wall time of calls to <paramref name="step"/>, each followed by a device synchronisation.</summary>
    public static double MedianMs(Action step, Device device, int warmup, int reps)
    {
        IBackend? backend = device.Kind == DeviceKind.Cpu ? null : DeviceRegistry.Resolve(device);
        // Warm-up: the calls asked for, and at least half a second, so .NET's tiered JIT has promoted the
        // step's hot methods to optimised code (it waits for 30 calls and a quiet 100 ms) before timing.
        long warmStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < warmup || (warmup > 0 && Stopwatch.GetElapsedTime(warmStart).TotalMilliseconds < 500); i++) step();
        Sync(backend);
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            Sync(backend);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return Median(times);
    }

    /// <summary>The median of <paramref name="times"/> (sorted in place).</summary>
    public static double Median(double[] times)
    {
        Array.Sort(times);
        int n = times.Length;
        return n % 2 == 1 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    }

    private static void Sync(IBackend? backend) => backend?.Synchronize();
}
