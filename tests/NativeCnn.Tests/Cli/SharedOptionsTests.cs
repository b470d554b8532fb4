// The data/model options shared by train, lr-find, finetune and show-batch: the transforms and the extra
// channel's meaning given to train are recorded in the export bundle (model.json and the weights'
// metadata), read back by ExportBundle.Load, kept by finetune unless a flag changes one, and shown by
// show-batch --model; lr-find runs on a class folder, a multi-label CSV and resnet18 as train takes them.
using System.Text.Json;
using NativeCnn.Data.Transforms;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class SharedOptionsTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    [Fact]
    public void TransformsAndExtraChannelTravelWithTheModel()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "train", 4, 1, w: 8, h: 8);
        ExportBundleTests.WriteTwoClassFolder(data, "valid", 2, 2, w: 8, h: 8);
        var run = Path.Combine(dir.Path, "run");
        var (code, _, err) = Run("train", "--data", data, "--size", "8", "--channels", "4", "--epochs", "1", "--bs", "4", "--device", "cpu",
                                 "--flip-vert", "--max-rotate", "5", "--max-zoom", "1.2", "--max-lighting", "0.3", "--max-warp", "0", "--p-affine", "0.5",
                                 "--p-lighting", "0.25", "--extra-channel", "data", "--out", run);
        Assert.True(code == 0, err);
        var expected = new AugmentOptions
        {
            FlipVert = true, MaxRotate = 5, MaxZoom = 1.2, MaxLighting = 0.3, MaxWarp = 0, PAffine = 0.5, PLighting = 0.25, LightingExtraChannel = ExtraChannel.Data,
        };
        var (_, info) = ExportBundle.Load(Path.Combine(run, "model"));
        Assert.Equal(expected, info.Augment);
        var settings = File.ReadAllText(Path.Combine(run, "model", ExportBundle.SettingsFile));
        Assert.Contains("extra_channel", settings);
        Assert.Contains("flip_vert", settings);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json"))))
            Assert.Contains("dihedral", metrics.RootElement.ToString());

        // finetune keeps the model's transforms; a flag given changes only its own
        var corrections = Path.Combine(dir.Path, "corrections");
        ExportBundleTests.WriteTwoClassFolder(corrections, "", 2, 3, w: 8, h: 8);
        var tuned = Path.Combine(dir.Path, "tuned");
        (code, _, err) = Run("finetune", "--model", Path.Combine(run, "model"), "--data", corrections, "--out", tuned, "--epochs", "1", "--device", "cpu", "--max-rotate", "20");
        Assert.True(code == 0, err);
        Assert.Equal(expected with { MaxRotate = 20 }, ExportBundle.Load(Path.Combine(tuned, "model")).Info.Augment);

        // show-batch --model draws with the model's transforms and says which
        (code, var output, err) = Run("show-batch", "--data", corrections, "--model", Path.Combine(tuned, "model"), "--out", dir.File("grid.png"), "--rows", "1", "--cols", "2");
        Assert.True(code == 0, err);
        Assert.Contains("images of 8x8", output);
        Assert.Contains("transforms: flip (dihedral: vertical and 90-degree turns), max_rotate 20, max_zoom 1.2, max_lighting 0.3, max_warp 0, p_affine 0.5, p_lighting 0.25, extra channel data", output);
    }

    [Fact]
    public void BundleWithoutTransformsReadsAsUnrecordedAndBadOnesAreNamed()
    {
        var d = new Dictionary<string, string>();
        Assert.Null(AugmentMetadata.Read(d, "m"));
        AugmentMetadata.Write(new AugmentOptions { DoFlip = false, LightingExtraChannel = ExtraChannel.Data }, d);
        Assert.Equal(new AugmentOptions { DoFlip = false, LightingExtraChannel = ExtraChannel.Data }, AugmentMetadata.Read(d, "m"));
        d[AugmentMetadata.AugmentKey] = d[AugmentMetadata.AugmentKey].Replace("\"max_zoom\":1.1", "\"max_zoom\":0.5");
        var e = Assert.Throws<NativeCnnException>(() => AugmentMetadata.Read(d, "m"));
        Assert.Contains("model 'm': metadata 'augment'", e.Message);
        d[AugmentMetadata.ExtraChannelKey] = "infrared";
        Assert.Contains("expected alpha or data", Assert.Throws<NativeCnnException>(() => AugmentMetadata.Read(d, "m")).Message);
    }

    private static JsonElement LrFind(params string[] args)
    {
        var (code, output, err) = Run(new[] { "lr-find", "--num-it", "6", "--start-lr", "1e-4", "--end-lr", "1", "--device", "cpu", "--json" }.Concat(args).ToArray());
        Assert.True(code == 0, err);
        Assert.Contains("suggested lr (steepest descent):", err);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    [Fact]
    public void LrFindOnAFolder()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "", 6, 1, w: 8, h: 8);
        var json = LrFind("--data", data, "--size", "8", "--bs", "4", "--no-flip", "--max-rotate", "0");
        Assert.Equal(data, json.GetProperty("data").GetString());
        Assert.Equal(10, json.GetProperty("train_images").GetInt32());   // 12 less the 20% held out
        Assert.Equal("mnist_cnn", json.GetProperty("arch").GetString());
        Assert.InRange(json.GetProperty("batches").GetInt32(), 2, 6);
    }

    [Fact]
    public void LrFindOnAMultiLabelCsvInMixedPrecision()
    {
        using var dir = new TempDir();
        var rows = new List<string> { "name,tags" };
        for (int k = 0; k < 12; k++)
        {
            using var img = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(8, 8);
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) img[x, y] = new((byte)((x < 4) == (k % 2 == 0) ? 200 : 40));
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(img, dir.File("img", $"i{k}.png"));
            rows.Add($"i{k},{(k % 2 == 0 ? "left" : "right")}{(k % 3 == 0 ? " marked" : "")}");
        }
        File.WriteAllLines(dir.File("labels.csv"), rows);
        var json = LrFind("--data", dir.File("labels.csv"), "--folder", Path.Combine(dir.Path, "img"), "--suffix", ".png", "--multi-label",
                          "--size", "8", "--channels", "1", "--bs", "4", "--fp16");
        Assert.True(json.GetProperty("multi_label").GetBoolean());
        Assert.True(json.GetProperty("fp16").GetBoolean());
        Assert.InRange(json.GetProperty("batches").GetInt32(), 2, 6);
    }

    [Fact]
    public void LrFindOnPretrainedResnet18()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "train", 4, 1);
        ExportBundleTests.WriteTwoClassFolder(data, "valid", 2, 2);
        var json = LrFind("--data", data, "--arch", "resnet18", "--pretrained", Models.ResNetGoldenTests.PathOf("resnet18.safetensors"), "--size", "32", "--bs", "4");
        Assert.Equal("cnn_resnet18", json.GetProperty("arch").GetString());
        Assert.Equal(8, json.GetProperty("train_images").GetInt32());
        Assert.InRange(json.GetProperty("batches").GetInt32(), 2, 6);
        if (json.GetProperty("lr_steep").ValueKind == JsonValueKind.Number) Assert.InRange(json.GetProperty("lr_steep").GetDouble(), 1e-4, 1);
    }
}
