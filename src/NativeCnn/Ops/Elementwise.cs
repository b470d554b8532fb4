// Elementwise maps with broadcasting: add, sub, mul, div, neg, exp, log, sqrt, pow, relu, sigmoid,
// tanh, clamp, scalar arithmetic. Arithmetic is float32; a float16 input is widened on the way in and
// the result narrowed back to float16 only if every floating input was float16.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

/// <inheritdoc/>
public sealed partial class Tensor
{
    /// <summary>A dense float32 tensor with this tensor's values (this one if already so). Not recorded.</summary>
    internal Tensor Dense32()
    {
        if (DType == DType.Float32) return IsDense ? this : ContiguousCopy();
        var t = WholeStorage();
        var y = Empty(t._shape, DType.Float32, t.Backend);
        t.Backend.Cast(t.Storage, y.Storage);
        return y;
    }

    /// <summary>This tensor if it is dense and fills its whole storage (what Cast, which converts
    /// whole storages, needs), otherwise a dense copy. A leading slice is dense but not whole.</summary>
    internal Tensor WholeStorage() => IsDense && Storage.Length == Numel ? this : ContiguousCopy();

    /// <summary>Narrows a float32 result back to float16 when the op's inputs were all float16.</summary>
    internal static Tensor ResultAs(Tensor y, DType dtype)
    {
        if (dtype != DType.Float16 || y.DType == DType.Float16) return y;
        var h = Empty(y._shape, DType.Float16, y.Backend);
        y.Backend.Cast(y.Storage, h.Storage);
        return h;
    }

    private Tensor UnaryOpRecorded(string name, UnaryOp op, float a = 0, float b = 0)
    {
        Check.Float(this, name, "input");
        var x = Dense32();
        var y = Empty(_shape, DType.Float32, Backend);
        Backend.Unary(op, x.Storage, y.Storage, Numel, a, b);
        var result = ResultAs(y, DType);
        return Engine.Record(name, result, new[] { this }, g =>
        {
            var gy = g.Dense32();
            var gx = Empty(_shape, DType.Float32, Backend);
            Backend.UnaryBackward(op, x.Storage, y.Storage, gy.Storage, gx.Storage, x.Numel, a, b);
            return new[] { gx };
        });
    }

    /// <summary>e^x element-wise (float32 math; float16 tensors compute in float32). Recorded for autograd.</summary>
    public Tensor Exp() => UnaryOpRecorded("exp", UnaryOp.Exp);
    /// <summary>The natural logarithm element-wise; -inf at 0 and NaN below 0, as torch. Recorded for autograd.</summary>
    public Tensor Log() => UnaryOpRecorded("log", UnaryOp.Log);
    /// <summary>The square root element-wise; NaN below 0. Recorded for autograd.</summary>
    public Tensor Sqrt() => UnaryOpRecorded("sqrt", UnaryOp.Sqrt);
    /// <summary>x^<paramref name="exponent"/> element-wise (NaN for a negative base and a non-integer exponent). Recorded for autograd.</summary>
    public Tensor Pow(float exponent) => UnaryOpRecorded("pow", UnaryOp.Pow, exponent);
    /// <summary>max(x, 0) element-wise; the gradient at 0 is 0, as torch's. Recorded for autograd.</summary>
    public Tensor Relu() => UnaryOpRecorded("relu", UnaryOp.Relu);
    /// <summary>1 / (1 + e^-x) element-wise, in (0, 1). Recorded for autograd.</summary>
    public Tensor Sigmoid() => UnaryOpRecorded("sigmoid", UnaryOp.Sigmoid);
    /// <summary>The hyperbolic tangent element-wise, in (-1, 1). Recorded for autograd.</summary>
    public Tensor Tanh() => UnaryOpRecorded("tanh", UnaryOp.Tanh);
    /// <summary>-x element-wise. Recorded for autograd.</summary>
    public Tensor Neg() => UnaryOpRecorded("neg", UnaryOp.Affine, -1f, 0f);

    /// <summary>min(max(x, min), max); the gradient passes where min &lt;= x &lt;= max.</summary>
    public Tensor Clamp(float min = float.NegativeInfinity, float max = float.PositiveInfinity)
    {
        if (min > max) throw new NativeCnnException($"Clamp: min {min} is greater than max {max}");
        return UnaryOpRecorded("clamp", UnaryOp.Clamp, min, max);
    }

    /// <summary>scale * x + shift in one pass.</summary>
    public Tensor Affine(float scale, float shift) => UnaryOpRecorded("affine", UnaryOp.Affine, scale, shift);

    /// <summary>this + <paramref name="other"/> element-wise with NumPy broadcasting (shapes aligned from the right; a size-1 dimension stretches).</summary>
    /// <exception cref="ArgumentException">The shapes do not broadcast, or the tensors are on different devices.</exception>
    public Tensor Add(Tensor other) => BinaryRecorded("add", BinaryOp.Add, this, other);
    /// <summary>this - <paramref name="other"/> element-wise, with broadcasting (see <see cref="Add"/>).</summary>
    public Tensor Sub(Tensor other) => BinaryRecorded("sub", BinaryOp.Sub, this, other);
    /// <summary>this * <paramref name="other"/> element-wise, with broadcasting (see <see cref="Add"/>).</summary>
    public Tensor Mul(Tensor other) => BinaryRecorded("mul", BinaryOp.Mul, this, other);
    /// <summary>this / <paramref name="other"/> element-wise, with broadcasting (see <see cref="Add"/>).</summary>
    public Tensor Div(Tensor other) => BinaryRecorded("div", BinaryOp.Div, this, other);

    /// <summary>Element-wise sum with broadcasting, as <see cref="Add"/>.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>Element-wise difference with broadcasting, as <see cref="Sub"/>.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>Element-wise product with broadcasting, as <see cref="Mul"/>.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>Element-wise quotient with broadcasting, as <see cref="Div"/>.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>Element-wise negation, as <see cref="Neg"/>.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>Adds a scalar to every element.</summary>
    public static Tensor operator +(Tensor a, float s) => a.Affine(1f, s);
    /// <summary>Adds a scalar to every element.</summary>
    public static Tensor operator +(float s, Tensor a) => a.Affine(1f, s);
    /// <summary>Subtracts a scalar from every element.</summary>
    public static Tensor operator -(Tensor a, float s) => a.Affine(1f, -s);
    /// <summary>The scalar minus each element.</summary>
    public static Tensor operator -(float s, Tensor a) => a.Affine(-1f, s);
    /// <summary>Multiplies every element by a scalar.</summary>
    public static Tensor operator *(Tensor a, float s) => a.Affine(s, 0f);
    /// <summary>Multiplies every element by a scalar.</summary>
    public static Tensor operator *(float s, Tensor a) => a.Affine(s, 0f);
    /// <summary>Divides every element by a scalar (multiplies by its reciprocal).</summary>
    public static Tensor operator /(Tensor a, float s) => a.Affine(1f / s, 0f);

    private static Tensor BinaryRecorded(string name, BinaryOp op, Tensor a, Tensor b)
    {
        Check.SameDevice(name, a, b);
        Check.Float(a, name, "left input");
        Check.Float(b, name, "right input");
        var shape = NativeCnn.Shape.Broadcast(a._shape, b._shape, name);
        var y = BinaryRaw(op, a.DType == DType.Float32 ? a : a.Dense32(), b.DType == DType.Float32 ? b : b.Dense32(), shape);
        var result = ResultAs(y, a.DType == DType.Float16 && b.DType == DType.Float16 ? DType.Float16 : DType.Float32);
        var aShape = a._shape;
        var bShape = b._shape;
        return Engine.Record(name, result, new[] { a, b }, g =>
        {
            bool needA = a.RequiresGrad, needB = b.RequiresGrad;
            Tensor? ga = null, gb = null;
            switch (op)
            {
                case BinaryOp.Add:
                    if (needA) ga = g.SumTo(aShape);
                    if (needB) gb = g.SumTo(bShape);
                    break;
                case BinaryOp.Sub:
                    if (needA) ga = g.SumTo(aShape);
                    if (needB) gb = g.SumTo(bShape).Neg();
                    break;
                case BinaryOp.Mul:
                    if (needA) ga = (g * b).SumTo(aShape);
                    if (needB) gb = (g * a).SumTo(bShape);
                    break;
                case BinaryOp.Div:
                    if (needA) ga = (g / b).SumTo(aShape);
                    if (needB) gb = (g * a / (b * b)).Neg().SumTo(bShape);
                    break;
            }
            return new[] { ga, gb };
        });
    }

    /// <summary>y = a op b, broadcasting through zero strides; a and b float32, any layout.</summary>
    internal static Tensor BinaryRaw(BinaryOp op, Tensor a, Tensor b, int[] shape)
    {
        var y = Empty(shape, DType.Float32, a.Backend);
        a.Backend.Binary(op, a.Storage, a.Offset, a.BroadcastStrides(shape), b.Storage, b.Offset, b.BroadcastStrides(shape), y.Storage, shape);
        return y;
    }

    /// <summary>This tensor's strides seen from a broadcast shape: 0 for new or size-1 dimensions.</summary>
    internal int[] BroadcastStrides(int[] shape)
    {
        var strides = new int[shape.Length];
        int lead = shape.Length - Dim;
        for (int i = lead; i < shape.Length; i++)
            strides[i] = _shape[i - lead] == 1 && shape[i] != 1 ? 0 : _strides[i - lead];
        return strides;
    }

    /// <summary>Sums a broadcast gradient back down to <paramref name="shape"/>.</summary>
    internal Tensor SumTo(int[] shape)
    {
        if (NativeCnn.Shape.Equal(_shape, shape)) return this;
        var t = this;
        int lead = Dim - shape.Length;
        if (lead > 0) t = t.Reshape(new[] { (int)(NativeCnn.Shape.Numel(_shape[..lead])) }.Concat(_shape[lead..]).ToArray()).Sum(0);
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] == 1 && t._shape[i] != 1) t = t.Sum(i, keepDim: true);
        return t.Reshape(shape);
    }

    /// <summary>this += other (broadcast), in place and not recorded: gradient accumulation.</summary>
    internal void AddInPlace(Tensor other)
    {
        Check.SameDevice("AddInPlace", this, other);
        var o = other.DType == DType.Float32 ? other : other.Dense32();
        if (DType == DType.Float32 && IsDense)
        {
            Backend.Binary(BinaryOp.Add, Storage, 0, _strides, o.Storage, o.Offset, o.BroadcastStrides(_shape), Storage, _shape);
            return;
        }
        var sum = BinaryRaw(BinaryOp.Add, Dense32(), o, _shape);
        CopyFrom(sum);
    }
}
