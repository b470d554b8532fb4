// Conv2d on the CPU as im2col + GEMM, so all the arithmetic runs in the backend's packed GEMM.
// The unfolded input covers a whole chunk of images, col: (C*R*S, n*P*Q), which makes the GEMM's
// n dimension large (n*P*Q) even for the small late layers of a network:
//   forward          y'  (K, nPQ)   = W (K, CRS) * col,       then y' -> y (N,K,P,Q) (+ bias)
//   backward-weight  gW  (K, CRS)   = gy' (K, nPQ) * col^T    (transB: no transposed copy of col)
//   backward-data    gcol(CRS, nPQ) = W^T * gy'               (transA), then col2im (+=) into gx
// where y'/gy' are y/gy with the image and channel axes swapped (plain block copies of P*Q rows).
// Must hold: every output is fully written ("="); workspaces come from a per-backend scratch pool
// (no large allocation per call once warm); batches whose col would exceed ColLimitFloats run in
// chunks of images (a chunk of one image writes y / reads gy in place, with no layout move).
// Pointwise convs (1x1, stride 1, no padding) with enough pixels skip im2col in the forward and
// backward-data passes: x itself is the (C, HW) matrix of each image. By default (ImplicitColumns)
// the im2col matrix is never stored: CpuConv.Implicit.cs unfolds x inside the GEMM's packing and
// runs stride-1 backward-data as a convolution of gy (no col2im), strided backward-data as one
// convolution of gy per stride phase (CpuConv.PhaseBackwardData.cs); the stored-im2col code below
// is the general fallback (dilated strided backward-data, NATIVECNN_CONV_IMPLICIT=0).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Most floats an im2col (or y', gy') matrix may hold before the batch is split into
    /// chunks of images: a quarter of this CPU's L3 (8 MB of 32 MB on the Zen 4/5 machines; 1-16 MB
    /// whatever the L3), so what one pass writes is still cached
    /// when the GEMM or col2im reads it back. Measured (benchmarks/results/conv-notes.md): on a quiet
    /// machine 4-64 MB chunks are within ~8% of each other; with other processes sharing the L3,
    /// the 19 MB whole-batch matrix of the 7x7 stem layer ran up to 2x slower than 4 MB chunks.
    /// Settable so tests can force the chunked path on tiny inputs.</summary>
    internal static long ColLimitFloats = Math.Clamp(CpuInfo.Current.L3Bytes / 4 / sizeof(float), 256L << 10, 4L << 20);

    /// <summary>Below this many output pixels per image the pointwise fast path's per-image GEMMs are
    /// too thin (n = P*Q); the general path then batches all images into one wide GEMM instead.</summary>
    internal const int PointwiseMinPixels = 256;

    public void Conv2dForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        using var _ = Time(g, static g => $"conv_fwd {ConvName(g)}");
        if (Conv2dForwardWidened(x, w, bias, y, g)) return;   // float16 inputs: CpuBackend.Half.cs
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (g.N == 0) return;
        if (FewChannelsApplies(g)) { ForwardFewChannels(F(x), F(w), bias is null ? null : F(bias), F(y), g); return; }   // CpuConv.FewChannels.cs
        if (IsPointwise(g) && pq >= PointwiseMinPixels)
        {
            // y[n] (K, HW) = W (K, C) * x[n] (C, HW), one GEMM per image, written in place
            Gemm(false, false, K, pq, g.C, 1f, w, 0, g.C, x, 0, pq, 0f, y, 0, pq,
                 batch: g.N, strideA: 0, strideB: g.C * pq, strideC: K * pq);
            if (bias is not null) AddBias(F(y), F(bias), 0, g.N, K, pq);
            return;
        }
        if (ImplicitColumns) { ForwardWithColumns(F(x), F(w), bias is null ? null : F(bias), F(y), g); return; }
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
        using var _ = Time(g, static g => $"conv_bwd_data {ConvName(g)}");
        if (Conv2dBackwardDataWidened(gy, w, gx, g)) return;
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (g.N == 0) return;
        if (IsPointwise(g) && pq >= PointwiseMinPixels)
        {
            // gx[n] (C, HW) = W^T (C, K) * gy[n] (K, HW)
            Gemm(true, false, g.C, pq, K, 1f, w, 0, g.C, gy, 0, pq, 0f, gx, 0, pq,
                 batch: g.N, strideA: 0, strideB: K * pq, strideC: g.C * pq);
            return;
        }
        if (BackwardDataAsConvolution(F(gy), F(w), F(gx), g)) return;
        if (PhaseOcApplies(g)) { PhaseOcBackwardDataPass(F(gy), F(w), F(gx), g); return; }   // CpuConv.PhaseOc.cs
        if (PhasesApplyToBackwardData(g)) { BackwardDataByPhases(F(gy), F(w), F(gx), g); return; }   // CpuConv.PhaseBackwardData.cs
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
        using var _ = Time(g, static g => $"conv_bwd_weight {ConvName(g)}");
        if (Conv2dBackwardWeightWidened(x, gy, gw, gbias, g)) return;
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (gbias is not null) BiasGradient(F(gy), F(gbias), g.N, K, pq);
        if (g.N == 0) { Array.Clear(F(gw), 0, K * crs); return; }
        if (FewChannelsApplies(g)) { BackwardWeightFewChannels(F(x), F(gy), F(gw), g); return; }   // CpuConv.FewChannels.cs
        // The pointwise case goes this way too: its im2col is a plain block copy, and one GEMM over
        // a chunk of images (k = n*HW) beats n thin accumulating ones.
        if (ImplicitColumns) { BackwardWeightWithColumns(F(x), F(gy), F(gw), g); return; }
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

    /// <summary>A convolution's name in a profile: "C->K HxW RxS sN bN".</summary>
    private static string ConvName(ConvGeometry g) => $"{g.C}->{g.K} {g.H}x{g.W} {g.R}x{g.S} s{g.StrideH} b{g.N}";

    private static bool IsPointwise(ConvGeometry g) =>
        g.R == 1 && g.S == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0;

    /// <summary>Images per chunk: as many as fit ColLimitFloats, shared out evenly (8 images under a
    /// limit of 7 run as 4 + 4, not 7 + 1). With implicit columns no im2col matrix is stored, so only
    /// the (K, n*PQ) output/gradient workspace counts.</summary>
    private static int ImagesPerChunk(ConvGeometry g, bool implicitColumns = false)
    {
        long perImage = implicitColumns ? 0 : (long)g.Crs * g.P * g.Q;
        long perImageOut = (long)g.K * g.P * g.Q;
        if (perImage > int.MaxValue || perImageOut > int.MaxValue)
            throw new NativeCnnException($"Conv2d: one image unfolds to {perImage} values (C*R*S*P*Q), more than the CPU backend's limit of {int.MaxValue}; use a smaller input or kernel");
        int n = Math.Max(1, g.N);
        long most = Math.Clamp(ColLimitFloats / Math.Max(1, Math.Max(perImage, perImageOut)), 1, n);
        int chunks = (int)((n + most - 1) / most);
        return (n + chunks - 1) / chunks;
    }

    // ---- unfolding ------------------------------------------------------------------------

    /// <summary>col (CRS, cnt*PQ) = the receptive fields of images n0..n0+cnt of x (zeros in the padding).
    /// Row (c, kr, ks), column (i, p, q) holds x[n0+i, c, p*sh - ph + kr*dh, q*sw - pw + ks*dw].
    /// Parallel over rows: each row has one writer.</summary>
    internal static void Im2Col(float[] x, int n0, int cnt, float[] col, ConvGeometry g)
    {
        using var _ = Instance.Time("im2col");
        int P = g.P, Q = g.Q, pq = P * Q, H = g.H, W = g.W, R = g.R, S = g.S, ld = cnt * pq;
        bool shifted = IsShiftedCopy(g);
        For(g.Crs, Math.Max(1, ParallelThreshold / Math.Max(1, ld)), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int c = r / (R * S), kr = r / S % R, ks = r % S;
                int iw0 = ks * g.DilationW - g.PadW, ihOff = kr * g.DilationH - g.PadH;
                var (qlo, qhi) = ValidRange(iw0, g.StrideW, W, Q);
                for (int i = 0; i < cnt; i++)
                {
                    int plane = ((n0 + i) * g.C + c) * H * W;
                    var block = col.AsSpan(r * ld + i * pq, pq);
                    if (shifted) { ShiftedCopy(x.AsSpan(plane, H * W), block, ihOff, iw0, P, Q, qlo, qhi); continue; }
                    for (int p = 0; p < P; p++)
                    {
                        int ih = p * g.StrideH + ihOff;
                        var d = block.Slice(p * Q, Q);
                        if ((uint)ih >= (uint)H || qlo >= qhi) { d.Clear(); continue; }
                        // the gather may write past qhi (up to the block's end): row p + 1 and the
                        // zeroing below overwrite that, so rows go in order and the padding last
                        GatherRow(x, plane + ih * W + qlo * g.StrideW + iw0, g.StrideW, block[(p * Q + qlo)..], qhi - qlo);
                        for (int t = 0; t < qlo; t++) d[t] = 0;      // one or two floats: no call
                        for (int t = qhi; t < Q; t++) d[t] = 0;
                    }
                }
            }
        });
    }

    /// <summary>gx[n0..n0+cnt) = the sum, over every receptive field that saw each input pixel, of
    /// gcol (CRS, cnt*PQ). gcol is clobbered (its padding entries are zeroed). Parallel over
    /// (image, channel) planes: each plane has one writer.</summary>
    internal static void Col2Im(float[] gcol, int n0, int cnt, float[] gx, ConvGeometry g)
    {
        using var _ = Instance.Time("col2im");
        int P = g.P, Q = g.Q, pq = P * Q, H = g.H, W = g.W, R = g.R, S = g.S, ld = cnt * pq;
        bool shifted = IsShiftedCopy(g);
        For(cnt * g.C, Math.Max(1, ParallelThreshold / Math.Max(1, R * S * pq)), (a0, a1) =>
        {
            for (int a = a0; a < a1; a++)
            {
                int i = a / g.C, c = a % g.C;
                int plane = ((n0 + i) * g.C + c) * H * W, planeEnd = plane + H * W;
                gx.AsSpan(plane, H * W).Clear();
                for (int kr = 0; kr < R; kr++)
                for (int ks = 0; ks < S; ks++)
                {
                    int r = (c * R + kr) * S + ks;
                    int iw0 = ks * g.DilationW - g.PadW, ihOff = kr * g.DilationH - g.PadH;
                    var (qlo, qhi) = ValidRange(iw0, g.StrideW, W, Q);
                    if (qlo >= qhi) continue;
                    int src = r * ld + i * pq;
                    if (shifted) { ShiftedAdd(gcol.AsSpan(src, pq), gx.AsSpan(plane, H * W), ihOff, iw0, P, Q, qlo, qhi); continue; }
                    for (int p = 0; p < P; p++, src += Q)
                    {
                        int ih = p * g.StrideH + ihOff;
                        if ((uint)ih >= (uint)H) continue;
                        ScatterRow(gcol, src + qlo, qhi - qlo, gx, plane + ih * W + qlo * g.StrideW + iw0, g.StrideW, planeEnd);
                    }
                }
            }
        });
    }

    /// <summary>Stride 1 with as many output as input columns (the usual "same" padding): output
    /// (p, q) of one kernel tap reads input pixel (p, q) + a constant, so a whole plane moves in one
    /// block and only the padding columns need fixing (per-row copies of ~Q floats cost more in calls
    /// than in bytes).</summary>
    private static bool IsShiftedCopy(ConvGeometry g) => g.StrideH == 1 && g.StrideW == 1 && g.Q == g.W;

    /// <summary>Output rows p with input row p + ihOff inside [0, H).</summary>
    private static (int Lo, int Hi) ValidRows(int ihOff, int H, int P) =>
        (Math.Clamp(-ihOff, 0, P), Math.Clamp(H - ihOff, 0, P));

    /// <summary>block (P, Q) = plane shifted by (ihOff, iw0), zero where that falls outside (Q == W).
    /// One block copy carries the valid rows; the columns that wrapped into a neighbouring row
    /// (q outside [qlo, qhi)) are then zeroed, as are the rows outside the plane.</summary>
    private static void ShiftedCopy(ReadOnlySpan<float> plane, Span<float> block, int ihOff, int iw0, int P, int Q, int qlo, int qhi)
    {
        var (plo, phi) = ValidRows(ihOff, plane.Length / Q, P);
        if (plo >= phi || qlo >= qhi) { block.Clear(); return; }
        if (plo > 0) block[..(plo * Q)].Clear();
        if (phi < P) block[(phi * Q)..].Clear();
        int off = ihOff * Q + iw0;
        // clip the copy to the plane: what is cut off lies in wrapped columns, zeroed below
        int a = Math.Max(plo * Q, -off), e = Math.Min(phi * Q, plane.Length - off);
        if (a < e) plane.Slice(a + off, e - a).CopyTo(block[a..e]);
        ZeroWrapped(block, plo, phi, Q, qlo, qhi);
    }

    /// <summary>plane += block shifted back by (ihOff, iw0) (Q == W); the inverse of ShiftedCopy.
    /// Zeroes block's wrapped columns first, so one block add moves only real contributions.</summary>
    private static void ShiftedAdd(Span<float> block, Span<float> plane, int ihOff, int iw0, int P, int Q, int qlo, int qhi)
    {
        var (plo, phi) = ValidRows(ihOff, plane.Length / Q, P);
        if (plo >= phi) return;
        ZeroWrapped(block, plo, phi, Q, qlo, qhi);
        int off = ihOff * Q + iw0;
        int a = Math.Max(plo * Q, -off), e = Math.Min(phi * Q, plane.Length - off);
        if (a < e) AddInto(plane.Slice(a + off, e - a), block[a..e]);
    }

    /// <summary>Zeroes columns outside [qlo, qhi) of rows [plo, phi): usually one or two floats a
    /// row, so plain stores beat span calls.</summary>
    private static void ZeroWrapped(Span<float> block, int plo, int phi, int Q, int qlo, int qhi)
    {
        if (qlo == 0 && qhi == Q) return;
        for (int p = plo; p < phi; p++)
        {
            int o = p * Q;
            for (int q = 0; q < qlo; q++) block[o + q] = 0;
            for (int q = qhi; q < Q; q++) block[o + q] = 0;
        }
    }

    /// <summary>The output columns q in [lo, hi) whose input column q*stride + iw0 lies inside [0, W).</summary>
    private static (int Lo, int Hi) ValidRange(int iw0, int stride, int W, int Q)
    {
        int lo = iw0 >= 0 ? 0 : (-iw0 + stride - 1) / stride;
        int hi = W - 1 - iw0 < 0 ? 0 : Math.Min(Q, (W - 1 - iw0) / stride + 1);
        return (Math.Min(lo, Q), hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInto(Span<float> dst, ReadOnlySpan<float> src)
    {
        int j = 0, n = dst.Length;
        ref float d = ref MemoryMarshal.GetReference(dst);
        ref float s = ref MemoryMarshal.GetReference(src);
        if (CpuInfo.Use512)
            for (; j <= n - 16; j += 16)
                (Vector512.LoadUnsafe(ref d, (nuint)j) + Vector512.LoadUnsafe(ref s, (nuint)j)).StoreUnsafe(ref d, (nuint)j);
        if (CpuInfo.Use256)
            for (; j <= n - 8; j += 8)
                (Vector256.LoadUnsafe(ref d, (nuint)j) + Vector256.LoadUnsafe(ref s, (nuint)j)).StoreUnsafe(ref d, (nuint)j);
        if (Vector128.IsHardwareAccelerated)
            for (; j <= n - 4; j += 4)
                (Vector128.LoadUnsafe(ref d, (nuint)j) + Vector128.LoadUnsafe(ref s, (nuint)j)).StoreUnsafe(ref d, (nuint)j);
        for (; j < n; j++) dst[j] += src[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScalar(Span<float> dst, float v)
    {
        int j = 0, n = dst.Length;
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (CpuInfo.Use512)
        {
            var vv = Vector512.Create(v);
            for (; j <= n - 16; j += 16) (Vector512.LoadUnsafe(ref d, (nuint)j) + vv).StoreUnsafe(ref d, (nuint)j);
        }
        for (; j < n; j++) dst[j] += v;
    }

    // ---- layout moves and bias ------------------------------------------------------------

    /// <summary>Between NCHW blocks t[(n0+i), k, :] and the GEMM layout m[k, i*PQ .. (i+1)*PQ) for
    /// cnt images: toNchw copies m -> t (adding bias[k] if given), otherwise t -> m.</summary>
    internal static void SwapImageAndChannel(float[] from, float[] to, int n0, int cnt, int K, int pq, bool toNchw, float[]? bias)
    {
        using var _ = Instance.Time("swap_image_channel");
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
        using var _t = Time("scratch_alloc");
        // round up to 1 MB so slightly larger requests later reuse this one
        int length = (int)Math.Min(int.MaxValue, (floats + (1 << 18) - 1) >> 18 << 18);
        return new CpuStorage(this, DType.Float32, GC.AllocateUninitializedArray<float>(length), length);
    }

    internal void ReturnScratch(CpuStorage s)
    {
        lock (_scratch) _scratch.Add(s);
    }
}
