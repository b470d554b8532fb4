// 2-D convolution (cross-correlation, as in PyTorch): F.Conv2d, with per-axis stride, padding and
// dilation and an optional bias; groups are not supported. Arguments are checked here, where they
// enter the engine, and turned into one ConvGeometry that every backend primitive trusts.
// Arithmetic is float32; when every floating input (x, weight, bias) is float16 the backend gets
// float16 x, w and output gradient (float32 accumulation) and the result is narrowed back to float16;
// mixed float16/float32 inputs are widened to float32. Backward computes only the gradients of
// inputs that require them.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public static partial class F
{
    /// <summary>Conv2d with the same stride, padding and dilation on both axes.
    /// x: (N, C, H, W), weight: (K, C, R, S), bias: (K) or null -> (N, K, P, Q).</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1) =>
        Conv2d(x, weight, bias, (stride, stride), (padding, padding), (dilation, dilation));

    /// <summary>Conv2d with per-axis (H, W) stride, padding and dilation.
    /// x: (N, C, H, W), weight: (K, C, R, S), bias: (K) or null -> (N, K, P, Q) with
    /// P = (H + 2*padH - dilH*(R-1) - 1) / strideH + 1 and Q likewise.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation)
    {
        var g = ConvGeometryFor(x, weight, bias, stride, padding, dilation);
        Autograd.OpCost.AddFlops(2.0 * g.N * g.K * g.P * g.Q * g.C * g.R * g.S);
        var backend = x.Backend;
        bool allHalf = x.DType == DType.Float16 && weight.DType == DType.Float16 && (bias is null || bias.DType == DType.Float16);
        // all-float16 convs hand the backend float16 x, w and gy (float16 GEMM with float32 accumulation:
        // tensor cores on the GPU), as mixed precision does; anything else is widened to float32
        var xd = allHalf ? x.DenseHalf() : x.Dense32();
        var wd = allHalf ? weight.DenseHalf() : weight.Dense32();
        var bd = bias?.Dense32();
        var y = Tensor.Empty(new[] { g.N, g.K, g.P, g.Q }, DType.Float32, backend);
        backend.Conv2dForward(xd.Storage, wd.Storage, bd?.Storage, y.Storage, g);

        var result = Tensor.ResultAs(y, allHalf ? DType.Float16 : DType.Float32);
        return Engine.Record("conv2d", result, new[] { x, weight, bias }, gOut =>
        {
            var gy = allHalf ? gOut.DenseHalf() : gOut.Dense32();
            Tensor? gx = null, gw = null, gb = null;
            bool needBias = bias is not null && bias.RequiresGrad;
            if (x.RequiresGrad)
            {
                gx = Tensor.Empty(x.ShapeArray, DType.Float32, backend);
                backend.Conv2dBackwardData(gy.Storage, wd.Storage, gx.Storage, g);
            }
            if (weight.RequiresGrad)
            {
                gw = Tensor.Empty(weight.ShapeArray, DType.Float32, backend);
                gb = needBias ? Tensor.Empty(new[] { g.K }, DType.Float32, backend) : null;
                backend.Conv2dBackwardWeight(xd.Storage, gy.Storage, gw.Storage, gb?.Storage, g);
            }
            else if (needBias)
                gb = gy.Sum(new[] { 0, 2, 3 });
            return new[] { gx, gw, gb };
        });
    }

    /// <summary>Validates Conv2d's arguments (naming what was given and what was expected) and
    /// describes the convolution for the backends.</summary>
    internal static ConvGeometry ConvGeometryFor(Tensor x, Tensor weight, Tensor? bias,
                                                 (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation)
    {
        const string op = "Conv2d";
        Check.SameDevice(op, x, weight, bias);
        Check.Float(x, op, "input");
        Check.Float(weight, op, "weight");
        if (bias is not null) Check.Float(bias, op, "bias");
        if (x.Dim != 4)
            throw new NativeCnnException($"{op}: input must have 4 dimensions (N, C, H, W), got shape {Shape.Format(x.ShapeArray)}");
        if (weight.Dim != 4)
            throw new NativeCnnException($"{op}: weight must have 4 dimensions (out_channels, in_channels, kH, kW), got shape {Shape.Format(weight.ShapeArray)}");
        int n = x.Size(0), c = x.Size(1), h = x.Size(2), w = x.Size(3);
        int k = weight.Size(0), r = weight.Size(2), s = weight.Size(3);
        if (weight.Size(1) != c)
            throw new NativeCnnException($"{op}: weight {Shape.Format(weight.ShapeArray)} expects {weight.Size(1)} input channels, but the input {Shape.Format(x.ShapeArray)} has {c}");
        if (k <= 0 || r <= 0 || s <= 0)
            throw new NativeCnnException($"{op}: weight must have at least one output channel and a kernel of at least 1x1, got shape {Shape.Format(weight.ShapeArray)}");
        if (c <= 0 || h <= 0 || w <= 0)
            throw new NativeCnnException($"{op}: input must have at least one channel and one pixel, got shape {Shape.Format(x.ShapeArray)}");
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != k))
            throw new NativeCnnException($"{op}: bias must have shape ({k}) to match the weight's {k} output channels, got {Shape.Format(bias.ShapeArray)}");
        if (stride.H <= 0 || stride.W <= 0)
            throw new NativeCnnException($"{op}: stride must be positive, got ({stride.H}, {stride.W})");
        if (dilation.H <= 0 || dilation.W <= 0)
            throw new NativeCnnException($"{op}: dilation must be positive, got ({dilation.H}, {dilation.W})");
        if (padding.H < 0 || padding.W < 0)
            throw new NativeCnnException($"{op}: padding must be >= 0, got ({padding.H}, {padding.W})");
        long spanH = (long)dilation.H * (r - 1) + 1, spanW = (long)dilation.W * (s - 1) + 1;
        long paddedH = h + 2L * padding.H, paddedW = w + 2L * padding.W;
        if (spanH > paddedH || spanW > paddedW)
            throw new NativeCnnException($"{op}: the kernel covers {spanH}x{spanW} pixels (size {r}x{s}, dilation ({dilation.H}, {dilation.W})), " +
                                         $"larger than the padded input {paddedH}x{paddedW} (input {h}x{w}, padding ({padding.H}, {padding.W}))");
        return new ConvGeometry(n, c, h, w, k, r, s, stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W);
    }
}
