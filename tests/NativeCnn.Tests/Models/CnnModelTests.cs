// ResNet construction (torchvision's parameter counts and init), and the cnn_learner pieces of
// CnnModel: the body cut, fastai v1's head (names, shapes, init), the three ResNet layer groups,
// fastai v2's input-channel adaptation (exact values), and CnnLearner (frozen, normalised data).
using NativeCnn.Autograd;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Models;

public class CnnModelTests
{
    private static double Std(float[] v)
    {
        double mean = v.Average(x => (double)x);
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
    }

    [Fact]
    public void ResNetParameterCountsAreTorchvisions()
    {
        // torchvision: resnet18 11,689,512 and resnet34 21,797,672 parameters at 1000 classes.
        Assert.Equal(11_689_512, ResNet.ResNet18(rng: new Rng(1)).ParameterCount());
        Assert.Equal(21_797_672, ResNet.ResNet34(rng: new Rng(1)).ParameterCount());
        var r34 = ResNet.ResNet34(classes: 5, inChannels: 1, rng: new Rng(1)).StateDict();
        Assert.Equal(new[] { 64, 1, 7, 7 }, r34["conv1.weight"].Shape);
        Assert.Equal(new[] { 256, 128, 1, 1 }, r34["layer3.0.downsample.0.weight"].Shape);
        Assert.True(r34.ContainsKey("layer3.5.bn2.running_var"));
        Assert.False(r34.ContainsKey("layer3.6.conv1.weight"));
        Assert.Equal(new[] { 5, 512 }, r34["fc.weight"].Shape);
    }

    [Fact]
    public void ResNetRejectsInputsOfTheWrongShapeAndBadSettings()
    {
        var m = ResNet.ResNet18(classes: 2, inChannels: 1, rng: new Rng(1));
        var e = Assert.Throws<NativeCnnException>(() => m.Forward(Tensor.Zeros(1, 3, 32, 32)));
        Assert.Contains("expected an input (N, 1, H, W), got shape (1, 3, 32, 32)", e.Message);
        e = Assert.Throws<NativeCnnException>(() => new ResNet(new[] { 2, 2, 2 }));
        Assert.Contains("4 positive block counts", e.Message);
        Assert.Throws<NativeCnnException>(() => ResNet.ResNet18(classes: 0));
    }

    [Fact]
    public void ResNetInitIsTorchvisions()
    {
        var m = ResNet.ResNet18(classes: 10, rng: new Rng(3));
        var s = m.StateDict();
        // kaiming normal, fan_out, relu: std sqrt(2 / (out * kH * kW)).
        foreach (var (key, fanOut) in new[] { ("conv1.weight", 64 * 49), ("layer3.1.conv2.weight", 256 * 9), ("layer4.0.downsample.0.weight", 512) })
        {
            double expected = Math.Sqrt(2.0 / fanOut);
            double std = Std(s[key].ToArray());
            Assert.True(Math.Abs(std / expected - 1) < 0.03, $"{key}: std {std}, expected {expected}");
        }
        Assert.All(s["layer2.1.bn1.weight"].ToArray(), v => Assert.Equal(1f, v));
        Assert.All(s["layer2.1.bn1.bias"].ToArray(), v => Assert.Equal(0f, v));
        // fc keeps Linear's default U(-1/sqrt(512), 1/sqrt(512)).
        var fc = s["fc.weight"].ToArray();
        Assert.True(fc.Max() <= 1 / Math.Sqrt(512) && fc.Min() >= -1 / Math.Sqrt(512) && fc.Max() > 0.9 / Math.Sqrt(512));
        // Same seed, same model.
        Assert.Equal(fc, ResNet.ResNet18(classes: 10, rng: new Rng(3)).Fc.Weight.ToArray());
    }

    [Fact]
    public void BodyHeadAndModelHaveFastaiNames()
    {
        var arch = ResNet.ResNet18(classes: 1000, rng: new Rng(5));
        var model = CnnModel.Create(arch, classes: 7, rng: new Rng(6));
        var body = (Sequential)model[0];
        Assert.Equal(8, body.Count);
        Assert.Same(arch.Conv1, body[0]);          // shared, so the pretrained weights are used
        Assert.Same(arch.Layers[3], body[7]);
        var keys = model.StateDict().Keys.ToList();
        Assert.Equal("0.0.weight", keys[0]);
        Assert.Contains("0.4.1.conv2.weight", keys);
        Assert.Contains("0.5.0.downsample.1.running_mean", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("0.8", StringComparison.Ordinal) || k.Contains("fc"));
        var head = keys.Where(k => k.StartsWith("1.", StringComparison.Ordinal)).ToList();
        Assert.Equal(new[]
        {
            "1.2.weight", "1.2.bias", "1.2.running_mean", "1.2.running_var", "1.2.num_batches_tracked",
            "1.4.weight", "1.4.bias",
            "1.6.weight", "1.6.bias", "1.6.running_mean", "1.6.running_var", "1.6.num_batches_tracked",
            "1.8.weight", "1.8.bias",
        }, head);
        var st = model.StateDict();
        Assert.Equal(new[] { 1024 }, st["1.2.weight"].Shape);
        Assert.Equal(new[] { 512, 1024 }, st["1.4.weight"].Shape);
        Assert.Equal(new[] { 7, 512 }, st["1.8.weight"].Shape);
        var h = (Sequential)model[1];
        Assert.IsType<AdaptiveConcatPool2d>(h[0]);
        Assert.Equal(0.25f, ((Dropout)h[3]).P);
        Assert.Equal(0.5f, ((Dropout)h[7]).P);
        // fastai's apply_init: kaiming normal (fan_in, gain sqrt 2), zero bias on the new linear layers.
        double std = Std(st["1.4.weight"].ToArray());
        Assert.True(Math.Abs(std / Math.Sqrt(2.0 / 1024) - 1) < 0.02, $"1.4.weight std {std}");
        Assert.All(st["1.4.bias"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(st["1.8.bias"].ToArray(), v => Assert.Equal(0f, v));

        // The adaptive pools make the model size-agnostic.
        model.Eval();
        using var _ = new NoGrad();
        Assert.Equal(new[] { 2, 7 }, model.Forward(Tensor.Randn(new[] { 2, 3, 32, 32 }, new Rng(1))).Shape);
        Assert.Equal(new[] { 1, 7 }, model.Forward(Tensor.Randn(new[] { 1, 3, 72, 48 }, new Rng(1))).Shape);
    }

    [Fact]
    public void BodyOfASequentialIsCutBeforeItsLastPool()
    {
        var mnist = SimpleCnn.MnistCnn(rng: new Rng(1));
        var body = CnnModel.CreateBody(mnist);
        Assert.Equal(12, body.Count);     // 4 x (conv, bn, relu); the pool, flatten and linear are dropped
        Assert.Equal(128, CnnModel.NumFeatures(body, inChannels: 1));
        Assert.Equal(5, CnnModel.CreateBody(mnist, cut: 5).Count);
        var e = Assert.Throws<NativeCnnException>(() => CnnModel.CreateBody(new Sequential(new Conv2d(1, 2, 3), new ReLU())));
        Assert.Contains("no pooling child", e.Message);
    }

    [Fact]
    public void ResNetLayerGroupsPartitionTheModel()
    {
        var arch = ResNet.ResNet18(rng: new Rng(2));
        var model = CnnModel.Create(arch, classes: 3, rng: new Rng(2));
        var groups = CnnModel.ResNetLayerGroups(model);
        Assert.Equal(3, groups.Length);
        Assert.Equal(new Module[] { arch.Conv1, arch.Bn1 }, groups[0].Take(2));
        Assert.Same(arch.Layers[1], groups[0][5]);
        Assert.Equal(new Module[] { arch.Layers[2], arch.Layers[3] }, groups[1]);
        Assert.Same(model[1], Assert.Single(groups[2]));
        var all = groups.SelectMany(g => g.SelectMany(m => m.Parameters())).ToList();
        Assert.Equal(model.Parameters().Count(), all.Count);
        Assert.Equal(all.Count, all.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.Throws<NativeCnnException>(() => CnnModel.ResNetLayerGroups(SimpleCnn.MnistCnn()));
    }

    [Fact]
    public void AdaptInputChannelsAsFastaiV2()
    {
        // (out 2, in 3, 1, 2): filter f, channel c, tap k = 100 f + 10 c + k.
        var w = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (float)(100 * (i / 6) + 10 * (i / 2 % 3) + i % 2)).ToArray(), new[] { 2, 3, 1, 2 });
        var one = CnnModel.AdaptInputChannels(w, 1);
        Assert.Equal(new[] { 2, 1, 1, 2 }, one.Shape);
        Assert.Equal(new float[] { 30, 33, 330, 333 }, one.ToArray());
        var two = CnnModel.AdaptInputChannels(w, 2);
        Assert.Equal(new float[] { 0, 1.5f, 15, 16.5f, 150, 151.5f, 165, 166.5f }, two.ToArray());
        Assert.Equal(w.ToArray(), CnnModel.AdaptInputChannels(w, 3).ToArray());
        var five = CnnModel.AdaptInputChannels(w, 5);
        Assert.Equal(new[] { 2, 5, 1, 2 }, five.Shape);
        Assert.Equal(new float[] { 0, 1, 10, 11, 20, 21, 0, 0, 0, 0, 100, 101, 110, 111, 120, 121, 0, 0, 0, 0 }, five.ToArray());
        var e = Assert.Throws<NativeCnnException>(() => CnnModel.AdaptInputChannels(Tensor.Zeros(2, 4, 1, 1), 1));
        Assert.Contains("(out, 3, kH, kW), got shape (2, 4, 1, 1)", e.Message);
    }

    [Fact]
    public void OneChannelResNetFromRgbWeightsSeesGreyAsTheRgbNetworkDoes()
    {
        // Summing the filters makes conv1(grey) == conv1(grey replicated to RGB): the whole network agrees.
        var rgb = ResNet.ResNet18(classes: 4, rng: new Rng(8));
        var grey = ResNet.ResNet18(classes: 4, inChannels: 1, rng: new Rng(9));
        grey.LoadStateDict(CnnModel.AdaptInputChannels(rgb.StateDict(), 1), strict: true);
        rgb.Eval(); grey.Eval();
        using var _ = new NoGrad();
        var x = Tensor.Rand(new[] { 2, 1, 32, 32 }, new Rng(10));
        var a = grey.Forward(x).ToArray();
        var b = rgb.Forward(Tensor.Concat(new[] { x, x, x }, 1)).ToArray();
        double scale = b.Max(v => Math.Abs(v));
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 * scale, $"logit {i}: grey {a[i]}, rgb {b[i]}");
    }

    [Fact]
    public void CnnLearnerIsFrozenAndNormalisesWithTheBodysStats()
    {
        var rng = new Rng(11);
        var batches = Enumerable.Range(0, 2).Select(i => (Tensor.Rand(new[] { 4, 3, 32, 32 }, rng), Tensor.FromArray(new[] { 0, 1, 0, 1 }, new[] { 4 }))).ToList();
        var data = DataBunch.From(batches, batches.Take(1).ToList());
        var arch = ResNet.ResNet18(rng: new Rng(12));
        var learn = CnnLearner.Create(data, arch, classes: 2, rng: new Rng(13));

        Assert.Equal(3, learn.LayerGroups.Count);
        Assert.Same(NormStats.ImageNet, learn.Data.Stats);
        var (x0, _) = learn.Data.Train.Epoch().First();
        var raw = batches[0].Item1.ToArray();
        var norm = x0.ToArray();
        int plane = 32 * 32;
        for (int i = 0; i < raw.Length; i += 97)
        {
            int c = i / plane % 3;
            Assert.Equal((raw[i] - NormStats.ImageNet.Mean[c]) / NormStats.ImageNet.Std[c], norm[i], 5);
        }
        // One reused buffer for every batch of a shape; the source's own tensors stay as they were.
        var xs = learn.Data.Train.Epoch().Select(b => b.X).ToList();
        Assert.Same(xs[0], xs[1]);
        Assert.Equal(raw, batches[0].Item1.ToArray());
        // Frozen: body convs off, body BN on (fastai's train_bn), the head on.
        Assert.False(arch.Conv1.Weight.RequiresGrad);
        Assert.False(arch.Layers[3][1].Parameters().First().RequiresGrad);
        Assert.True(arch.Bn1.Weight!.RequiresGrad);
        Assert.All(((Sequential)learn.Model)[1].Parameters(), p => Assert.True(p.RequiresGrad));

        var conv = arch.Conv1.Weight.ToArray();
        var headW = ((Linear)((Sequential)((Sequential)learn.Model)[1])[8]).Weight.ToArray();
        learn.Fit(1, 1e-3f);
        Assert.Equal(conv, arch.Conv1.Weight.ToArray());
        Assert.NotEqual(headW, ((Linear)((Sequential)((Sequential)learn.Model)[1])[8]).Weight.ToArray());

        // Data already normalised are left alone; a whole ResNet is not a body.
        var pre = new DataBunch(new ListSource(batches), new ListSource(batches)) { Stats = NormStats.Cifar };
        Assert.Same(NormStats.Cifar, CnnLearner.Create(pre, ResNet.ResNet18(rng: new Rng(1)), 2).Data.Stats);
        Assert.Throws<NativeCnnException>(() => CnnLearner.Create(data, (Module)ResNet.ResNet18(rng: new Rng(1)), 2));
    }
}

/// <summary>CnnModel on the GPU backend's simulator. The simulator is one shared backend, and it must
/// not be driven from two threads at once: run in parallel with the GPU suite, this test's uploads and
/// downloads made a suite GEMM read zeros (seen in CI runs, reproduced with uploads alone on a second
/// thread). So it runs in the serial "Gpu" collection with every other simulator user.</summary>
[Collection("Gpu")]
public class CnnModelDeviceTests
{
    [Fact]
    public void HeadIsMadeOnTheBodysDevice()
    {
        // A small body on ILGPU's CPU simulator of the GPU backend: the new head must land there too.
        var device = Devices.Simulator();
        var arch = new Sequential(new Conv2d(1, 4, 3, padding: 1, bias: false, rng: new Rng(1)), new BatchNorm2d(4), new ReLU(), new AdaptiveAvgPool2d(1));
        arch.To(device);
        var model = CnnModel.Create(arch, classes: 3, rng: new Rng(2));
        Assert.All(model.StateDict().Values, t => Assert.Equal(device, t.Device));
        model.Eval();
        using var _ = new NoGrad();
        Assert.Equal(new[] { 2, 3 }, model.Forward(Tensor.Rand(new[] { 2, 1, 8, 8 }, new Rng(3)).To(device)).Shape);
    }
}
