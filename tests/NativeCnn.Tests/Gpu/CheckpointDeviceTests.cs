// Checkpoints and bundles across devices: a checkpoint saved on the CPU loads into a learner on the
// GPU backend (ILGPU's CPU simulator here, CUDA where present) with its weights and optimizer state
// on that device, and a bundle predicts there what it predicts on the CPU.
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class CheckpointDeviceTests
{
    [Fact]
    public void ACpuCheckpointLoadsOntoTheGpuBackendWithItsOptimizerState()
    {
        var sim = Devices.Simulator();
        using var dir = new TempDir();
        var path = dir.File("ck.safetensors");
        var cpu = CheckpointTests.TinyLearner(1);
        cpu.Fit(1, 1e-2f);
        cpu.Save(path);

        var onSim = CheckpointTests.TinyLearner(2);
        onSim.Model.To(sim);
        onSim.Load(path);
        var cpuParams = cpu.Model.NamedParameters().ToList();
        var simParams = onSim.Model.NamedParameters().ToList();
        for (int i = 0; i < cpuParams.Count; i++)
        {
            Assert.Equal(sim, simParams[i].Value.Device);
            Assert.Equal(cpuParams[i].Value.ToArray(), simParams[i].Value.ToArray());
            var a = cpu.Opt!.GetState(cpuParams[i].Value);
            var b = onSim.Opt!.GetState(simParams[i].Value);
            Assert.Equal(sim, b["exp_avg"].Device);
            Assert.Equal(a["exp_avg"].ToArray(), b["exp_avg"].ToArray());
            Assert.Equal(a["exp_avg_sq"].ToArray(), b["exp_avg_sq"].ToArray());
            Assert.Equal(a["step"].ToInt32Array(), b["step"].ToInt32Array());
        }
        Assert.Equal(cpu.Model.StateDict()["1.running_mean"].ToArray(), onSim.Model.StateDict()["1.running_mean"].ToArray());
    }

    [Fact]
    public void ABundlePredictsOnTheGpuBackendWhatItPredictsOnTheCpu()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "valid", 1, 3, w: 8, h: 8);
        var files = Directory.GetFiles(Path.Combine(dir.Path, "valid"), "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        var learn = CheckpointTests.TinyLearner(4);
        // TinyLearner's data is 1-channel 8x8 with classes a, b, c: its bundle takes these grey-able PNGs.
        ExportBundle.Save(learn, dir.File("bundle", "x")[..^2]);
        var onCpu = Predictor.Load(Path.Combine(dir.Path, "bundle")).Predict(files);
        var onSim = Predictor.Load(Path.Combine(dir.Path, "bundle"), Devices.Simulator()).Predict(files);
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(onCpu[i].Class, onSim[i].Class);
            for (int c = 0; c < 3; c++) Assert.Equal(onCpu[i].Probabilities[c], onSim[i].Probabilities[c], 1e-5);
        }
    }
}
