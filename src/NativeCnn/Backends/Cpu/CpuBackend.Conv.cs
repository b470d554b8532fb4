// Conv2d on the CPU as im2col + GEMM, so all the arithmetic runs in the backend's packed GEMM.
// The unfolded input covers a whole chunk of images, col: (C*R*S, n*P*Q), which makes the GEMM's
// n dimension large (n*P*Q) even for the small late layers of a network:
//   forward          y'  (K, nPQ)   = W (K, CRS) * col,       then y' -> y (N,K,P,Q) (+ bias)
//   backward-weight  gW  (K, CRS)   = gy' (K, nPQ) * col^T    (transB: no transposed copy of col)
//   backward-data    gcol(CRS, nPQ) = W^T * gy'               (transA), then col2im (+=) into gx
// where y'/gy' are y/gy with the image and channel axes swapped (plain block copies of P*Q rows).
// Must hold: every output is fully written ("="); workspaces come from a per-backend scratch pool
// (no large allocation per call once warm); col never exceeds ColLimitFloats unless one image alone
// does; larger batches run in chunks of images. Pointwise convs (1x1, stride 1, no padding) skip im2col in the forward and
// backward-data passes: x itself is the (C, HW) matrix of each image.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Most floats an im2col matrix may hold (64 MB); beyond it a batch runs in chunks of images.
    /// Settable so tests can force the chunked path on tiny inputs.</summary>
    internal static long ColLimitFloats = 16L << 20;

    /// <summary>Below this many output pixels per image the pointwise fast path's per-image GEMMs are
    /// too thin (n = P*Q); the general path then batches all images into one wide GEMM instead.</summary>
    internal const int PointwiseMinPixels = 256;

    public void Conv2dForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (g.N == 0) return;
        if (IsPointwise(g) && pq >= PointwiseMinPixels)
        {
            // y[n] (K, HW) = W (K, C) * x[n] (C, HW), one GEMM per image, written in place
            Gemm(false, false, K, pq, g.C, 1f, w, 0, g.C, x, 0, pq, 0f, y, 0, pq,
                 batch: g.N, strideA: 0, strideB: g.C * pq, strideC: K * pq);
            if (bias is not null) AddBias(F(y), F(bias), 0, g.N, K, pq);
            return;
        }
        int nb = ImagesPerChunk(g);
        var col = RentScratch((long)crs * nb * pq);
        var yt = nb > 1 ? RentScratch((long)K * nb * pq) : null;
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += nb)
            {
                int cnt = Math.Min(nb, g.N - n0), cols = cnt * pq;
                Im2Col(F(x), n0, cnt, col.F32, g);
                if (cnt == 1)
                {
                    // one image: (K, PQ) is already its NCHW block
                    Gemm(false, false, K, cols, crs, 1f, w, 0, crs, col, 0, cols, 0f, y, n0 * K * pq, cols);
                    if (bias is not null) AddBias(F(y), F(bias), n0, 1, K, pq);
                }
                else
                {
                    Gemm(false, false, K, cols, crs, 1f, w, 0, crs, col, 0, cols, 0f, yt!, 0, cols);
                    SwapImageAndChannel(yt!.F32, F(y), n0, cnt, K, pq, toNchw: true, bias is null ? null : F(bias));
                }
            }
        }
        finally
        {
            ReturnScratch(col);
            if (yt is not null) ReturnScratch(yt);
        }
    }

    public void Conv2dBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (g.N == 0) return;
        if (IsPointwise(g) && pq >= PointwiseMinPixels)
        {
            // gx[n] (C, HW) = W^T (C, K) * gy[n] (K, HW)
            Gemm(true, false, g.C, pq, K, 1f, w, 0, g.C, gy, 0, pq, 0f, gx, 0, pq,
                 batch: g.N, strideA: 0, strideB: K * pq, strideC: g.C * pq);
            return;
        }
        int nb = ImagesPerChunk(g);
        var gcol = RentScratch((long)crs * nb * pq);
        var gyt = nb > 1 ? RentScratch((long)K * nb * pq) : null;
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += nb)
            {
                int cnt = Math.Min(nb, g.N - n0), cols = cnt * pq;
                if (cnt == 1)
                    Gemm(true, false, crs, cols, K, 1f, w, 0, crs, gy, n0 * K * pq, cols, 0f, gcol, 0, cols);
                else
                {
                    SwapImageAndChannel(F(gy), gyt!.F32, n0, cnt, K, pq, toNchw: false, null);
                    Gemm(true, false, crs, cols, K, 1f, w, 0, crs, gyt, 0, cols, 0f, gcol, 0, cols);
                }
                Col2Im(gcol.F32, n0, cnt, F(gx), g);
            }
        }
        finally
        {
            ReturnScratch(gcol);
            if (gyt is not null) ReturnScratch(gyt);
        }
    }

    public void Conv2dBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (gbias is not null) BiasGradient(F(gy), F(gbias), g.N, K, pq);
        if (g.N == 0) { Array.Clear(F(gw), 0, K * crs); return; }
        // The pointwise case goes this way too: its im2col is a plain block copy, and one GEMM over
        // all images (k = N*HW) beats N thin accumulating ones.
        int nb = ImagesPerChunk(g);
        var col = RentScratch((long)crs * nb * pq);
        var gyt = nb > 1 ? RentScratch((long)K * nb * pq) : null;
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += nb)
            {
                int cnt = Math.Min(nb, g.N - n0), cols = cnt * pq;
                float beta = n0 == 0 ? 0f : 1f;
                Im2Col(F(x), n0, cnt, col.F32, g);
                if (cnt == 1)
                    Gemm(false, true, K, crs, cols, 1f, gy, n0 * K * pq, cols, col, 0, cols, beta, gw, 0, crs);
                else
                {
                    SwapImageAndChannel(F(gy), gyt!.F32, n0, cnt, K, pq, toNchw: false, null);
                    Gemm(false, true, K, crs, cols, 1f, gyt, 0, cols, col, 0, cols, beta, gw, 0, crs);
                }
            }
        }
        finally
        {
            ReturnScratch(col);
            if (gyt is not null) ReturnScratch(gyt);
        }
    }

    private static bool IsPointwise(ConvGeometry g) =>
        g.R == 1 && g.S == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0;

    private static int ImagesPerChunk(ConvGeometry g)
    {
        long perImage = (long)g.Crs * g.P * g.Q;
        long perImageOut = (long)g.K * g.P * g.Q;
        if (perImage > int.MaxValue || perImageOut > int.MaxValue)
            throw new NativeCnnException($"Conv2d: one image unfolds to {perImage} values (C*R*S*P*Q), more than the CPU backend's limit of {int.MaxValue}; use a smaller input or kernel");
        return (int)Math.Clamp(ColLimitFloats / Math.Max(1, Math.Max(perImage, perImageOut)), 1, Math.Max(1, g.N));
    }

    // ---- unfolding ------------------------------------------------------------------------

    /// <summary>col (CRS, cnt*PQ) = the receptive fields of images n0..n0+cnt of x (zeros in the padding).
    /// Row (c, kr, ks), column (i, p, q) holds x[n0+i, c, p*sh - ph + kr*dh, q*sw - pw + ks*dw].</summary>
    private static void Im2Col(float[] x, int n0, int cnt, float[] col, ConvGeometry g)
    {
        int P = g.P, Q = g.Q, pq = P * Q, H = g.H, W = g.W, R = g.R, S = g.S, ld = cnt * pq;
        For(g.Crs, Math.Max(1, ParallelThreshold / Math.Max(1, ld)), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int c = r / (R * S), kr = r / S % R, ks = r % S;
                int iw0 = ks * g.DilationW - g.PadW;
                var (qlo, qhi) = ValidRange(iw0, g.StrideW, W, Q);
                for (int i = 0; i < cnt; i++)
                {
                    int plane = ((n0 + i) * g.C + c) * H * W;
                    int dst = r * ld + i * pq;
                    for (int p = 0; p < P; p++, dst += Q)
                    {
                        int ih = p * g.StrideH - g.PadH + kr * g.DilationH;
                        var d = col.AsSpan(dst, Q);
                        if ((uint)ih >= (uint)H || qlo >= qhi) { d.Clear(); continue; }
                        d[..qlo].Clear();
                        d[qhi..].Clear();
                        int src = plane + ih * W + qlo * g.StrideW + iw0;
                        Gather(x, src, g.StrideW, d[qlo..qhi]);
                    }
                }
            }
        });
    }

    /// <summary>gx[n0..n0+cnt) = the sum, over every receptive field that saw each input pixel, of
    /// gcol (CRS, cnt*PQ). Parallel over (image, channel) planes: each plane has one writer.</summary>
    private static void Col2Im(float[] gcol, int n0, int cnt, float[] gx, ConvGeometry g)
    {
        int P = g.P, Q = g.Q, pq = P * Q, H = g.H, W = g.W, R = g.R, S = g.S, ld = cnt * pq;
        int planes = cnt * g.C;
        For(planes, Math.Max(1, ParallelThreshold / Math.Max(1, R * S * pq)), (a0, a1) =>
        {
            for (int a = a0; a < a1; a++)
            {
                int i = a / g.C, c = a % g.C;
                int plane = ((n0 + i) * g.C + c) * H * W;
                gx.AsSpan(plane, H * W).Clear();
                for (int kr = 0; kr < R; kr++)
                for (int ks = 0; ks < S; ks++)
                {
                    int r = (c * R + kr) * S + ks;
                    int iw0 = ks * g.DilationW - g.PadW;
                    var (qlo, qhi) = ValidRange(iw0, g.StrideW, W, Q);
                    if (qlo >= qhi) continue;
                    int src = r * ld + i * pq;
                    for (int p = 0; p < P; p++, src += Q)
                    {
                        int ih = p * g.StrideH - g.PadH + kr * g.DilationH;
                        if ((uint)ih >= (uint)H) continue;
                        Scatter(gcol.AsSpan(src + qlo, qhi - qlo), gx, plane + ih * W + qlo * g.StrideW + iw0, g.StrideW);
                    }
                }
            }
        });
    }

    /// <summary>The output columns q in [lo, hi) whose input column q*stride + iw0 lies inside [0, W).</summary>
    private static (int Lo, int Hi) ValidRange(int iw0, int stride, int W, int Q)
    {
        int lo = iw0 >= 0 ? 0 : (-iw0 + stride - 1) / stride;
        int hi = W - 1 - iw0 < 0 ? 0 : Math.Min(Q, (W - 1 - iw0) / stride + 1);
        return (Math.Min(lo, Q), hi);
    }

    /// <summary>dst[j] = x[src + j*stride]; stride 1 is a block copy, stride 2 de-interleaves 32 floats at a time.</summary>
    private static void Gather(float[] x, int src, int stride, Span<float> dst)
    {
        if (stride == 1) { x.AsSpan(src, dst.Length).CopyTo(dst); return; }
        int j = 0, n = dst.Length;
        if (stride == 2 && Avx512F.IsSupported && n >= 16)
        {
            // vpermt2ps with indices 0,2,..,30 takes the even elements of two 16-float loads
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            ref float xs = ref MemoryMarshal.GetArrayDataReference(x);
            ref float ds = ref MemoryMarshal.GetReference(dst);
            // the last full pair of loads must stay inside the input row: j*2 + 31 <= last read
            int limit = n - 16;
            int room = x.Length - src - 32;
            limit = Math.Min(limit, room < 0 ? -1 : room / 2);
            for (; j <= limit; j += 16)
            {
                var lo = Vector512.LoadUnsafe(ref xs, (nuint)(src + 2 * j));
                var hi = Vector512.LoadUnsafe(ref xs, (nuint)(src + 2 * j + 16));
                Avx512F.PermuteVar16x32x2(lo, evens, hi).StoreUnsafe(ref ds, (nuint)j);
            }
        }
        for (; j < n; j++) dst[j] = x[src + j * stride];
    }

    /// <summary>gx[dst + j*stride] += src[j].</summary>
    private static void Scatter(ReadOnlySpan<float> src, float[] gx, int dst, int stride)
    {
        if (stride == 1) { AddInto(gx.AsSpan(dst, src.Length), src); return; }
        for (int j = 0; j < src.Length; j++) gx[dst + j * stride] += src[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInto(Span<float> dst, ReadOnlySpan<float> src)
    {
        int j = 0, n = dst.Length;
        ref float d = ref MemoryMarshal.GetReference(dst);
        ref float s = ref MemoryMarshal.GetReference(src);
        if (Vector512.IsHardwareAccelerated)
            for (; j <= n - 16; j += 16)
                (Vector512.LoadUnsafe(ref d, (nuint)j) + Vector512.LoadUnsafe(ref s, (nuint)j)).StoreUnsafe(ref d, (nuint)j);
        else if (Vector256.IsHardwareAccelerated)
            for (; j <= n - 8; j += 8)
                (Vector256.LoadUnsafe(ref d, (nuint)j) + Vector256.LoadUnsafe(ref s, (nuint)j)).StoreUnsafe(ref d, (nuint)j);
        for (; j < n; j++) dst[j] += src[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScalar(Span<float> dst, float v)
    {
        int j = 0, n = dst.Length;
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated)
        {
            var vv = Vector512.Create(v);
            for (; j <= n - 16; j += 16) (Vector512.LoadUnsafe(ref d, (nuint)j) + vv).StoreUnsafe(ref d, (nuint)j);
        }
        for (; j < n; j++) dst[j] += v;
    }

    // ---- layout moves and bias ------------------------------------------------------------

    /// <summary>Between NCHW blocks t[(n0+i), k, :] and the GEMM layout m[k, i*PQ .. (i+1)*PQ) for
    /// cnt images: toNchw copies m -> t (adding bias[k] if given), otherwise t -> m.</summary>
    private static void SwapImageAndChannel(float[] from, float[] to, int n0, int cnt, int K, int pq, bool toNchw, float[]? bias)
    {
        int blocks = cnt * K, ld = cnt * pq;
        For(blocks, Math.Max(1, ParallelThreshold / pq), (b0, b1) =>
        {
            for (int b = b0; b < b1; b++)
            {
                int i = b / K, k = b % K;
                int nchw = ((n0 + i) * K + k) * pq, gemm = k * ld + i * pq;
                if (!toNchw) { from.AsSpan(nchw, pq).CopyTo(to.AsSpan(gemm, pq)); continue; }
                var dst = to.AsSpan(nchw, pq);
                from.AsSpan(gemm, pq).CopyTo(dst);
                if (bias is not null) AddScalar(dst, bias[k]);
            }
        });
    }

    /// <summary>y[n0+i, k, :] += bias[k] for cnt images.</summary>
    private static void AddBias(float[] y, float[] bias, int n0, int cnt, int K, int pq)
    {
        For(cnt * K, Math.Max(1, ParallelThreshold / pq), (b0, b1) =>
        {
            for (int b = b0; b < b1; b++) AddScalar(y.AsSpan((n0 * K + b) * pq, pq), bias[b % K]);
        });
    }

    /// <summary>gbias[k] = sum over images and pixels of gy[n, k, :] (float64 accumulation per block).</summary>
    private static void BiasGradient(float[] gy, float[] gbias, int N, int K, int pq)
    {
        For(K, Math.Max(1, ParallelThreshold / Math.Max(1, N * pq)), (k0, k1) =>
        {
            for (int k = k0; k < k1; k++)
            {
                double s = 0;
                for (int n = 0; n < N; n++)
                {
                    var row = gy.AsSpan((n * K + k) * pq, pq);
                    float part = 0;
                    foreach (var v in row) part += v;
                    s += part;
                }
                gbias[k] = (float)s;
            }
        });
    }

    // ---- scratch workspaces ---------------------------------------------------------------

    private readonly List<CpuStorage> _scratch = new();

    /// <summary>A float32 workspace of at least <paramref name="floats"/> elements (contents undefined),
    /// taken from the backend's free list: the smallest one that fits, or a new one. Return it with
    /// ReturnScratch. A training loop asks for the same sizes every step, so once warm nothing is allocated.</summary>
    internal CpuStorage RentScratch(long floats)
    {
        if (floats > int.MaxValue) throw new InvalidOperationException($"internal: workspace of {floats} floats");
        lock (_scratch)
        {
            int best = -1, largest = -1;
            for (int i = 0; i < _scratch.Count; i++)
            {
                int len = _scratch[i].Length;
                if (len >= floats && (best < 0 || len < _scratch[best].Length)) best = i;
                if (largest < 0 || len > _scratch[largest].Length) largest = i;
            }
            if (best >= 0)
            {
                var s = _scratch[best];
                _scratch.RemoveAt(best);
                return s;
            }
            // nothing fits: the largest free one is too small and this request replaces it, so the
            // list holds about as many workspaces as are ever in use at once
            if (largest >= 0) _scratch.RemoveAt(largest);
        }
        // round up to 1 MB so slightly larger requests later reuse this one
        int length = (int)Math.Min(int.MaxValue, (floats + (1 << 18) - 1) >> 18 << 18);
        return new CpuStorage(this, DType.Float32, GC.AllocateUninitializedArray<float>(length), length);
    }

    internal void ReturnScratch(CpuStorage s)
    {
        lock (_scratch) _scratch.Add(s);
    }
}
