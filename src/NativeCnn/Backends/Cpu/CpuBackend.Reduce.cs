// CPU reductions over the middle axis of x: (outer, n, inner). Sums accumulate in double, so a
// long sum is exact to float precision whatever the order; the vector paths widen float lanes to
// double. inner == 1 (the last axis) sums contiguous rows; inner > 1 adds whole contiguous rows of
// the inner axis into a tile of double accumulators, which keeps every load unit-stride.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Inner elements summed together in one tile of double accumulators (2 KiB of stack).</summary>
    private const int ReduceTile = 256;

    // x: (outer, n, inner) -> y: (outer, inner) = sum or mean over n (mean of an empty axis is NaN).
    public void Reduce(ReduceOp op, Storage x, Storage y, int outer, int n, int inner)
    {
        using var _ = Time((op, outer, n, inner), static s => $"reduce {s.op} {s.outer}x{s.n}x{s.inner}");
        var xs = F(x);
        var ys = F(y);
        CheckLength(xs, (long)outer * n * inner, "Reduce x");
        CheckLength(ys, (long)outer * inner, "Reduce y");
        if (outer == 0 || inner == 0) return;
        bool mean = op switch
        {
            ReduceOp.Sum => false,
            ReduceOp.Mean => true,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown ReduceOp"),
        };
        if (inner == 1)
        {
            For(outer, Math.Max(1, CheapChunk / Math.Max(1, n)), (s, e) =>
            {
                for (int o = s; o < e; o++) ys[o] = Finish(SumContiguous(xs, o * n, n), n, mean);
            });
            return;
        }
        int tiles = (inner + ReduceTile - 1) / ReduceTile;
        int work = Math.Max(1, n * Math.Min(inner, ReduceTile));
        For(outer * tiles, Math.Max(1, CheapChunk / work), (s, e) =>
        {
            Span<double> acc = stackalloc double[ReduceTile];
            for (int w = s; w < e; w++)
            {
                int o = w / tiles, i0 = w % tiles * ReduceTile;
                int len = Math.Min(ReduceTile, inner - i0);
                var tile = acc[..len];
                tile.Clear();
                int p = o * n * inner + i0;
                for (int k = 0; k < n; k++) AddRow(xs, p + k * inner, tile);
                int q = o * inner + i0;
                for (int i = 0; i < len; i++) ys[q + i] = Finish(tile[i], n, mean);
            }
        });
    }

    // x: (outer, n, inner) -> values, indices (int32): (outer, inner) =; the first index wins ties;
    // a NaN wins over numbers (the first NaN), as torch.max does.
    public void ReduceMax(Storage x, Storage values, Storage indices, int outer, int n, int inner)
    {
        var xs = F(x);
        var vs = F(values);
        var ix = I(indices);
        CheckLength(xs, (long)outer * n * inner, "ReduceMax x");
        For(outer * inner, Math.Max(1, CostlyChunk / Math.Max(1, n)), (s, e) =>
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

    // gx: (outer, n, inner) = gy scattered to the arg-max positions, zero elsewhere.
    public void ReduceMaxBackward(Storage gy, Storage indices, Storage gx, int outer, int n, int inner)
    {
        var g = F(gy);
        var ix = I(indices);
        var o = F(gx);
        CheckLength(o, (long)outer * n * inner, "ReduceMaxBackward gx");
        Array.Clear(o, 0, outer * n * inner);
        for (int j = 0; j < outer * inner; j++)
        {
            int oo = j / inner, i = j % inner;
            o[oo * n * inner + ix[j] * inner + i] = g[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(double sum, int n, bool mean) => (float)(mean ? sum / n : sum);

    /// <summary>sum of xs[p .. p+n) in double, with independent vector accumulators to hide add latency.</summary>
    private static double SumContiguous(float[] xs, int p, int n)
    {
        ref float r = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(xs), p);
        int i = 0;
        double sum = 0;
        if (CpuInfo.Use512 && n >= 32)
        {
            Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 32; i += 32)
            {
                var (l0, h0) = Vector512.Widen(Load512(ref r, i));
                var (l1, h1) = Vector512.Widen(Load512(ref r, i + 16));
                a0 += l0; a1 += h0; a2 += l1; a3 += h1;
            }
            sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (CpuInfo.Use256 && n >= 16)
        {
            Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 16; i += 16)
            {
                var (l0, h0) = Vector256.Widen(Load256(ref r, i));
                var (l1, h1) = Vector256.Widen(Load256(ref r, i + 8));
                a0 += l0; a1 += h0; a2 += l1; a3 += h1;
            }
            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) sum += Unsafe.Add(ref r, i);
        return sum;
    }

    /// <summary>acc[i] += xs[p + i] for i in [0, acc.Length).</summary>
    private static void AddRow(float[] xs, int p, Span<double> acc)
    {
        ref float r = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(xs), p);
        ref double d = ref MemoryMarshal.GetReference(acc);
        int n = acc.Length, i = 0;
        if (CpuInfo.Use512)
        {
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector512.Widen(Load512(ref r, i));
                (Vector512.LoadUnsafe(ref d, (nuint)i) + lo).StoreUnsafe(ref d, (nuint)i);
                (Vector512.LoadUnsafe(ref d, (nuint)(i + 8)) + hi).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }
        else if (CpuInfo.Use256)
        {
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Load256(ref r, i));
                (Vector256.LoadUnsafe(ref d, (nuint)i) + lo).StoreUnsafe(ref d, (nuint)i);
                (Vector256.LoadUnsafe(ref d, (nuint)(i + 4)) + hi).StoreUnsafe(ref d, (nuint)(i + 4));
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) += Unsafe.Add(ref r, i);
    }
}
