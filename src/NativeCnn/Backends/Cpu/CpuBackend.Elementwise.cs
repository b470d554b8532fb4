// CPU elementwise maps: unary ops and their gradients, binary ops with broadcasting.
// Each op is a small struct with a scalar form and Vector512/Vector256 forms that perform the same
// IEEE operations in the same order (no fused multiply-add), so a vector lane and the scalar tail
// give identical bits. Generic loops over these structs are specialised by the JIT: no call per
// element. exp, log, tanh, sigmoid and pow stay scalar: .NET 10's Vector512.Exp/Log are up to
// 2 ulp off (exp(0) = 1.0000001) and measured no faster than MathF here.
// Binary ops first merge dimensions that are contiguous in both operands, so the innermost run is
// as long as possible; the common layouts (same shape, a broadcast scalar, a broadcast row or
// column) then become unit-stride or stride-0 runs, which take the vector paths.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Memory-bound maps use one thread below about twice this many elements.</summary>
    private const int CheapChunk = 1 << 16;
    /// <summary>Maps that call exp/log/pow are worth a second core sooner.</summary>
    private const int CostlyChunk = 1 << 13;

    public void Unary(UnaryOp op, Storage x, Storage y, int n, float a, float b)
    {
        using var _ = Time((op, n), static s => $"unary {s.op} {s.n}");
        var xs = F(x);
        var ys = F(y);
        CheckLength(xs, n, "Unary x");
        CheckLength(ys, n, "Unary y");
        switch (op)
        {
            case UnaryOp.Affine: Map<AffineOp>(xs, ys, n, a, b); break;
            case UnaryOp.Relu: Map<ReluOp>(xs, ys, n, a, b); break;
            case UnaryOp.Clamp: Map<ClampOp>(xs, ys, n, a, b); break;
            case UnaryOp.Sqrt: Map<SqrtOp>(xs, ys, n, a, b); break;
            case UnaryOp.Exp: For(n, CostlyChunk, (s, e) => { for (int i = s; i < e; i++) ys[i] = MathF.Exp(xs[i]); }); break;
            case UnaryOp.Log: For(n, CostlyChunk, (s, e) => { for (int i = s; i < e; i++) ys[i] = MathF.Log(xs[i]); }); break;
            case UnaryOp.Pow: For(n, CostlyChunk, (s, e) => { for (int i = s; i < e; i++) ys[i] = MathF.Pow(xs[i], a); }); break;
            case UnaryOp.Sigmoid: For(n, CostlyChunk, (s, e) => { for (int i = s; i < e; i++) ys[i] = Sigmoid(xs[i]); }); break;
            case UnaryOp.Tanh: For(n, CostlyChunk, (s, e) => { for (int i = s; i < e; i++) ys[i] = MathF.Tanh(xs[i]); }); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    public void UnaryBackward(UnaryOp op, Storage x, Storage y, Storage gy, Storage gx, int n, float a, float b)
    {
        using var _ = Time((op, n), static s => $"unary_bwd {s.op} {s.n}");
        var xs = F(x);
        var ys = F(y);
        var g = F(gy);
        var o = F(gx);
        CheckLength(xs, n, "UnaryBackward x");
        CheckLength(ys, n, "UnaryBackward y");
        CheckLength(g, n, "UnaryBackward gy");
        CheckLength(o, n, "UnaryBackward gx");
        switch (op)
        {
            case UnaryOp.Affine: MapGrad<AffineGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Exp: MapGrad<ExpGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Log: MapGrad<LogGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Sqrt: MapGrad<SqrtGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Relu: MapGrad<ReluGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Sigmoid: MapGrad<SigmoidGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Tanh: MapGrad<TanhGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Clamp: MapGrad<ClampGrad>(xs, ys, g, o, n, a, b); break;
            case UnaryOp.Pow:
                For(n, CostlyChunk, (s, e) =>
                {
                    for (int i = s; i < e; i++) o[i] = a == 0 ? 0f : g[i] * a * MathF.Pow(xs[i], a - 1);
                });
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    public void Binary(BinaryOp op, Storage a, int aOffset, int[] aStrides, Storage b, int bOffset, int[] bStrides, Storage y, int[] shape)
    {
        using var _ = Time((op, shape), static s => $"binary {s.op} {string.Join('x', s.shape)}");
        var av = F(a);
        var bv = F(b);
        var yv = F(y);
        long total = Shape.Numel(shape);
        if (total == 0) return;
        CheckLength(yv, total, "Binary y");
        CheckExtent(av, aOffset, aStrides, shape, "Binary a");
        CheckExtent(bv, bOffset, bStrides, shape, "Binary b");
        var layout = BinaryLayout.Coalesce(shape, aOffset, aStrides, bOffset, bStrides);
        switch (op)
        {
            case BinaryOp.Add: RunBinary<AddOp>(av, bv, yv, layout, (int)total); break;
            case BinaryOp.Sub: RunBinary<SubOp>(av, bv, yv, layout, (int)total); break;
            case BinaryOp.Mul: RunBinary<MulOp>(av, bv, yv, layout, (int)total); break;
            case BinaryOp.Div: RunBinary<DivOp>(av, bv, yv, layout, (int)total); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    // ---- loops ---------------------------------------------------------------------------

    private static void Map<TOp>(float[] xs, float[] ys, int n, float a, float b) where TOp : struct, IUnaryKernel =>
        For(n, CheapChunk, (s, e) => MapRange<TOp>(xs, ys, s, e, a, b));

    private static void MapRange<TOp>(float[] xs, float[] ys, int s, int e, float a, float b) where TOp : struct, IUnaryKernel
    {
        ref float px = ref MemoryMarshal.GetArrayDataReference(xs);
        ref float py = ref MemoryMarshal.GetArrayDataReference(ys);
        int i = s;
        if (CpuInfo.Use512)
        {
            Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
            for (; i <= e - 16; i += 16) TOp.Apply(Load512(ref px, i), va, vb).StoreUnsafe(ref py, (nuint)i);
        }
        else if (CpuInfo.Use256)
        {
            Vector256<float> va = Vector256.Create(a), vb = Vector256.Create(b);
            for (; i <= e - 8; i += 8) TOp.Apply(Load256(ref px, i), va, vb).StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < e; i++) Unsafe.Add(ref py, i) = TOp.Apply(Unsafe.Add(ref px, i), a, b);
    }

    private static void MapGrad<TOp>(float[] xs, float[] ys, float[] gs, float[] os, int n, float a, float b) where TOp : struct, IGradKernel =>
        For(n, CheapChunk, (s, e) =>
        {
            ref float px = ref MemoryMarshal.GetArrayDataReference(xs);
            ref float py = ref MemoryMarshal.GetArrayDataReference(ys);
            ref float pg = ref MemoryMarshal.GetArrayDataReference(gs);
            ref float po = ref MemoryMarshal.GetArrayDataReference(os);
            int i = s;
            if (CpuInfo.Use512)
            {
                Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
                for (; i <= e - 16; i += 16)
                    TOp.Apply(Load512(ref px, i), Load512(ref py, i), Load512(ref pg, i), va, vb).StoreUnsafe(ref po, (nuint)i);
            }
            else if (CpuInfo.Use256)
            {
                Vector256<float> va = Vector256.Create(a), vb = Vector256.Create(b);
                for (; i <= e - 8; i += 8)
                    TOp.Apply(Load256(ref px, i), Load256(ref py, i), Load256(ref pg, i), va, vb).StoreUnsafe(ref po, (nuint)i);
            }
            for (; i < e; i++) Unsafe.Add(ref po, i) = TOp.Apply(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i), Unsafe.Add(ref pg, i), a, b);
        });

    /// <summary>Runs over the flat output range in chunks; each chunk walks rows of the innermost
    /// merged dimension with an odometer over the outer ones.</summary>
    private static void RunBinary<TOp>(float[] a, float[] b, float[] y, BinaryLayout l, int total) where TOp : struct, IBinaryKernel
    {
        if (l.Rank == 0) { y[0] = TOp.Apply(a[l.AOffset], b[l.BOffset]); return; }
        For(total, CheapChunk, (s, e) =>
        {
            int r = l.Rank, inner = l.Shape[r - 1], sa = l.AStrides[r - 1], sb = l.BStrides[r - 1];
            Span<int> idx = stackalloc int[r];
            int row = s / inner, col = s % inner, pa = l.AOffset, pb = l.BOffset;
            for (int k = r - 2; k >= 0; k--)
            {
                idx[k] = row % l.Shape[k];
                row /= l.Shape[k];
                pa += idx[k] * l.AStrides[k];
                pb += idx[k] * l.BStrides[k];
            }
            for (int p = s; p < e;)
            {
                int len = Math.Min(inner - col, e - p);
                BinaryRow<TOp>(a, pa + col * sa, sa, b, pb + col * sb, sb, y, p, len);
                p += len;
                col = 0;
                for (int k = r - 2; k >= 0; k--)
                {
                    pa += l.AStrides[k];
                    pb += l.BStrides[k];
                    if (++idx[k] < l.Shape[k]) break;
                    pa -= l.AStrides[k] * l.Shape[k];
                    pb -= l.BStrides[k] * l.Shape[k];
                    idx[k] = 0;
                }
            }
        });
    }

    /// <summary>y[py + i] = a[pa + i*sa] op b[pb + i*sb], i in [0, n); unit or zero strides take vector paths.</summary>
    private static void BinaryRow<TOp>(float[] a, int pa, int sa, float[] b, int pb, int sb, float[] y, int py, int n) where TOp : struct, IBinaryKernel
    {
        ref float ra = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a), pa);
        ref float rb = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(b), pb);
        ref float ry = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(y), py);
        int i = 0;
        if (sa == 1 && sb == 1)
        {
            if (CpuInfo.Use512)
                for (; i <= n - 16; i += 16) TOp.Apply(Load512(ref ra, i), Load512(ref rb, i)).StoreUnsafe(ref ry, (nuint)i);
            else if (CpuInfo.Use256)
                for (; i <= n - 8; i += 8) TOp.Apply(Load256(ref ra, i), Load256(ref rb, i)).StoreUnsafe(ref ry, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.Apply(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i));
        }
        else if (sa == 1 && sb == 0)
        {
            float s = rb;
            if (CpuInfo.Use512)
            {
                var vs = Vector512.Create(s);
                for (; i <= n - 16; i += 16) TOp.Apply(Load512(ref ra, i), vs).StoreUnsafe(ref ry, (nuint)i);
            }
            else if (CpuInfo.Use256)
            {
                var vs = Vector256.Create(s);
                for (; i <= n - 8; i += 8) TOp.Apply(Load256(ref ra, i), vs).StoreUnsafe(ref ry, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.Apply(Unsafe.Add(ref ra, i), s);
        }
        else if (sa == 0 && sb == 1)
        {
            float s = ra;
            if (CpuInfo.Use512)
            {
                var vs = Vector512.Create(s);
                for (; i <= n - 16; i += 16) TOp.Apply(vs, Load512(ref rb, i)).StoreUnsafe(ref ry, (nuint)i);
            }
            else if (CpuInfo.Use256)
            {
                var vs = Vector256.Create(s);
                for (; i <= n - 8; i += 8) TOp.Apply(vs, Load256(ref rb, i)).StoreUnsafe(ref ry, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.Apply(s, Unsafe.Add(ref rb, i));
        }
        else
        {
            for (; i < n; i++) Unsafe.Add(ref ry, i) = TOp.Apply(Unsafe.Add(ref ra, i * sa), Unsafe.Add(ref rb, i * sb));
        }
    }

    /// <summary>A binary op's iteration space after dropping size-1 dimensions and merging neighbours
    /// that are contiguous in both operands (the output is always contiguous).</summary>
    private sealed class BinaryLayout
    {
        public int Rank;
        public int AOffset, BOffset;
        public int[] Shape = Array.Empty<int>(), AStrides = Array.Empty<int>(), BStrides = Array.Empty<int>();

        public static BinaryLayout Coalesce(int[] shape, int aOffset, int[] aStrides, int bOffset, int[] bStrides)
        {
            var l = new BinaryLayout
            {
                AOffset = aOffset, BOffset = bOffset,
                Shape = new int[shape.Length], AStrides = new int[shape.Length], BStrides = new int[shape.Length],
            };
            int r = 0;
            for (int k = 0; k < shape.Length; k++)
            {
                if (shape[k] == 1) continue;
                if (r > 0 && l.AStrides[r - 1] == aStrides[k] * shape[k] && l.BStrides[r - 1] == bStrides[k] * shape[k])
                {
                    l.Shape[r - 1] *= shape[k];
                    l.AStrides[r - 1] = aStrides[k];
                    l.BStrides[r - 1] = bStrides[k];
                }
                else
                {
                    l.Shape[r] = shape[k];
                    l.AStrides[r] = aStrides[k];
                    l.BStrides[r] = bStrides[k];
                    r++;
                }
            }
            l.Rank = r;
            return l;
        }
    }

    // ---- bounds: validated once per call, so the loops may index without checks ---------------

    private static void CheckLength(float[] data, long n, string what)
    {
        if (n < 0 || data.Length < n)
            throw new InvalidOperationException($"internal: {what} has {data.Length} elements, {n} needed");
    }

    /// <summary>The strided view (offset, strides over shape) lies inside <paramref name="data"/>.</summary>
    private static void CheckExtent(float[] data, int offset, int[] strides, int[] shape, string what)
    {
        long lo = offset, hi = offset;
        for (int k = 0; k < shape.Length; k++)
        {
            long span = (long)(shape[k] - 1) * strides[k];
            if (span < 0) lo += span; else hi += span;
        }
        if (lo < 0 || hi >= data.Length)
            throw new InvalidOperationException($"internal: {what} view [{lo}, {hi}] is outside its {data.Length}-element storage");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load512(ref float p, int i) => Vector512.LoadUnsafe(ref p, (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load256(ref float p, int i) => Vector256.LoadUnsafe(ref p, (nuint)i);

    // ---- the ops: scalar and vector forms side by side ------------------------------------------

    private interface IUnaryKernel
    {
        static abstract float Apply(float x, float a, float b);
        static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b);
        static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b);
    }

    private readonly struct AffineOp : IUnaryKernel
    {
        public static float Apply(float x, float a, float b) => a * x + b;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => a * x + b;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => a * x + b;
    }

    /// <summary>NaN passes through (as torch.relu); negative values and -0 become +0.</summary>
    private readonly struct ReluOp : IUnaryKernel
    {
        public static float Apply(float x, float a, float b) => x <= 0f ? 0f : x;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) =>
            Vector512.ConditionalSelect(Vector512.LessThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.Zero, x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) =>
            Vector256.ConditionalSelect(Vector256.LessThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.Zero, x);
    }

    /// <summary>min(max(x, a), b) with IEEE 754-2019 max/min (NaN propagates) in both forms.</summary>
    private readonly struct ClampOp : IUnaryKernel
    {
        public static float Apply(float x, float a, float b) => MathF.Min(MathF.Max(x, a), b);
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Min(Vector512.Max(x, a), b);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Min(Vector256.Max(x, a), b);
    }

    private readonly struct SqrtOp : IUnaryKernel
    {
        public static float Apply(float x, float a, float b) => MathF.Sqrt(x);
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> a, Vector512<float> b) => Vector512.Sqrt(x);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> a, Vector256<float> b) => Vector256.Sqrt(x);
    }

    /// <summary>gx = gy * op'(x), from x, y = op(x) and gy.</summary>
    private interface IGradKernel
    {
        static abstract float Apply(float x, float y, float g, float a, float b);
        static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b);
        static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b);
    }

    private readonly struct AffineGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g * a;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g * a;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g * a;
    }

    private readonly struct ExpGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g * y;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g * y;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g * y;
    }

    private readonly struct LogGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g / x;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g / x;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g / x;
    }

    private readonly struct SqrtGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g * 0.5f / y;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g * 0.5f / y;
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g * 0.5f / y;
    }

    /// <summary>relu'(0) = 0, as in PyTorch; a NaN input gets no gradient.</summary>
    private readonly struct ReluGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => x > 0f ? g : 0f;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) =>
            Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), g, Vector512<float>.Zero);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), g, Vector256<float>.Zero);
    }

    private readonly struct SigmoidGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g * y * (1f - y);
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g * y * (Vector512<float>.One - y);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g * y * (Vector256<float>.One - y);
    }

    private readonly struct TanhGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => g * (1f - y * y);
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) => g * (Vector512<float>.One - y * y);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) => g * (Vector256<float>.One - y * y);
    }

    /// <summary>The boundary passes the gradient, as torch.clamp does.</summary>
    private readonly struct ClampGrad : IGradKernel
    {
        public static float Apply(float x, float y, float g, float a, float b) => x >= a && x <= b ? g : 0f;
        public static Vector512<float> Apply(Vector512<float> x, Vector512<float> y, Vector512<float> g, Vector512<float> a, Vector512<float> b) =>
            Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, a) & Vector512.LessThanOrEqual(x, b), g, Vector512<float>.Zero);
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> y, Vector256<float> g, Vector256<float> a, Vector256<float> b) =>
            Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, a) & Vector256.LessThanOrEqual(x, b), g, Vector256<float>.Zero);
    }

    private interface IBinaryKernel
    {
        static abstract float Apply(float a, float b);
        static abstract Vector512<float> Apply(Vector512<float> a, Vector512<float> b);
        static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b);
    }

    private readonly struct AddOp : IBinaryKernel
    {
        public static float Apply(float a, float b) => a + b;
        public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a + b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a + b;
    }

    private readonly struct SubOp : IBinaryKernel
    {
        public static float Apply(float a, float b) => a - b;
        public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a - b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a - b;
    }

    private readonly struct MulOp : IBinaryKernel
    {
        public static float Apply(float a, float b) => a * b;
        public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a * b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a * b;
    }

    private readonly struct DivOp : IBinaryKernel
    {
        public static float Apply(float a, float b) => a / b;
        public static Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a / b;
        public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a / b;
    }
}
