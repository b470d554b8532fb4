// CPU elementwise maps and reductions. Contiguous same-shape binaries take a flat loop; broadcast
// binaries walk rows of the innermost dimension with per-operand strides.
namespace NativeCnn.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Unary(UnaryOp op, Storage x, Storage y, int n, float a, float b)
    {
        var xs = F(x);
        var ys = F(y);
        For(n, 1 << 14, (s, e) =>
        {
            switch (op)
            {
                case UnaryOp.Affine: for (int i = s; i < e; i++) ys[i] = a * xs[i] + b; break;
                case UnaryOp.Exp: for (int i = s; i < e; i++) ys[i] = MathF.Exp(xs[i]); break;
                case UnaryOp.Log: for (int i = s; i < e; i++) ys[i] = MathF.Log(xs[i]); break;
                case UnaryOp.Sqrt: for (int i = s; i < e; i++) ys[i] = MathF.Sqrt(xs[i]); break;
                case UnaryOp.Pow: for (int i = s; i < e; i++) ys[i] = MathF.Pow(xs[i], a); break;
                case UnaryOp.Relu: for (int i = s; i < e; i++) ys[i] = xs[i] > 0 ? xs[i] : 0f; break;
                case UnaryOp.Sigmoid: for (int i = s; i < e; i++) ys[i] = Sigmoid(xs[i]); break;
                case UnaryOp.Tanh: for (int i = s; i < e; i++) ys[i] = MathF.Tanh(xs[i]); break;
                case UnaryOp.Clamp: for (int i = s; i < e; i++) ys[i] = MathF.Min(MathF.Max(xs[i], a), b); break;
                default: throw new ArgumentOutOfRangeException(nameof(op));
            }
        });
    }

    public void UnaryBackward(UnaryOp op, Storage x, Storage y, Storage gy, Storage gx, int n, float a, float b)
    {
        var xs = F(x);
        var ys = F(y);
        var g = F(gy);
        var o = F(gx);
        For(n, 1 << 14, (s, e) =>
        {
            switch (op)
            {
                case UnaryOp.Affine: for (int i = s; i < e; i++) o[i] = g[i] * a; break;
                case UnaryOp.Exp: for (int i = s; i < e; i++) o[i] = g[i] * ys[i]; break;
                case UnaryOp.Log: for (int i = s; i < e; i++) o[i] = g[i] / xs[i]; break;
                case UnaryOp.Sqrt: for (int i = s; i < e; i++) o[i] = g[i] * 0.5f / ys[i]; break;
                case UnaryOp.Pow: for (int i = s; i < e; i++) o[i] = a == 0 ? 0f : g[i] * a * MathF.Pow(xs[i], a - 1); break;
                // relu'(0) = 0, as in PyTorch
                case UnaryOp.Relu: for (int i = s; i < e; i++) o[i] = xs[i] > 0 ? g[i] : 0f; break;
                case UnaryOp.Sigmoid: for (int i = s; i < e; i++) o[i] = g[i] * ys[i] * (1 - ys[i]); break;
                case UnaryOp.Tanh: for (int i = s; i < e; i++) o[i] = g[i] * (1 - ys[i] * ys[i]); break;
                // the boundary passes the gradient, as torch.clamp does
                case UnaryOp.Clamp: for (int i = s; i < e; i++) o[i] = xs[i] >= a && xs[i] <= b ? g[i] : 0f; break;
                default: throw new ArgumentOutOfRangeException(nameof(op));
            }
        });
    }

    public void Binary(BinaryOp op, Storage a, int aOffset, int[] aStrides, Storage b, int bOffset, int[] bStrides, Storage y, int[] shape)
    {
        var av = F(a);
        var bv = F(b);
        var yv = F(y);
        int rank = shape.Length;
        int total = (int)Shape.Numel(shape);
        if (total == 0) return;
        int inner = rank == 0 ? 1 : shape[rank - 1];
        int sa = rank == 0 ? 0 : aStrides[rank - 1], sb = rank == 0 ? 0 : bStrides[rank - 1];
        int rows = total / inner;
        For(rows, Math.Max(1, (1 << 14) / Math.Max(1, inner)), (r0, r1) =>
        {
            Span<int> idx = stackalloc int[Math.Max(rank, 1)];
            for (int r = r0; r < r1; r++)
            {
                // decompose the row number into indices of the outer dimensions
                int rem = r, pa = aOffset, pb = bOffset;
                for (int k = rank - 2; k >= 0; k--)
                {
                    int i = rem % shape[k];
                    rem /= shape[k];
                    pa += i * aStrides[k];
                    pb += i * bStrides[k];
                }
                int py = r * inner;
                Row(op, av, pa, sa, bv, pb, sb, yv, py, inner);
            }
        });
    }

    private static void Row(BinaryOp op, float[] a, int pa, int sa, float[] b, int pb, int sb, float[] y, int py, int n)
    {
        switch (op)
        {
            case BinaryOp.Add: for (int i = 0; i < n; i++) y[py + i] = a[pa + i * sa] + b[pb + i * sb]; break;
            case BinaryOp.Sub: for (int i = 0; i < n; i++) y[py + i] = a[pa + i * sa] - b[pb + i * sb]; break;
            case BinaryOp.Mul: for (int i = 0; i < n; i++) y[py + i] = a[pa + i * sa] * b[pb + i * sb]; break;
            case BinaryOp.Div: for (int i = 0; i < n; i++) y[py + i] = a[pa + i * sa] / b[pb + i * sb]; break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    public void Reduce(ReduceOp op, Storage x, Storage y, int outer, int n, int inner)
    {
        var xs = F(x);
        var ys = F(y);
        float scale = op == ReduceOp.Mean ? 1f / n : 1f;
        For(outer * inner, Math.Max(1, (1 << 14) / Math.Max(1, n)), (s, e) =>
        {
            for (int j = s; j < e; j++)
            {
                int o = j / inner, i = j % inner;
                int p = o * n * inner + i;
                double acc = 0;   // double accumulation keeps long sums exact to float precision
                for (int k = 0; k < n; k++) acc += xs[p + k * inner];
                ys[j] = (float)(acc * scale);
            }
        });
    }

    public void ReduceMax(Storage x, Storage values, Storage indices, int outer, int n, int inner)
    {
        var xs = F(x);
        var vs = F(values);
        var ix = I(indices);
        For(outer * inner, Math.Max(1, (1 << 14) / Math.Max(1, n)), (s, e) =>
        {
            for (int j = s; j < e; j++)
            {
                int o = j / inner, i = j % inner;
                int p = o * n * inner + i;
                float best = xs[p];
                int arg = 0;
                for (int k = 1; k < n; k++)
                {
                    float v = xs[p + k * inner];
                    if (v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; arg = k; }
                }
                vs[j] = best;
                ix[j] = arg;
            }
        });
    }

    public void ReduceMaxBackward(Storage gy, Storage indices, Storage gx, int outer, int n, int inner)
    {
        var g = F(gy);
        var ix = I(indices);
        var o = F(gx);
        Array.Clear(o, 0, outer * n * inner);
        for (int j = 0; j < outer * inner; j++)
        {
            int oo = j / inner, i = j % inner;
            o[oo * n * inner + ix[j] * inner + i] = g[j];
        }
    }
}
