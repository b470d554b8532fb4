// CPU 2-d max-pool, forward and backward, with PyTorch's semantics: padding never wins (it is -inf),
// a strictly greater value replaces the current max (so the first of equal values in row-major
// window order stays), and NaN propagates (a later NaN replaces an earlier one, as in PyTorch's
// `val > max || isnan(val)` scan). Work is split over the N*C planes, which are independent.
// The vector paths (AVX-512 / AVX2 registers, per CpuInfo) pool each output row in two steps: a
// vertical pass takes, for every input column, the best of the window's rows (contiguous loads),
// into a padded row buffer; a horizontal pass combines S neighbouring columns per output (stride 1:
// shifted loads; stride 2: the even lanes of two loads; other strides: scalar). Because the
// vertical pass reorders the scan, the horizontal combine compares (value, flat index) pairs: NaN
// beats numbers and the larger index wins among NaNs; a larger value wins, and the smaller index
// among equal values. That total order is exactly what the sequential scan yields, so every path
// gives the same values and indices. The portable path is the sequential scan itself.
// Must always hold: indices are flat h*W+w offsets inside their own (n, c) plane; every output
// element is written ("="); no allocation per call (row buffers come from the array pool per chunk).
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Index of the padding columns in the row buffer: larger than any real index, so padding
    /// loses every tie with a real -inf.</summary>
    private const int PadIndex = int.MaxValue;

    // x: (N,C,H,W) -> y, indices: (N,C,P,Q) =
    public void MaxPool2dForward(Storage x, Storage y, Storage indices, PoolGeometry g)
    {
        using var _ = Time("maxpool_fwd");
        var xs = F(x);
        var ys = F(y);
        var ix = I(indices);
        int planes = g.N * g.C;
        if (CpuInfo.Use256)
            For(planes, PlanesPerChunk((long)g.H * g.W + (long)g.P * g.Q * g.S), (p0, p1) => MaxPoolPlanesVector(xs, ys, ix, g, p0, p1));
        else
            For(planes, PlanesPerChunk((long)g.P * g.Q * g.R * g.S), (p0, p1) => MaxPoolPlanesScalar(xs, ys, ix, g, p0, p1));
    }

    /// <summary>The sequential window scan (the portable path, and the definition the vector paths match).</summary>
    private static void MaxPoolPlanesScalar(float[] xs, float[] ys, int[] ix, in PoolGeometry g, int p0, int p1)
    {
        // locals, not the struct, so the JIT keeps the geometry in registers
        int H = g.H, W = g.W, P = g.P, Q = g.Q, R = g.R, S = g.S, sh = g.StrideH, sw = g.StrideW, ph = g.PadH, pw = g.PadW;
        int hw = H * W, pq = P * Q;
        for (int plane = p0; plane < p1; plane++)
        {
            var xp = new ReadOnlySpan<float>(xs, plane * hw, hw);
            var yp = new Span<float>(ys, plane * pq, pq);
            var ip = new Span<int>(ix, plane * pq, pq);
            for (int p = 0; p < P; p++)
            {
                int h0 = p * sh - ph;
                int hs = Math.Max(h0, 0), he = Math.Min(h0 + R, H);
                for (int q = 0; q < Q; q++)
                {
                    int w0 = q * sw - pw;
                    int ws = Math.Max(w0, 0), we = Math.Min(w0 + S, W);
                    // non-short-circuit '|' and selects keep this branch-free on random data
                    float best = float.NegativeInfinity;
                    int arg = hs * W + ws;
                    for (int h = hs; h < he; h++)
                    {
                        for (int at = h * W + ws, end = h * W + we; at < end; at++)
                        {
                            float v = xp[at];
                            bool take = (v > best) | float.IsNaN(v);
                            best = take ? v : best;
                            arg = take ? at : arg;
                        }
                    }
                    yp[p * Q + q] = best;
                    ip[p * Q + q] = arg;
                }
            }
        }
    }

    /// <summary>Planes [p0, p1) through the vertical and horizontal passes (AVX-512 or AVX2 registers).</summary>
    private static unsafe void MaxPoolPlanesVector(float[] xs, float[] ys, int[] ix, in PoolGeometry g, int p0, int p1)
    {
        int H = g.H, W = g.W, P = g.P, Q = g.Q, R = g.R, S = g.S, sh = g.StrideH, sw = g.StrideW, ph = g.PadH, pw = g.PadW;
        int hw = H * W, pq = P * Q;
        bool wide = CpuInfo.Use512 && Q >= 16;   // short rows: 8 lanes waste less
        // the row buffer: pw padding columns, the W column results, padding to the last window's end,
        // and slack for the stride-2 pass's two-vector loads past the last output
        int length = Math.Max((Q - 1) * sw + S, pw + W) + 2 * 16 + 2;  // reads reach 2(Q-1) + S + 29
        var colV = ArrayPool<float>.Shared.Rent(length);
        var colI = ArrayPool<int>.Shared.Rent(length);
        try
        {
            colV.AsSpan(0, length).Fill(float.NegativeInfinity);
            colI.AsSpan(0, length).Fill(PadIndex);
            fixed (float* xb = xs, yb = ys, cv = colV)
            fixed (int* ib = ix, ci = colI)
            {
                for (int plane = p0; plane < p1; plane++)
                {
                    float* xp = xb + (long)plane * hw;
                    for (int p = 0; p < P; p++)
                    {
                        int h0 = p * sh - ph;
                        int hs = Math.Max(h0, 0), he = Math.Min(h0 + R, H);
                        if (wide) ColumnsMax512(xp, W, hs, he, cv + pw, ci + pw);
                        else ColumnsMax256(xp, W, hs, he, cv + pw, ci + pw);
                        long o = (long)plane * pq + (long)p * Q;
                        int q = wide ? RowMax512(cv, ci, Q, S, sw, yb + o, ib + o) : RowMax256(cv, ci, Q, S, sw, yb + o, ib + o);
                        for (; q < Q; q++)
                        {
                            float bv = cv[q * sw];
                            int bi = ci[q * sw];
                            for (int j = 1; j < S; j++) Combine(ref bv, ref bi, cv[q * sw + j], ci[q * sw + j]);
                            yb[o + q] = bv;
                            ib[o + q] = bi;
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(colV);
            ArrayPool<int>.Shared.Return(colI);
        }
    }

    /// <summary>(av, ai) = the better of (av, ai) and (bv, bi) in the scan's order (see the header).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine(ref float av, ref int ai, float bv, int bi)
    {
        bool take = (float.IsNaN(bv) & (!float.IsNaN(av) | bi > ai)) | (bv > av) | ((bv == av) & (bi < ai));
        av = take ? bv : av;
        ai = take ? bi : ai;
    }

    /// <summary>cv[w], ci[w] = the best of x[h, w] over rows [hs, he), for w &lt; W, scanning h upwards.</summary>
    private static unsafe void ColumnsMax512(float* xp, int W, int hs, int he, float* cv, int* ci)
    {
        if (W < 16) { ColumnsMax256(xp, W, hs, he, cv, ci); return; }
        var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        int w = 0;
        for (; ; w += 16)
        {
            // a tail shorter than a vector: one more vector ending at W (recomputing a few columns)
            if (w + 16 > W)
            {
                if (w >= W || W < 16) break;
                w = W - 16;
            }
            var best = Vector512.Create(float.NegativeInfinity);
            var arg = Vector512.Create(hs * W + w) + lanes;
            for (int h = hs; h < he; h++)
            {
                var v = Vector512.Load(xp + h * W + w);
                var take = Vector512.GreaterThan(v, best) | ~Vector512.Equals(v, v);
                best = Vector512.ConditionalSelect(take, v, best);
                arg = Vector512.ConditionalSelect(take.AsInt32(), Vector512.Create(h * W + w) + lanes, arg);
            }
            best.Store(cv + w);
            arg.Store(ci + w);
        }
        ColumnsMaxTail(xp, W, hs, he, cv, ci, w);
    }

    private static unsafe void ColumnsMax256(float* xp, int W, int hs, int he, float* cv, int* ci)
    {
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        int w = 0;
        for (; ; w += 8)
        {
            // a tail shorter than a vector: one more vector ending at W (recomputing a few columns)
            if (w + 8 > W)
            {
                if (w >= W || W < 8) break;
                w = W - 8;
            }
            var best = Vector256.Create(float.NegativeInfinity);
            var arg = Vector256.Create(hs * W + w) + lanes;
            for (int h = hs; h < he; h++)
            {
                var v = Vector256.Load(xp + h * W + w);
                var take = Vector256.GreaterThan(v, best) | ~Vector256.Equals(v, v);
                best = Vector256.ConditionalSelect(take, v, best);
                arg = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(h * W + w) + lanes, arg);
            }
            best.Store(cv + w);
            arg.Store(ci + w);
        }
        ColumnsMaxTail(xp, W, hs, he, cv, ci, w);
    }

    private static unsafe void ColumnsMaxTail(float* xp, int W, int hs, int he, float* cv, int* ci, int w)
    {
        for (; w < W; w++)
        {
            float best = float.NegativeInfinity;
            int arg = hs * W + w;
            for (int h = hs; h < he; h++)
            {
                float v = xp[h * W + w];
                bool take = (v > best) | float.IsNaN(v);
                best = take ? v : best;
                arg = take ? h * W + w : arg;
            }
            cv[w] = best;
            ci[w] = arg;
        }
    }

    /// <summary>y[q] = the best of the row buffer's columns [q*sw, q*sw + S) for q &lt; Q, a vector of
    /// outputs at a time (the last one partly stored); strides 1 and 2 only (others leave every output
    /// to the caller's scalar loop). Reads the buffer up to two vectors past the last window.
    /// Returns the first output not written.</summary>
    private static unsafe int RowMax512(float* cv, int* ci, int Q, int S, int sw, float* y, int* iy)
    {
        int q = 0;
        if (sw == 1)
        {
            for (; q < Q; q += 16)
            {
                var bv = Vector512.Load(cv + q);
                var bi = Vector512.Load(ci + q);
                for (int j = 1; j < S; j++) Combine512(ref bv, ref bi, Vector512.Load(cv + q + j), Vector512.Load(ci + q + j));
                StoreLanes(bv, bi, y + q, iy + q, Q - q);
            }
        }
        else if (sw == 2)
        {
            // vpermt2ps with indices 0,2,..,30 takes the even elements of two 16-lane loads
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; q < Q; q += 16)
            {
                float* v0 = cv + 2 * q;
                int* i0 = ci + 2 * q;
                var bv = Avx512F.PermuteVar16x32x2(Vector512.Load(v0), evens, Vector512.Load(v0 + 16));
                var bi = Avx512F.PermuteVar16x32x2(Vector512.Load(i0), evens, Vector512.Load(i0 + 16));
                for (int j = 1; j < S; j++)
                    Combine512(ref bv, ref bi, Avx512F.PermuteVar16x32x2(Vector512.Load(v0 + j), evens, Vector512.Load(v0 + j + 16)),
                               Avx512F.PermuteVar16x32x2(Vector512.Load(i0 + j), evens, Vector512.Load(i0 + j + 16)));
                StoreLanes(bv, bi, y + q, iy + q, Q - q);
            }
        }
        return q;
    }

    private static unsafe int RowMax256(float* cv, int* ci, int Q, int S, int sw, float* y, int* iy)
    {
        int q = 0;
        if (sw == 1)
        {
            for (; q < Q; q += 8)
            {
                var bv = Vector256.Load(cv + q);
                var bi = Vector256.Load(ci + q);
                for (int j = 1; j < S; j++) Combine256(ref bv, ref bi, Vector256.Load(cv + q + j), Vector256.Load(ci + q + j));
                StoreLanes(bv, bi, y + q, iy + q, Q - q);
            }
        }
        else if (sw == 2)
        {
            for (; q < Q; q += 8)
            {
                float* v0 = cv + 2 * q;
                float* i0 = (float*)(ci + 2 * q);
                var bv = Evens256(v0);
                var bi = Evens256(i0).AsInt32();
                for (int j = 1; j < S; j++) Combine256(ref bv, ref bi, Evens256(v0 + j), Evens256(i0 + j).AsInt32());
                StoreLanes(bv, bi, y + q, iy + q, Q - q);
            }
        }
        return q;
    }

    /// <summary>Stores the first min(count, lanes) lanes of (v, i) at y, iy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreLanes(Vector512<float> v, Vector512<int> i, float* y, int* iy, int count)
    {
        if (count >= 16) { v.Store(y); i.Store(iy); return; }
        for (int k = 0; k < count; k++) { y[k] = v.GetElement(k); iy[k] = i.GetElement(k); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreLanes(Vector256<float> v, Vector256<int> i, float* y, int* iy, int count)
    {
        if (count >= 8) { v.Store(y); i.Store(iy); return; }
        for (int k = 0; k < count; k++) { y[k] = v.GetElement(k); iy[k] = i.GetElement(k); }
    }

    /// <summary>The even elements of the 16 floats (or int bit patterns) at s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Evens256(float* s)
    {
        // per 128-bit lane [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs in order
        var pairs = Avx.Shuffle(Avx.LoadVector256(s), Avx.LoadVector256(s + 8), 0b10_00_10_00);
        return Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine512(ref Vector512<float> av, ref Vector512<int> ai, Vector512<float> bv, Vector512<int> bi)
    {
        var bNaN = ~Vector512.Equals(bv, bv).AsInt32();
        var aNumber = Vector512.Equals(av, av).AsInt32();
        var take = (bNaN & (aNumber | Vector512.GreaterThan(bi, ai))) | Vector512.GreaterThan(bv, av).AsInt32()
                   | (Vector512.Equals(bv, av).AsInt32() & Vector512.LessThan(bi, ai));
        av = Vector512.ConditionalSelect(take.AsSingle(), bv, av);
        ai = Vector512.ConditionalSelect(take, bi, ai);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine256(ref Vector256<float> av, ref Vector256<int> ai, Vector256<float> bv, Vector256<int> bi)
    {
        var bNaN = ~Vector256.Equals(bv, bv).AsInt32();
        var aNumber = Vector256.Equals(av, av).AsInt32();
        var take = (bNaN & (aNumber | Vector256.GreaterThan(bi, ai))) | Vector256.GreaterThan(bv, av).AsInt32()
                   | (Vector256.Equals(bv, av).AsInt32() & Vector256.LessThan(bi, ai));
        av = Vector256.ConditionalSelect(take.AsSingle(), bv, av);
        ai = Vector256.ConditionalSelect(take, bi, ai);
    }

    // gy, indices: (N,C,P,Q) -> gx: (N,C,H,W) =. Overlapping windows that chose the same input add up.
    // Reads only N, C, H, W, P and Q of g: AdaptiveMaxPool2d's backward reuses it with no window fields.
    public void MaxPool2dBackward(Storage gy, Storage indices, Storage gx, PoolGeometry g)
    {
        using var _ = Time("maxpool_bwd");
        var gys = F(gy);
        var ix = I(indices);
        var gxs = F(gx);
        int planes = g.N * g.C, hw = g.H * g.W, pq = g.P * g.Q;
        For(planes, PlanesPerChunk(hw + pq), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                Array.Clear(gxs, xb, hw);
                for (int j = 0; j < pq; j++) gxs[xb + ix[yb + j]] += gys[yb + j];
            }
        });
    }
}
