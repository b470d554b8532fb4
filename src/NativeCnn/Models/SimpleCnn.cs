// Small reference CNNs. MnistCnn is the mnist_cnn of shared/reference/MODELS.md, built with exactly
// the child numbering of torch_baseline.py's nn.Sequential so its state dict names ("0.weight",
// "1.running_mean", ..., "14.bias") match PyTorch's one to one.
using NativeCnn.Nn;

namespace NativeCnn.Models;

/// <summary>Small reference CNNs with PyTorch's nn.Sequential numbering of their state-dict keys.</summary>
public static class SimpleCnn
{
    /// <summary>1x28x28 -> classes: four conv3x3-BN-ReLU blocks (1->32 s1, 32->64 s2, 64->128 s2,
    /// 128->128 s1), global average pool, flatten, Linear(128, classes). Draws init from Rng.Global.
    /// <paramref name="inChannels"/> other than 1 widens the first conv (any input size works: the pool is adaptive).</summary>
    public static Sequential MnistCnn(int classes = 10, Rng? rng = null, int inChannels = 1)
    {
        Check.Positive(classes, "MnistCnn: classes");
        Check.Positive(inChannels, "MnistCnn: input channels");
        var model = new Sequential();
        foreach (var (ci, co, stride) in new[] { (inChannels, 32, 1), (32, 64, 2), (64, 128, 2), (128, 128, 1) })
        {
            model.Add(new Conv2d(ci, co, 3, stride, padding: 1, bias: false, rng: rng));
            model.Add(new BatchNorm2d(co));
            model.Add(new ReLU());
        }
        model.Add(new AdaptiveAvgPool2d(1));
        model.Add(new Flatten());
        model.Add(new Linear(128, classes, rng: rng));
        return model;
    }
}
