// The device API: listing, the simulator device, CUDA refusal with a reason on a machine without a
// usable GPU, Auto's fallback, and tensors moving between devices through the registered backend.
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class DevicesTests
{
    [Fact]
    public void ListHasCpuAndSimulatorAndExplainsUnusableDevices()
    {
        var list = Devices.List();
        Assert.Contains(list, d => d.Device == Device.Cpu && d.Usable);
        var sim = Assert.Single(list, d => d.Device.Kind == DeviceKind.GpuSimulator);
        Assert.Equal(32, sim.WarpSize);
        Assert.All(list.Where(d => !d.Usable), d => Assert.False(string.IsNullOrWhiteSpace(d.Reason)));
        Assert.All(list.Where(d => d.Device.Kind == DeviceKind.Cuda), d => Assert.Matches(@"^\d+\.\d+$", d.ComputeCapability));
    }

    [Fact]
    public void CudaWithoutAUsableDeviceThrowsWithTheReasonAndAutoFallsBackToCpu()
    {
        string? reason = Devices.CudaUnavailableReason();
        if (reason is null)
        {
            Assert.Equal(DeviceKind.Cuda, Devices.Auto().Kind);
            return;
        }
        var e = Assert.Throws<NativeCnnException>(() => Devices.Cuda(0));
        Assert.Contains("Devices.Cuda", e.Message);
        Assert.Equal(Device.Cpu, Devices.Auto());
    }

    [Fact]
    public void TensorsMoveToTheSimulatorComputeThereAndComeBack()
    {
        var sim = Devices.Simulator();
        Assert.Equal(DeviceKind.GpuSimulator, sim.Kind);
        var host = new[] { 1f, -2f, 3f, 4.5f, 0f, -1f };
        var x = Tensor.FromArray(host, new[] { 2, 3 }).To(sim);
        Assert.Equal(sim, x.Device);
        var y = (x * 2f + 1f).Relu().Sum(1);
        Assert.Equal(sim, y.Device);
        Assert.Equal(new[] { 10f, 11f }, y.To(Device.Cpu).ToArray());   // relu(2x+1) = (3,0,7), (10,1,0)

        var onCpu = Tensor.FromArray(host, new[] { 2, 3 });
        var e = Assert.Throws<NativeCnnException>(() => x + onCpu);
        Assert.Contains("one device", e.Message);
    }
}

/// <summary>Checks that only mean something on a CUDA device; skipped, with the reason, elsewhere.</summary>
[Collection("Gpu")]
public class CudaDeviceTests
{
    [CudaFact]
    public void CudaDeviceIsListedUsableAndRunsKernels()
    {
        var device = Devices.Cuda();
        var info = Devices.List().Single(d => d.Device == device);
        Assert.True(info.Usable);
        Assert.Equal(32, info.WarpSize);
        Assert.Equal(device, Devices.Auto());
        var x = Tensor.FromArray(new[] { 1f, -2f, 3f }, new[] { 3 }).To(device);
        Assert.Equal(new[] { 3f, 0f, 7f }, (x * 2f + 1f).Relu().To(Device.Cpu).ToArray());
    }

    [CudaFact]
    public void CudaGemmAtTileMultiplesAndBeyond()
    {
        // sizes a CPU simulator cannot afford: several 64x64 tiles and many k slices
        var gpu = G.Cuda;
        foreach (var (m, n, k) in new[] { (256, 192, 320), (300, 257, 1000) })
        {
            var a = G.Rand(1, m * k); var b = G.Rand(2, k * n);
            var sa = G.Up(gpu, a); var sb = G.Up(gpu, b); var sc = G.Out(gpu, m * n);
            gpu.Gemm(false, false, m, n, k, 1f, sa, 0, k, sb, 0, n, 0f, sc, 0, n);
            var c = G.Down(gpu, sc);
            var rnd = new Random(3);
            for (int t = 0; t < 200; t++)
            {
                int i = rnd.Next(m), j = rnd.Next(n);
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                Assert.InRange(c[i * n + j], s - 1e-3 * (1 + Math.Abs(s)), s + 1e-3 * (1 + Math.Abs(s)));
            }
        }
    }
}
