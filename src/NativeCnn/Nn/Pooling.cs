// Pooling layers over F: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d and fastai's
// AdaptiveConcatPool2d (max then average, concatenated on channels, so 2C outputs). No parameters.
namespace NativeCnn.Nn;

/// <summary>Max pooling over (N, C, H, W): each output is the largest input in a kernelSize x kernelSize window (torch.nn.MaxPool2d; padding counts as minus infinity).</summary>
public sealed class MaxPool2d : Module
{
    /// <summary>A max pool with square windows of <paramref name="kernelSize"/> pixels moved by <paramref name="stride"/> (default: the kernel size, so windows do not overlap) over an input padded by <paramref name="padding"/> pixels on each side.</summary>
    /// <exception cref="ArgumentException">The kernel size is not positive.</exception>
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
    {
        Check.Positive(kernelSize, "MaxPool2d: kernelSize");
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        Padding = padding;
    }

    /// <summary>Side of the square window, in pixels.</summary>
    public int KernelSize { get; }
    /// <summary>Step between windows, in pixels.</summary>
    public int Stride { get; }
    /// <summary>Implicit padding on each side, in pixels.</summary>
    public int Padding { get; }

    /// <summary>Pools <paramref name="x"/> (N, C, H, W) into (N, C, (H + 2 padding - kernel) / stride + 1, same for W).</summary>
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, KernelSize, Stride, Padding);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>Average pooling over (N, C, H, W): each output is the mean of a kernelSize x kernelSize window (torch.nn.AvgPool2d).</summary>
public sealed class AvgPool2d : Module
{
    /// <summary>An average pool with square windows of <paramref name="kernelSize"/> pixels moved by <paramref name="stride"/> (default: the kernel size) over an input zero-padded by <paramref name="padding"/>; with <paramref name="countIncludePad"/> (torch's default) padded zeros count in the mean's divisor.</summary>
    /// <exception cref="ArgumentException">The kernel size is not positive.</exception>
    public AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool countIncludePad = true)
    {
        Check.Positive(kernelSize, "AvgPool2d: kernelSize");
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        Padding = padding;
        CountIncludePad = countIncludePad;
    }

    /// <summary>Side of the square window, in pixels.</summary>
    public int KernelSize { get; }
    /// <summary>Step between windows, in pixels.</summary>
    public int Stride { get; }
    /// <summary>Zero padding on each side, in pixels.</summary>
    public int Padding { get; }
    /// <summary>Whether padded zeros count in each window's divisor (true: always kernel x kernel).</summary>
    public bool CountIncludePad { get; }

    /// <summary>Pools <paramref name="x"/> (N, C, H, W) into (N, C, (H + 2 padding - kernel) / stride + 1, same for W).</summary>
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, KernelSize, Stride, Padding, CountIncludePad);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>Shared by the adaptive pools: a fixed output size, any input size.</summary>
public abstract class AdaptivePool2d : Module
{
    /// <summary>An adaptive pool producing <paramref name="outH"/> x <paramref name="outW"/> outputs per channel.</summary>
    /// <exception cref="ArgumentException">A size is not positive.</exception>
    protected AdaptivePool2d(int outH, int outW)
    {
        Check.Positive(outH, $"{GetType().Name}: output height");
        Check.Positive(outW, $"{GetType().Name}: output width");
        OutputSize = (outH, outW);
    }

    /// <summary>Output height and width per channel, whatever the input size.</summary>
    public (int H, int W) OutputSize { get; }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"output_size={OutputSize}";
}

/// <summary>Adaptive average pooling (torch.nn.AdaptiveAvgPool2d): any (N, C, H, W) input to (N, C, outH, outW), each output the mean of its window (window i spans floor(i H / outH) to ceil((i + 1) H / outH)).</summary>
public sealed class AdaptiveAvgPool2d : AdaptivePool2d
{
    /// <summary>Pools to <paramref name="outputSize"/> x <paramref name="outputSize"/> (1: global average pooling).</summary>
    public AdaptiveAvgPool2d(int outputSize) : this(outputSize, outputSize) { }

    /// <summary>Pools to <paramref name="outH"/> x <paramref name="outW"/>.</summary>
    public AdaptiveAvgPool2d(int outH, int outW) : base(outH, outW) { }

    /// <summary>Pools <paramref name="x"/> (N, C, H, W) into (N, C, outH, outW).</summary>
    public override Tensor Forward(Tensor x) => F.AdaptiveAvgPool2d(x, OutputSize.H, OutputSize.W);
}

/// <summary>Adaptive max pooling (torch.nn.AdaptiveMaxPool2d): any (N, C, H, W) input to (N, C, outH, outW), each output the largest value of its window.</summary>
public sealed class AdaptiveMaxPool2d : AdaptivePool2d
{
    /// <summary>Pools to <paramref name="outputSize"/> x <paramref name="outputSize"/> (1: global max pooling).</summary>
    public AdaptiveMaxPool2d(int outputSize) : this(outputSize, outputSize) { }

    /// <summary>Pools to <paramref name="outH"/> x <paramref name="outW"/>.</summary>
    public AdaptiveMaxPool2d(int outH, int outW) : base(outH, outW) { }

    /// <summary>Pools <paramref name="x"/> (N, C, H, W) into (N, C, outH, outW).</summary>
    public override Tensor Forward(Tensor x) => F.AdaptiveMaxPool2d(x, OutputSize.H, OutputSize.W);
}

/// <summary>fastai's AdaptiveConcatPool2d: [adaptive max pool, adaptive avg pool] on the channel axis.</summary>
public sealed class AdaptiveConcatPool2d : AdaptivePool2d
{
    /// <summary>Pools to <paramref name="outputSize"/> x <paramref name="outputSize"/> (fastai's head uses 1).</summary>
    public AdaptiveConcatPool2d(int outputSize = 1) : this(outputSize, outputSize) { }

    /// <summary>Pools to <paramref name="outH"/> x <paramref name="outW"/>.</summary>
    public AdaptiveConcatPool2d(int outH, int outW) : base(outH, outW) { }

    /// <summary>Pools <paramref name="x"/> (N, C, H, W) into (N, 2C, outH, outW): the C max-pooled channels, then the C average-pooled ones.</summary>
    public override Tensor Forward(Tensor x) => F.AdaptiveConcatPool2d(x, OutputSize.H, OutputSize.W);
}
