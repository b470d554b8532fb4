// Matrix products: Tensor.MatMul (2-D x 2-D, batched 3-D x 3-D) and F.Linear (x W^T + b), forward
// and backward. Everything is one backend Gemm per product; gradients use the transpose flags
// (dA = dC B^T, dB = A^T dC) and never materialise a transposed copy. A strided input is handed to
// Gemm as it is when its layout is row-major or transposed row-major with some leading dimension;
// only other layouts are copied first. Two float16 operands go to Gemm as float16 (float32
// accumulation), and so does the output gradient in their backward; other float16 inputs are widened.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    /// <summary>Matrix product: (m, k) x (k, n) -> (m, n), or batched (b, m, k) x (b, k, n) -> (b, m, n).</summary>
    public Tensor MatMul(Tensor other)
    {
        const string op = "MatMul";
        Check.SameDevice(op, this, other);
        Check.Float(this, op, "left input");
        Check.Float(other, op, "right input");
        string shapes = $"{NativeCnn.Shape.Format(_shape)} and {NativeCnn.Shape.Format(other._shape)}";
        if (!(Dim == 2 && other.Dim == 2) && !(Dim == 3 && other.Dim == 3))
            throw new NativeCnnException($"{op}: expected two 2-D matrices or two 3-D batches of matrices, got shapes {shapes}");
        int batch = Dim == 3 ? _shape[0] : 1;
        if (Dim == 3 && other._shape[0] != batch)
            throw new NativeCnnException($"{op}: batch sizes differ, got shapes {shapes} (batch {batch} vs {other._shape[0]})");
        int m = _shape[Dim - 2], k = _shape[Dim - 1], n = other._shape[Dim - 1];
        if (other._shape[Dim - 2] != k)
            throw new NativeCnnException($"{op}: the left input's columns must equal the right input's rows, got shapes {shapes} ({k} vs {other._shape[Dim - 2]})");

        Autograd.OpCost.AddFlops(2.0 * batch * m * n * k);
        // two float16 inputs multiply as float16 (float32 accumulation: tensor cores on the GPU)
        var dt = DType == DType.Float16 && other.DType == DType.Float16 ? DType.Float16 : DType.Float32;
        var a = GemmOperand.Of(this, dt);
        var b = GemmOperand.Of(other, dt);
        var backend = Backend;
        var outShape = Dim == 3 ? new[] { batch, m, n } : new[] { m, n };
        var y = Empty(outShape, DType.Float32, backend);
        backend.Gemm(a.Trans, b.Trans, m, n, k, 1f, a.Storage, a.Offset, a.Ld, b.Storage, b.Offset, b.Ld,
                     0f, y.Storage, 0, n, batch, a.BatchStride, b.BatchStride, m * n);
        var result = ResultAs(y, dt);

        var aShape = _shape;
        var bShape = other._shape;
        var left = this;
        return Engine.Record("matmul", result, new[] { this, other }, g =>
        {
            var gy = dt == DType.Float16 ? g.DenseHalf() : g.Dense32();
            Tensor? ga = null, gb = null;
            if (left.RequiresGrad)
            {
                // dA (m, k) = dC (m, n) * op(B)^T: flipping B's flag transposes it in place.
                ga = Empty(aShape, DType.Float32, backend);
                backend.Gemm(false, !b.Trans, m, k, n, 1f, gy.Storage, 0, n, b.Storage, b.Offset, b.Ld,
                             0f, ga.Storage, 0, k, batch, m * n, b.BatchStride, m * k);
            }
            if (other.RequiresGrad)
            {
                // dB (k, n) = op(A)^T * dC (m, n).
                gb = Empty(bShape, DType.Float32, backend);
                backend.Gemm(!a.Trans, false, k, n, m, 1f, a.Storage, a.Offset, a.Ld, gy.Storage, 0, n,
                             0f, gb.Storage, 0, n, batch, a.BatchStride, m * n, k * n);
            }
            return new[] { ga, gb };
        });
    }
}

public static partial class F
{
    /// <summary>y = x W^T + b, as torch.nn.functional.linear. x: (N, in) (or (..., in): leading
    /// dimensions are flattened and restored), weight: (out, in), bias: (out) or null -> y: (N, out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        const string op = "Linear";
        Check.SameDevice(op, x, weight, bias);
        Check.Float(x, op, "x");
        Check.Float(weight, op, "weight");
        if (bias is not null) Check.Float(bias, op, "bias");
        if (weight.Dim != 2)
            throw new NativeCnnException($"{op}: weight must be 2-D (out, in), got shape {Shape.Format(weight.ShapeArray)}");
        int outFeatures = weight.ShapeArray[0], inFeatures = weight.ShapeArray[1];
        if (x.Dim < 1 || x.ShapeArray[^1] != inFeatures)
            throw new NativeCnnException($"{op}: x must end in weight's in-features {inFeatures}, got x {Shape.Format(x.ShapeArray)} and weight {Shape.Format(weight.ShapeArray)}");
        if (bias is not null && (bias.Dim != 1 || bias.ShapeArray[0] != outFeatures))
            throw new NativeCnnException($"{op}: bias must have shape ({outFeatures}) to match weight {Shape.Format(weight.ShapeArray)}, got {Shape.Format(bias.ShapeArray)}");
        if (x.Dim != 2)
        {
            var lead = x.ShapeArray[..^1];
            var y2 = Linear2d(x.Reshape(-1, inFeatures), weight, bias);
            return y2.Reshape(lead.Append(outFeatures).ToArray());
        }
        return Linear2d(x, weight, bias);
    }

    private static Tensor Linear2d(Tensor x, Tensor weight, Tensor? bias)
    {
        int n = x.ShapeArray[0], outF = weight.ShapeArray[0], inF = weight.ShapeArray[1];
        Autograd.OpCost.AddFlops(2.0 * n * outF * inF);
        var backend = x.Backend;
        bool allHalf = x.DType == DType.Float16 && weight.DType == DType.Float16 && (bias is null || bias.DType == DType.Float16);
        var dt = allHalf ? DType.Float16 : DType.Float32;
        var xo = GemmOperand.Of(x, dt);
        var wo = GemmOperand.Of(weight, dt);
        var y = Tensor.Empty(new[] { n, outF }, DType.Float32, backend);
        float beta = 0f;
        if (bias is not null)
        {
            // Start y as the bias repeated over rows, then let Gemm accumulate onto it (beta = 1):
            // one pass over y instead of a separate broadcast add.
            var b32 = bias.DType == DType.Float32 ? bias : bias.Dense32();
            backend.Copy(b32.Storage, b32.Offset, new[] { 0, b32.StridesArray[0] }, y.Storage, 0, new[] { outF, 1 }, new[] { n, outF });
            beta = 1f;
        }
        // y (n, out) = x (n, in) * W^T: W's stored flag is flipped to read it transposed.
        backend.Gemm(xo.Trans, !wo.Trans, n, outF, inF, 1f, xo.Storage, xo.Offset, xo.Ld, wo.Storage, wo.Offset, wo.Ld,
                     beta, y.Storage, 0, outF);
        var result = Tensor.ResultAs(y, dt);

        var xShape = x.ShapeArray;
        var wShape = weight.ShapeArray;
        return Engine.Record("linear", result, new[] { x, weight, bias }, g =>
        {
            var gy = allHalf ? g.DenseHalf() : g.Dense32();
            Tensor? gx = null, gw = null, gb = null;
            if (x.RequiresGrad)
            {
                // dx (n, in) = dy (n, out) * W (out, in).
                gx = Tensor.Empty(xShape, DType.Float32, backend);
                backend.Gemm(false, wo.Trans, n, inF, outF, 1f, gy.Storage, 0, outF, wo.Storage, wo.Offset, wo.Ld,
                             0f, gx.Storage, 0, inF);
            }
            if (weight.RequiresGrad)
            {
                // dW (out, in) = dy^T (out, n) * x (n, in).
                gw = Tensor.Empty(wShape, DType.Float32, backend);
                backend.Gemm(true, xo.Trans, outF, inF, n, 1f, gy.Storage, 0, outF, xo.Storage, xo.Offset, xo.Ld,
                             0f, gw.Storage, 0, inF);
            }
            if (bias is not null && bias.RequiresGrad)
            {
                gb = Tensor.Empty(new[] { outF }, DType.Float32, backend);
                backend.Reduce(ReduceOp.Sum, gy.Dense32().Storage, gb.Storage, 1, n, outF);   // reductions take float32
            }
            return new[] { gx, gw, gb };
        });
    }
}

/// <summary>How a 2-D or 3-D float tensor is handed to Gemm: its storage, offset, leading dimension,
/// whether it is stored transposed, and the element stride between batch matrices.</summary>
internal readonly record struct GemmOperand(Storage Storage, int Offset, int Ld, bool Trans, int BatchStride)
{
    /// <summary>Uses the tensor's own memory when it has <paramref name="dtype"/> (float32 or float16) and its
    /// last two dimensions are row-major (unit column stride) or column-major (unit row stride) with a valid
    /// leading dimension; copies (converting) otherwise.</summary>
    public static GemmOperand Of(Tensor t, DType dtype = DType.Float32)
    {
        int d = t.Dim;
        int rows = t.ShapeArray[d - 2], cols = t.ShapeArray[d - 1];
        if (t.DType == dtype)
        {
            var s = t.StridesArray;
            int rowStride = s[d - 2], colStride = s[d - 1];
            int batchStride = d == 3 && t.ShapeArray[0] > 1 ? s[0] : 0;
            // A size-1 dimension's stride is never used, so any value satisfies it.
            int ldRowMajor = rows <= 1 ? Math.Max(1, cols) : rowStride;
            if ((cols <= 1 || colStride == 1) && ldRowMajor >= Math.Max(1, cols))
                return new GemmOperand(t.Storage, t.Offset, ldRowMajor, false, batchStride);
            int ldColMajor = cols <= 1 ? Math.Max(1, rows) : colStride;
            if ((rows <= 1 || rowStride == 1) && ldColMajor >= Math.Max(1, rows))
                return new GemmOperand(t.Storage, t.Offset, ldColMajor, true, batchStride);
        }
        var dense = dtype == DType.Float16 ? t.DenseHalf() : t.Dense32();
        return new GemmOperand(dense.Storage, 0, Math.Max(1, cols), false, rows * cols);
    }
}
