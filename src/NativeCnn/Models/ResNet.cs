// ResNet-18/34 (BasicBlock) with torchvision's topology, child order and state_dict names
// (conv1, bn1, relu, maxpool, layer1..layer4 of BasicBlocks "layerX.Y.conv1/bn1/conv2/bn2/downsample.0/1",
// avgpool, fc), so a torchvision state_dict loads one to one with LoadStateDict.
// Must hold: children are registered in torchvision's order (StateDict order and CnnModel.CreateBody's
// cut depend on it); the initialisation is torchvision's (convs kaiming normal, fan_out, relu; BN
// weight 1, bias 0; fc torch's default Linear draw), drawn from one Rng so a seed fixes the model.
using NativeCnn.Nn;

namespace NativeCnn.Models;

/// <summary>torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the input (through a 1x1
/// conv + BN "downsample" where the shape changes), then ReLU.</summary>
public sealed class BasicBlock : Module
{
    /// <summary>A basic block from <paramref name="inPlanes"/> to <paramref name="planes"/> channels with <paramref name="stride"/> on the first conv; a 1x1 conv + batch norm downsample is added when the stride or the channel count changes.</summary>
    public BasicBlock(int inPlanes, int planes, int stride = 1, Rng? rng = null)
    {
        Conv1 = RegisterModule("conv1", new Conv2d(inPlanes, planes, 3, stride, padding: 1, bias: false, rng: rng));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
        RegisterModule("relu", new ReLU());
        Conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, 1, padding: 1, bias: false, rng: rng));
        Bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
        if (stride != 1 || inPlanes != planes)
            Downsample = RegisterModule("downsample", new Sequential(
                new Conv2d(inPlanes, planes, 1, stride, bias: false, rng: rng), new BatchNorm2d(planes)));
    }

    /// <summary>The first 3x3 convolution (carries the stride).</summary>
    public Conv2d Conv1 { get; }
    /// <summary>The batch norm after Conv1.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>The second 3x3 convolution.</summary>
    public Conv2d Conv2 { get; }
    /// <summary>The batch norm after Conv2 (its ReLU comes after the residual sum).</summary>
    public BatchNorm2d Bn2 { get; }
    /// <summary>The 1x1 convolution + batch norm on the shortcut when the shape changes; null otherwise.</summary>
    public Sequential? Downsample { get; }

    /// <summary>relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) for <paramref name="x"/> (N, C, H, W).</summary>
    public override Tensor Forward(Tensor x)
    {
        // batch norm, residual add and ReLU fused (BatchNormBase.ForwardAct): the same values as composed
        var y = Bn1.ForwardAct(Conv1.Forward(x), null, relu: true);
        var identity = Downsample is null ? x : Downsample.Forward(x);
        return Bn2.ForwardAct(Conv2.Forward(y), identity, relu: true);
    }
}

/// <summary>torchvision's ResNet with BasicBlocks (ResNet-18 and ResNet-34).</summary>
public sealed class ResNet : Module
{
    /// <summary>Channels of layer4's output, the features the pool and fc see.</summary>
    public const int Features = 512;

    /// <summary>A ResNet of BasicBlocks with <paramref name="blocks"/> blocks in layer1..layer4.</summary>
    public ResNet(int[] blocks, int classes = 1000, int inChannels = 3, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Length != 4 || blocks.Any(b => b <= 0))
            throw new NativeCnnException($"ResNet: blocks must give 4 positive block counts (layer1..layer4), got [{string.Join(", ", blocks)}]");
        Check.Positive(classes, "ResNet: classes");
        Check.Positive(inChannels, "ResNet: inChannels");
        Blocks = (int[])blocks.Clone();
        Classes = classes;
        InChannels = inChannels;

        Conv1 = RegisterModule("conv1", new Conv2d(inChannels, 64, 7, 2, padding: 3, bias: false, rng: rng));
        Bn1 = RegisterModule("bn1", new BatchNorm2d(64));
        RegisterModule("relu", new ReLU());
        RegisterModule("maxpool", new MaxPool2d(3, 2, 1));
        int inPlanes = 64;
        var layers = new Sequential[4];
        for (int i = 0; i < 4; i++)
        {
            int planes = 64 << i;
            var layer = new Sequential();
            for (int b = 0; b < blocks[i]; b++)
            {
                layer.Add(new BasicBlock(inPlanes, planes, b == 0 && i > 0 ? 2 : 1, rng));
                inPlanes = planes;
            }
            layers[i] = RegisterModule($"layer{i + 1}", layer);
        }
        Layers = layers;
        RegisterModule("avgpool", new AdaptiveAvgPool2d(1));
        Fc = RegisterModule("fc", new Linear(Features, classes, rng: rng));

        // torchvision's ResNet.__init__ re-initialises after construction; fc keeps Linear's default.
        foreach (var (_, m) in NamedModules())
        {
            if (m is Conv2d c) Init.KaimingNormal(c.Weight, fanOut: true, nonlinearity: "relu", rng: rng);
            else if (m is BatchNormBase bn) { Init.Constant(bn.Weight!, 1f); Init.Constant(bn.Bias!, 0f); }
        }
    }

    /// <summary>torchvision's resnet18: BasicBlocks [2, 2, 2, 2], 11.7M parameters at 1000 classes.</summary>
    public static ResNet ResNet18(int classes = 1000, int inChannels = 3, Rng? rng = null) => new(new[] { 2, 2, 2, 2 }, classes, inChannels, rng);

    /// <summary>torchvision's resnet34: BasicBlocks [3, 4, 6, 3], 21.8M parameters at 1000 classes.</summary>
    public static ResNet ResNet34(int classes = 1000, int inChannels = 3, Rng? rng = null) => new(new[] { 3, 4, 6, 3 }, classes, inChannels, rng);

    /// <summary>Basic blocks per stage (2, 2, 2, 2 for ResNet-18; 3, 4, 6, 3 for ResNet-34).</summary>
    public IReadOnlyList<int> Blocks { get; }
    /// <summary>Outputs of the final linear layer.</summary>
    public int Classes { get; }
    /// <summary>Input channels of the stem convolution.</summary>
    public int InChannels { get; }
    /// <summary>The 7x7 stride-2 stem convolution.</summary>
    public Conv2d Conv1 { get; }
    /// <summary>The batch norm after the stem.</summary>
    public BatchNorm2d Bn1 { get; }
    /// <summary>layer1..layer4 (index 0..3).</summary>
    public IReadOnlyList<Sequential> Layers { get; }
    /// <summary>The final linear layer (512 to Classes).</summary>
    public Linear Fc { get; }

    /// <summary>Class scores (N, Classes) for <paramref name="x"/> (N, InChannels, H, W): stem, max pool, four stages, global average pool, fc.</summary>
    public override Tensor Forward(Tensor x)
    {
        if (x.Dim != 4 || x.Size(1) != InChannels)
            throw new NativeCnnException($"ResNet: expected an input (N, {InChannels}, H, W), got shape {Shape.Format(x.ShapeArray)}");
        // Run the children in registration order, as torchvision's forward does.
        // The stem's bn1 + relu run as one fused op (the same values).
        foreach (var (name, child) in NamedChildren())
        {
            if (name == "relu") continue;
            x = name == "bn1" ? Bn1.ForwardAct(x, null, relu: true) : child.Forward(x);
            if (name == "avgpool") x = x.Flatten(1);
        }
        return x;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"blocks=[{string.Join(", ", Blocks)}], classes={Classes}, in_channels={InChannels}";
}
