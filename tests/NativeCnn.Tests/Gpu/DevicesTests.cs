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
