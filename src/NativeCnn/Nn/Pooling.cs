// Pooling layers over F: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d and fastai's
// AdaptiveConcatPool2d (max then average, concatenated on channels, so 2C outputs). No parameters.
namespace NativeCnn.Nn;

public sealed class MaxPool2d : Module
{
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
    {
        Check.Positive(kernelSize, "MaxPool2d: kernelSize");
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        Padding = padding;
    }

    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }

    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, KernelSize, Stride, Padding);

    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

public sealed class AvgPool2d : Module
{
    public AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool countIncludePad = true)
    {
        Check.Positive(kernelSize, "AvgPool2d: kernelSize");
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        Padding = padding;
        CountIncludePad = countIncludePad;
    }

    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public bool CountIncludePad { get; }

    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, KernelSize, Stride, Padding, CountIncludePad);

    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>Shared by the adaptive pools: a fixed output size, any input size.</summary>
public abstract class AdaptivePool2d : Module
{
    protected AdaptivePool2d(int outH, int outW)
    {
        Check.Positive(outH, $"{GetType().Name}: output height");
        Check.Positive(outW, $"{GetType().Name}: output width");
        OutputSize = (outH, outW);
    }

    public (int H, int W) OutputSize { get; }

    protected override string ExtraRepr() => $"output_size={OutputSize}";
}

public sealed class AdaptiveAvgPool2d : AdaptivePool2d
{
    public AdaptiveAvgPool2d(int outputSize) : this(outputSize, outputSize) { }

    public AdaptiveAvgPool2d(int outH, int outW) : base(outH, outW) { }

    public override Tensor Forward(Tensor x) => F.AdaptiveAvgPool2d(x, OutputSize.H, OutputSize.W);
}

public sealed class AdaptiveMaxPool2d : AdaptivePool2d
{
    public AdaptiveMaxPool2d(int outputSize) : this(outputSize, outputSize) { }

    public AdaptiveMaxPool2d(int outH, int outW) : base(outH, outW) { }

    public override Tensor Forward(Tensor x) => F.AdaptiveMaxPool2d(x, OutputSize.H, OutputSize.W);
}

/// <summary>fastai's AdaptiveConcatPool2d: [adaptive max pool, adaptive avg pool] on the channel axis.</summary>
public sealed class AdaptiveConcatPool2d : AdaptivePool2d
{
    public AdaptiveConcatPool2d(int outputSize = 1) : this(outputSize, outputSize) { }

    public AdaptiveConcatPool2d(int outH, int outW) : base(outH, outW) { }

    public override Tensor Forward(Tensor x) => F.AdaptiveConcatPool2d(x, OutputSize.H, OutputSize.W);
}
