// 2-d pooling ops: max, average, adaptive max/average and fastai's adaptive concat pool, each with
// its backward. Shapes follow PyTorch's floor mode: P = (H + 2*pad - k) / stride + 1. Inputs are
// (N, C, H, W) floating tensors; computation is float32, float16 results are narrowed back.
// Must always hold: padding is at most half the kernel (as PyTorch requires), so every window
// overlaps the input and a max-pool index always points at a real element.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public static partial class F
{
    /// <summary>Max over k x k windows (padding counts as -inf); like torch.nn.functional.max_pool2d.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0)
    {
        var g = PoolGeometryFor("MaxPool2d", x, kernelSize, stride, padding, countIncludePad: true);
        var xd = x.Dense32();
        var y = Tensor.Empty(new[] { g.N, g.C, g.P, g.Q }, DType.Float32, x.Backend);
        var indices = Tensor.Empty(y.ShapeArray, DType.Int32, x.Backend);
        x.Backend.MaxPool2dForward(xd.Storage, y.Storage, indices.Storage, g);
        return Engine.Record("max_pool2d", Tensor.ResultAs(y, x.DType), new[] { x }, gy =>
        {
            var gyd = gy.Dense32();
            var gx = Tensor.Empty(x.ShapeArray, DType.Float32, x.Backend);
            x.Backend.MaxPool2dBackward(gyd.Storage, indices.Storage, gx.Storage, g);
            return new[] { gx };
        });
    }

    /// <summary>Mean over k x k windows; with <paramref name="countIncludePad"/> the zero padding counts
    /// in the divisor (PyTorch's default). Like torch.nn.functional.avg_pool2d.</summary>
    public static Tensor AvgPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0, bool countIncludePad = true)
    {
        var g = PoolGeometryFor("AvgPool2d", x, kernelSize, stride, padding, countIncludePad);
        var xd = x.Dense32();
        var y = Tensor.Empty(new[] { g.N, g.C, g.P, g.Q }, DType.Float32, x.Backend);
        x.Backend.AvgPool2dForward(xd.Storage, y.Storage, g);
        return Engine.Record("avg_pool2d", Tensor.ResultAs(y, x.DType), new[] { x }, gy =>
        {
            var gyd = gy.Dense32();
            var gx = Tensor.Empty(x.ShapeArray, DType.Float32, x.Backend);
            x.Backend.AvgPool2dBackward(gyd.Storage, gx.Storage, g);
            return new[] { gx };
        });
    }

    /// <summary>Average over adaptive windows [floor(i*H/outH), ceil((i+1)*H/outH)); like torch's adaptive_avg_pool2d.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int outH, int outW)
    {
        var (n, c, h, w) = AdaptiveInput("AdaptiveAvgPool2d", x, outH, outW);
        var xd = x.Dense32();
        var y = Tensor.Empty(new[] { n, c, outH, outW }, DType.Float32, x.Backend);
        x.Backend.AdaptiveAvgPool2dForward(xd.Storage, y.Storage, n, c, h, w, outH, outW);
        return Engine.Record("adaptive_avg_pool2d", Tensor.ResultAs(y, x.DType), new[] { x }, gy =>
        {
            var gyd = gy.Dense32();
            var gx = Tensor.Empty(x.ShapeArray, DType.Float32, x.Backend);
            x.Backend.AdaptiveAvgPool2dBackward(gyd.Storage, gx.Storage, n, c, h, w, outH, outW);
            return new[] { gx };
        });
    }

    /// <summary>Max over adaptive windows [floor(i*H/outH), ceil((i+1)*H/outH)); like torch's adaptive_max_pool2d.</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor x, int outH, int outW)
    {
        var (n, c, h, w) = AdaptiveInput("AdaptiveMaxPool2d", x, outH, outW);
        var xd = x.Dense32();
        var y = Tensor.Empty(new[] { n, c, outH, outW }, DType.Float32, x.Backend);
        var indices = Tensor.Empty(y.ShapeArray, DType.Int32, x.Backend);
        x.Backend.AdaptiveMaxPool2dForward(xd.Storage, y.Storage, indices.Storage, n, c, h, w, outH, outW);
        // The backward is MaxPool2dBackward: it only routes gy through the plane-local indices, so
        // of the geometry only N, C, H, W, P and Q matter; the window fields are unused (zero).
        var g = new PoolGeometry(n, c, h, w, outH, outW, 0, 0, 1, 1, 0, 0, true);
        return Engine.Record("adaptive_max_pool2d", Tensor.ResultAs(y, x.DType), new[] { x }, gy =>
        {
            var gyd = gy.Dense32();
            var gx = Tensor.Empty(x.ShapeArray, DType.Float32, x.Backend);
            x.Backend.MaxPool2dBackward(gyd.Storage, indices.Storage, gx.Storage, g);
            return new[] { gx };
        });
    }

    /// <summary>fastai's AdaptiveConcatPool2d: [adaptive max, adaptive avg] concatenated on channels,
    /// (N, C, H, W) -> (N, 2C, outH, outW).</summary>
    public static Tensor AdaptiveConcatPool2d(Tensor x, int outH = 1, int outW = 1) =>
        Tensor.Concat(new[] { AdaptiveMaxPool2d(x, outH, outW), AdaptiveAvgPool2d(x, outH, outW) }, 1);

    private static PoolGeometry PoolGeometryFor(string op, Tensor x, int kernelSize, int? stride, int padding, bool countIncludePad)
    {
        CheckPoolInput(op, x);
        Check.Positive(kernelSize, $"{op}: kernelSize");
        int s = stride ?? kernelSize;
        Check.Positive(s, $"{op}: stride");
        Check.NonNegative(padding, $"{op}: padding");
        if (padding > kernelSize / 2)
            throw new NativeCnnException($"{op}: padding must be at most half the kernel size ({kernelSize / 2} for kernelSize {kernelSize}), got {padding}");
        var sh = x.ShapeArray;
        int n = sh[0], c = sh[1], h = sh[2], w = sh[3];
        if (h + 2 * padding < kernelSize || w + 2 * padding < kernelSize)
            throw new NativeCnnException($"{op}: the {kernelSize}x{kernelSize} kernel is larger than the padded input {h + 2 * padding}x{w + 2 * padding} (input shape {Shape.Format(sh)}, padding {padding})");
        int p = (h + 2 * padding - kernelSize) / s + 1, q = (w + 2 * padding - kernelSize) / s + 1;
        return new PoolGeometry(n, c, h, w, p, q, kernelSize, kernelSize, s, s, padding, padding, countIncludePad);
    }

    private static (int n, int c, int h, int w) AdaptiveInput(string op, Tensor x, int outH, int outW)
    {
        CheckPoolInput(op, x);
        Check.Positive(outH, $"{op}: outH");
        Check.Positive(outW, $"{op}: outW");
        var sh = x.ShapeArray;
        if (sh[2] == 0 || sh[3] == 0)
            throw new NativeCnnException($"{op}: input height and width must be positive, got shape {Shape.Format(sh)}");
        return (sh[0], sh[1], sh[2], sh[3]);
    }

    private static void CheckPoolInput(string op, Tensor x)
    {
        if (x.Dim != 4)
            throw new NativeCnnException($"{op}: input must be (N, C, H, W), got shape {Shape.Format(x.ShapeArray)}");
        Check.Float(x, op, "input");
    }
}
