// The GPU backend's count of device memory in use and its high-water mark (GpuBackend.Memory.cs), as
// PyTorch's memory_allocated / max_memory_allocated: storages count while handed out, not while they
// rest in the pool; scratch buffers inside a primitive count; the bench reports the mark per case.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Benchmarking;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class GpuMemoryPeakTests
{
    [Fact]
    public void InUseBytesAndTheirPeakFollowStoragesAndScratch()
    {
        var gpu = G.Simulator;
        long before = gpu.BytesInUse;
        gpu.ResetPeakBytesInUse();
        Assert.Equal(before, gpu.PeakBytesInUse);

        var a = gpu.Allocate(DType.Float32, 1000);
        var h = gpu.Allocate(DType.Float16, 3000);
        Assert.Equal(before + 4000 + 6000, gpu.BytesInUse);
        gpu.ReturnToPool(a);
        gpu.ReturnToPool(h);
        Assert.Equal(before, gpu.BytesInUse);
        Assert.Equal(before + 10000, gpu.PeakBytesInUse);   // the mark stays

        // a conv's backward-weight in 4 k segments holds 4 partial products of K*CRS floats while it runs
        var g = new ConvGeometry(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1);   // 128 pixels: 16 slices, 4 segments of 4
        var x = G.Up(gpu, G.Rand(1, g.N * g.C * g.H * g.W));
        var gy = G.Up(gpu, G.Rand(2, g.N * g.K * g.P * g.Q));
        var gw = G.Out(gpu, g.K * g.Crs);
        long held = gpu.BytesInUse;
        gpu.ResetPeakBytesInUse();
        int? saved = gpu.Options.ForcedConvSplitK;
        try
        {
            gpu.Options.ForcedConvSplitK = 4;
            gpu.Conv2dBackwardWeight(x, gy, gw, null, g);
        }
        finally { gpu.Options.ForcedConvSplitK = saved; }
        Assert.Equal(held, gpu.BytesInUse);
        Assert.Equal(held + 4L * g.K * g.Crs * sizeof(float), gpu.PeakBytesInUse);
        foreach (var s in new[] { x, gy, gw }) gpu.ReturnToPool(s);
    }

    [Fact]
    public void TheBenchReportsPeakMemoryOnTheGpu()
    {
        var device = Devices.Simulator();
        var c = BenchSuite.Cases(device, quick: true).First(k => k.Name.StartsWith("mnist_cnn_train_step", StringComparison.Ordinal));
        var r = BenchSuite.Run(c, device, warmup: 1, reps: 1);
        Assert.Null(r.Error);
        Assert.True(r.PeakMemMb > 0, $"peak {r.PeakMemMb} MiB");
        Assert.Contains("\"peak_mem_mb\"", BenchReport.JsonLine(r));
    }
}
