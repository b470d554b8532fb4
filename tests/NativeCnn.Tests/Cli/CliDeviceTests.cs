// Devices in the CLI: `nativecnn devices` (the listing, and its text for usable and unusable CUDA
// devices), `--device cuda` where no usable GPU exists (one line naming why, exit 1), and training on
// the GPU backend: `train --device simulator` on tiny 4x4 images gives the CPU's numbers, so the model
// and every batch really ran on the device.
using NativeCnn.Cli;
using NativeCnn.Data;
using NativeCnn.Tests.Gpu;
using Xunit;

namespace NativeCnn.Tests.Cli;

[Collection("Gpu")]
public class CliDeviceTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    [Fact]
    public void DevicesListsTheCpuTheSimulatorCudaAndWhatAutoPicks()
    {
        var (code, output, err) = Run("devices");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^cpu\s+managed CPU backend \(\d+ cores\), \d+\.\d GiB host memory$", lines[0]);
        Assert.Matches(@"^gpu-simulator:0\s+ILGPU CPU simulator.*, warp 32$", lines[1]);
        string? why = Devices.CudaUnavailableReason();
        if (why is null)
        {
            Assert.Contains(lines, l => l.StartsWith("cuda:0 ", StringComparison.Ordinal) && l.Contains("compute capability"));
            Assert.Matches(@"^auto\s+cuda:\d+$", lines[^1]);
        }
        else
        {
            // no usable GPU here: the reason is printed (on this machine: no NVIDIA driver at all)
            Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^cuda\s+(none|no usable device): ") && l.Contains(why));
            Assert.Matches(@"^auto\s+cpu$", lines[^1]);
        }
    }

    private const int W = DevicesCommand.NameWidth;

    [Fact]
    public void DevicesListingNamesMemoryCapabilityAndWhyADeviceCannotBeUsed()
    {
        var list = new[]
        {
            new DeviceInfo(Device.Cpu, "managed CPU backend (2 cores)", 24L << 30, "", 0, true, null),
            new DeviceInfo(new Device(DeviceKind.Cuda, 0), "NVIDIA H100 80GB HBM3", 85_045_231_616, "9.0", 32, true, null),
            new DeviceInfo(new Device(DeviceKind.Cuda, 1), "NVIDIA RTX PRO 6000", 102L << 30, "12.0", 32, false, "ILGPU 1.5.3 does not know compute capability 12.0"),
        };
        var text = DevicesCommand.Listing(list, null, new Device(DeviceKind.Cuda, 0));
        Assert.Equal(
            $"{"cpu",-W}managed CPU backend (2 cores), 24.0 GiB host memory\n" +
            $"{"cuda:0",-W}NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0, warp 32\n" +
            $"{"cuda:1",-W}NVIDIA RTX PRO 6000, 102.0 GiB, compute capability 12.0, warp 32 -- not usable: ILGPU 1.5.3 does not know compute capability 12.0\n" +
            $"{"auto",-W}cuda:0\n", text.ReplaceLineEndings("\n"));

        // only unusable CUDA devices: the reason is repeated on a cuda line; none at all: said so
        var unusable = DevicesCommand.Listing(new[] { list[0], list[2] }, "cuda:1: ILGPU 1.5.3 does not know compute capability 12.0", Device.Cpu);
        Assert.Contains($"{"cuda",-W}no usable device: cuda:1: ILGPU 1.5.3 does not know compute capability 12.0\n", unusable.ReplaceLineEndings("\n"));
        var none = DevicesCommand.Listing(new[] { list[0] }, "no NVIDIA driver found (the CUDA driver library libcuda / nvcuda could not be loaded)", Device.Cpu);
        Assert.EndsWith($"{"cuda",-W}none: no NVIDIA driver found (the CUDA driver library libcuda / nvcuda could not be loaded)\n{"auto",-W}cpu\n", none.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void CudaWithoutAUsableGpuIsOneLineNamingWhy()
    {
        string? why = Devices.CudaUnavailableReason();
        var (code, output, err) = Run("train", "--device", why is null ? "cuda:99" : "cuda", "--epochs", "1", "--limit", "64");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.DoesNotContain("   at ", err);
        if (why is null)
            Assert.Contains("--device cuda:99: Devices.Cuda: no CUDA device with index 99", lines[0]);
        else
            Assert.Equal($"nativecnn: error: --device cuda: no usable NVIDIA GPU: {why}", lines[0]);
    }

    /// <summary>16 training and 8 validation images of 4x4 pixels (mnist_cnn takes any size: it ends in
    /// a global average pool), labels from the pixels, so training has something to learn.</summary>
    private static (ImageDataset Train, ImageDataset Valid) Tiny()
    {
        var rnd = new Random(4);
        ImageDataset Make(int count, string name)
        {
            var pixels = new byte[count * 16];
            var labels = new int[count];
            for (int i = 0; i < count; i++)
            {
                labels[i] = i % 3;
                for (int p = 0; p < 16; p++) pixels[i * 16 + p] = (byte)(rnd.Next(60) + (p % 3 == labels[i] ? 180 : 0));
            }
            return new ImageDataset(pixels, labels, 4, 4, 10, name);
        }
        return (Make(8, "tiny-train"), Make(4, "tiny-valid"));
    }

    [Fact]
    public void TrainingOnTheSimulatorGivesTheCpuNumbers()
    {
        var (train, valid) = Tiny();
        var o = TrainOptions.Parse(new[] { "--epochs", "1", "--bs", "8", "--seed", "3", "--device", "simulator" });
        Assert.Equal("simulator", o.Device);
        List<TrainCommand.EpochResult> On(Device device)
        {
            var table = new StringWriter();
            return TrainCommand.Train(o, train, valid, table, TextWriter.Null, device);
        }
        var cpu = On(Device.Cpu);
        var sim = On(DevicesCommand.Resolve(o.Device));
        Assert.Single(sim);
        for (int e = 0; e < cpu.Count; e++)
        {
            Assert.True(double.IsFinite(cpu[e].TrainLoss) && cpu[e].TrainLoss > 0, $"epoch {e}: train loss {cpu[e].TrainLoss}");
            G.Close(new[] { (float)cpu[e].TrainLoss, (float)cpu[e].ValidLoss }, new[] { (float)sim[e].TrainLoss, (float)sim[e].ValidLoss }, 1e-4, $"epoch {e} losses");
            Assert.Equal(cpu[e].Accuracy, sim[e].Accuracy);
        }
    }
}
