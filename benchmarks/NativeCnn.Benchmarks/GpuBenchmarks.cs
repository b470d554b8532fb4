// GPU kernel timings on CUDA, with the case names of torch_baseline.py (gemm_N on the GPU sizes,
// copy_1GiB, one conv layer forward + backward at batch 128). Each invocation launches and then
// waits for the device, so the time is the kernels' own. Needs a usable CUDA device; elsewhere the
// setup fails with the reason (Devices.CudaUnavailableReason).
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- --filter '*GpuBenchmarks*'
using BenchmarkDotNet.Attributes;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;

namespace NativeCnn.Benchmarks;

public class GpuBenchmarks
{
    [Params("gemm_1024", "gemm_4096", "gemm_8192", "copy_1GiB", "conv3x3_64to64_32px_s1_fwdbwd")]
    public string Case { get; set; } = "gemm_1024";

    private GpuBackend _gpu = null!;
    private Storage _a = null!, _b = null!, _c = null!, _d = null!, _e = null!;
    private int _n;
    private static readonly ConvGeometry Conv = new(128, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1);

    [GlobalSetup]
    public void Setup()
    {
        if (Devices.CudaUnavailableReason() is { } why) throw new InvalidOperationException($"GpuBenchmarks need a CUDA device: {why}");
        _gpu = Devices.CudaBackend(0);
        Storage Rand(long n) { var s = _gpu.Allocate(DType.Float32, checked((int)n)); _gpu.RandomUniform(s, 1, -1f, 1f); return s; }
        if (Case.StartsWith("gemm_", StringComparison.Ordinal))
        {
            _n = int.Parse(Case["gemm_".Length..]);
            _a = Rand((long)_n * _n); _b = Rand((long)_n * _n); _c = Rand((long)_n * _n);
        }
        else if (Case == "copy_1GiB")
        {
            _n = 1 << 27;   // 512 MiB read + 512 MiB written
            _a = Rand(_n); _b = Rand(_n);
        }
        else
        {
            var g = Conv;
            _a = Rand((long)g.N * g.C * g.H * g.W); _b = Rand((long)g.K * g.Crs); _c = Rand((long)g.N * g.K * g.P * g.Q);
            _d = Rand((long)g.N * g.C * g.H * g.W); _e = Rand((long)g.K * g.Crs);
        }
        _gpu.Synchronize();
    }

    [Benchmark]
    public void Run()
    {
        if (Case.StartsWith("gemm_", StringComparison.Ordinal))
            _gpu.Gemm(false, false, _n, _n, _n, 1f, _a, 0, _n, _b, 0, _n, 0f, _c, 0, _n);
        else if (Case == "copy_1GiB")
            _gpu.Copy(_a, 0, new[] { 1 }, _b, 0, new[] { 1 }, new[] { _n });
        else
        {
            // y, then dx and dw from dy (the conv's own output buffer stands in for dy)
            _gpu.Conv2dForward(_a, _b, null, _c, Conv);
            _gpu.Conv2dBackwardData(_c, _b, _d, Conv);
            _gpu.Conv2dBackwardWeight(_a, _c, _e, null, Conv);
        }
        _gpu.Synchronize();
    }
}
