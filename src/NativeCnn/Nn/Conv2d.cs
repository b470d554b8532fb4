// Conv2d layer: weight (out, in, kH, kW) and optional bias (out), PyTorch's default init
// (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both). Forward is F.Conv2d; the layer only holds settings.
namespace NativeCnn.Nn;

/// <summary>2-D convolution (torch.nn.Conv2d): y = conv(x, weight) + bias over (N, C_in, H, W) inputs, weight (C_out, C_in, kH, kW) with Kaiming-uniform initialisation as torch's.</summary>
public sealed class Conv2d : Module
{
    /// <summary>A convolution with square kernels: <paramref name="kernelSize"/>, <paramref name="stride"/>, zero <paramref name="padding"/> and <paramref name="dilation"/> in pixels, used for both axes. <paramref name="rng"/> draws the initial weights (null: <see cref="Rng.Global"/>).</summary>
    /// <exception cref="ArgumentException">A size is not positive (padding may be 0).</exception>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, bool bias = true, Rng? rng = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), bias, rng) { }

    /// <summary>A convolution with per-axis (height, width) kernel size, stride, zero padding and dilation, in pixels.</summary>
    /// <exception cref="ArgumentException">A size is not positive (padding may be 0).</exception>
    public Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, bool bias = true, Rng? rng = null)
    {
        Check.Positive(inChannels, "Conv2d: inChannels");
        Check.Positive(outChannels, "Conv2d: outChannels");
        Check.Positive(kernelSize.H, "Conv2d: kernel height");
        Check.Positive(kernelSize.W, "Conv2d: kernel width");
        Check.Positive(stride.H, "Conv2d: stride height");
        Check.Positive(stride.W, "Conv2d: stride width");
        Check.NonNegative(padding.H, "Conv2d: padding height");
        Check.NonNegative(padding.W, "Conv2d: padding width");
        Check.Positive(dilation.H, "Conv2d: dilation height");
        Check.Positive(dilation.W, "Conv2d: dilation width");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        Weight = RegisterParameter("weight", Persistent(() => Tensor.Zeros(outChannels, inChannels, kernelSize.H, kernelSize.W)));
        if (bias) Bias = RegisterParameter("bias", Persistent(() => Tensor.Zeros(outChannels)));
        Init.DefaultLayer(Weight, Bias, rng);
    }

    /// <summary>Input channels C_in.</summary>
    public int InChannels { get; }
    /// <summary>Output channels C_out (filters).</summary>
    public int OutChannels { get; }
    /// <summary>Kernel height and width, in pixels.</summary>
    public (int H, int W) KernelSize { get; }
    /// <summary>Step between output positions, per axis.</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Zero padding on each side, per axis.</summary>
    public (int H, int W) Padding { get; }
    /// <summary>Spacing between kernel taps, per axis (1: dense).</summary>
    public (int H, int W) Dilation { get; }
    /// <summary>The filters (C_out, C_in, kH, kW), a parameter named "weight".</summary>
    public Tensor Weight { get; }
    /// <summary>Per-output-channel bias (C_out), named "bias"; null when built without bias.</summary>
    public Tensor? Bias { get; }

    /// <summary>Convolves <paramref name="x"/> (N, C_in, H, W) into (N, C_out, H_out, W_out), H_out = (H + 2 padH - dilH (kH - 1) - 1) / strideH + 1.</summary>
    /// <exception cref="ArgumentException">The input is not 4-D or has another channel count.</exception>
    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation);

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}" +
        (Dilation != (1, 1) ? $", dilation={Dilation}" : "") + (Bias is null ? ", bias=False" : "");
}
