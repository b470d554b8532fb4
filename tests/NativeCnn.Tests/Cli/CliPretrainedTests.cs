// `nativecnn train --arch resnet18 --pretrained FILE`: fastai's cnn_learner from torchvision weights
// through the CLI. The body gets the file's weights, trains frozen (its conv weights leave the run
// bit-identical, batch norm moves), the export bundle is a cnn_resnet18 that predict rebuilds, and a
// wrong --arch or a missing file is one clear line. Weights: the resnet18 golden (torchvision names).
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Models;
using NativeCnn.Tests.Training;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class CliPretrainedTests
{
    [Fact]
    public void Pretrained_resnet18_trains_frozen_and_exports_a_cnn_model()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "train", 6, 1);
        ExportBundleTests.WriteTwoClassFolder(data, "valid", 2, 2);
        var weights = ResNetGoldenTests.PathOf("resnet18.safetensors");
        var outDir = Path.Combine(dir.Path, "run");
        var (code, output, err) = Support.CliRunner.Run("train", "--data", data, "--arch", "resnet18", "--pretrained", weights, "--size", "32",
                                                        "--epochs", "1", "--bs", "4", "--out", outDir, "--json", "--device", "cpu");
        Assert.True(code == 0, err + output);
        Assert.Contains("\"arch\":\"cnn_resnet18\"", output.Replace(" ", ""));

        var golden = SafeTensors.Load(weights);
        var exported = SafeTensors.Load(Path.Combine(outDir, "model", "model.safetensors"));
        // frozen body: conv weights exactly as in the file; batch norm (trainable when frozen) moved
        Assert.Equal(golden["conv1.weight"].ToArray(), exported["0.0.weight"].ToArray());
        Assert.Equal(golden["layer4.1.conv2.weight"].ToArray(), exported["0.7.1.conv2.weight"].ToArray());
        Assert.NotEqual(golden["bn1.running_mean"].ToArray(), exported["0.1.running_mean"].ToArray());
        Assert.Contains("1.8.weight", exported.Keys);   // the head's last Linear(512, classes)
        Assert.Equal(new[] { 2, 512 }, exported["1.8.weight"].ShapeArray);

        var files = Directory.GetFiles(Path.Combine(data, "valid"), "*.png", SearchOption.AllDirectories);
        (code, output, err) = Support.CliRunner.Run(new[] { "predict", "--model", outDir, "--device", "cpu" }.Concat(files).ToArray());
        Assert.True(code == 0, err);
        Assert.Equal(files.Length, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Pretrained_resnet18_unfreezes_in_mixed_precision()
    {
        // --unfreeze makes a new optimizer after the frozen fit; in mixed precision it must step the
        // float32 masters (the run used to fail there: "must be float32"). The bundle is float32. (With
        // two steps an epoch the loss scaler may skip every step, so the weights are not compared.)
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "train", 4, 1);
        ExportBundleTests.WriteTwoClassFolder(data, "valid", 2, 2);
        var weights = ResNetGoldenTests.PathOf("resnet18.safetensors");
        var outDir = Path.Combine(dir.Path, "run");
        var (code, output, err) = Support.CliRunner.Run("train", "--data", data, "--arch", "resnet18", "--pretrained", weights, "--size", "32",
                                                        "--epochs", "1", "--unfreeze", "1", "--fp16", "--bs", "4", "--out", outDir, "--json", "--device", "cpu");
        Assert.True(code == 0, err + output);
        var exported = SafeTensors.Load(Path.Combine(outDir, "model", "model.safetensors"));
        Assert.Equal(DType.Float32, exported["0.0.weight"].DType);
        Assert.Contains("\"fp16\":true", output.Replace(" ", ""));
    }

    [Fact]
    public void Pretrained_needs_a_resnet_arch_and_an_existing_file()
    {
        var weights = ResNetGoldenTests.PathOf("resnet18.safetensors");
        var (code, _, err) = Support.CliRunner.Run("train", "--arch", "mnist_cnn", "--pretrained", weights, "--limit", "64");
        Assert.Equal(2, code);
        Assert.Contains("--pretrained needs --arch resnet18 or resnet34", err);
        (code, _, err) = Support.CliRunner.Run("train", "--arch", "resnet18", "--pretrained", "/nonexistent/w.pth");
        Assert.Equal(2, code);
        Assert.Contains("'/nonexistent/w.pth' does not exist", err);
    }
}
