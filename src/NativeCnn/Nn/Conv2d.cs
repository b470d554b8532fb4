// Conv2d layer: weight (out, in, kH, kW) and optional bias (out), PyTorch's default init
// (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both). Forward is F.Conv2d; the layer only holds settings.
namespace NativeCnn.Nn;

public sealed class Conv2d : Module
{
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, bool bias = true, Rng? rng = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), bias, rng) { }

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

    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) KernelSize { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public (int H, int W) Dilation { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation);

    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}" +
        (Dilation != (1, 1) ? $", dilation={Dilation}" : "") + (Bias is null ? ", bias=False" : "");
}
