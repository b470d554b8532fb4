// Issue #19 points 6 and 12 (and 1 for weights): pretrained bodies load strictly. resnet34 weights
// used to load into --arch resnet18 (unexpected keys ignored); a wrong conv1 shape named the internal
// key "0.weight", not the file; NaN weights trained to NaN. Now unexpected, missing and mis-shaped keys
// are listed under the file's own names (the replaced head, fc.*, and num_batches_tracked, which old
// torch did not save, excepted), and every CLI message names the file.
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Models;
using NativeCnn.Tests.Training;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class PretrainedStrictTests
{
    private static Dictionary<string, Tensor> Golden() => SafeTensors.Load(ResNetGoldenTests.PathOf("resnet18.safetensors"));

    private static NativeCnn.Nn.Sequential Cnn() => CnnModel.Create(ResNet.ResNet18(1000, 3, new Rng(1)), 2, rng: new Rng(2));

    [Fact]
    public void ANetworkOfAnotherDepthIsRefusedListingTheKeysThatDoNotBelong()
    {
        var resnet34 = ResNet.ResNet34(1000, 3, new Rng(3)).StateDict();
        var e = Assert.Throws<NativeCnnException>(() => CnnModel.LoadBody(Cnn(), ResNet.ResNet18(), resnet34));
        Assert.Contains("unexpected key(s) that ResNet does not have (layer1.2.conv1.weight", e.Message);
        Assert.DoesNotContain("0.4.", e.Message);   // the file's names, not the body's
    }

    [Fact]
    public void MissingAndMisShapedKeysAreNamedAsInTheFileAndTheHeadAndOldBatchCountersAreExcepted()
    {
        var state = Golden();
        state.Remove("layer4.1.bn2.weight");
        state["conv1.weight"] = Tensor.Zeros(new[] { 64, 1, 7, 7 }, DType.Float32);
        var e = Assert.Throws<NativeCnnException>(() => CnnModel.LoadBody(Cnn(), ResNet.ResNet18(), state));
        Assert.Contains("1 missing key(s) (layer4.1.bn2.weight)", e.Message);
        Assert.Contains("conv1.weight has shape (64, 1, 7, 7), expected (64, 3, 7, 7)", e.Message);

        // torchvision's own file (with its 1000-class fc) loads; so does one saved before num_batches_tracked existed
        var old = Golden().Where(kv => !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Contains("fc.weight", old.Keys);
        var model = Cnn();
        CnnModel.LoadBody(model, ResNet.ResNet18(), old);
        Assert.Equal(Golden()["layer4.1.conv2.weight"].ToArray(), model.StateDict()["0.7.1.conv2.weight"].ToArray());
    }

    [Fact]
    public void TheCliNamesTheFileForWrongAndNonFiniteWeights()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 4, 1);
        var resnet34 = dir.File("resnet34.safetensors");
        SafeTensors.Save(resnet34, ResNet.ResNet34(1000, 3, new Rng(3)).StateDict());
        string[] Args(string weights) => ["train", "--data", data, "--arch", "resnet18", "--pretrained", weights, "--size", "32", "--epochs", "1", "--bs", "4", "--device", "cpu"];
        var (code, output, err) = Support.CliRunner.Run(Args(resnet34));
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Contains($"--pretrained '{resnet34}' for --arch resnet18: the pretrained weights do not fit ResNet", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var withNaN = Golden();
        var w = withNaN["layer2.0.conv1.weight"].ToArray();
        w[7] = float.NaN;
        withNaN["layer2.0.conv1.weight"] = Tensor.FromArray(w, withNaN["layer2.0.conv1.weight"].ShapeArray);
        var nanFile = dir.File("nan.safetensors");
        SafeTensors.Save(nanFile, withNaN);
        (code, output, err) = Support.CliRunner.Run(Args(nanFile));
        Assert.Equal(1, code);
        Assert.DoesNotContain("train_loss", output);
        Assert.Contains($"--pretrained '{nanFile}': the weights must be finite, but 'layer2.0.conv1.weight' holds 1 non-finite value(s)", err);
    }
}
