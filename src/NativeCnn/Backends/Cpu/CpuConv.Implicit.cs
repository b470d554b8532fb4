// Convolution on the CPU without a stored im2col matrix (the default; CpuBackend.Conv.cs keeps the
// stored-im2col path as the general fallback). The GEMMs read the unfolded input through
// ConvColumns (CpuConv.Columns.cs), which the GEMM packs straight into its B panels:
//   forward          y'  (K, nPQ) = W (K, CRS) * col                 then y' -> y (N,K,P,Q) (+ bias)
//   backward-weight  gW  (K, CRS) = gy' (K, nPQ) * col^T
//   backward-data    stride 1: gx = conv(gy, W flipped and transposed, padding d*(R-1) - pad), the
//                    transposed convolution run as a forward one, so no col2im pass and no gcol
//                    matrix; other strides, padding past the kernel's reach and layers with so few
//                    input channels that the GEMM's MR-row tiles would be mostly padding use col2im.
// y'/gy' are y/gy with the image and channel axes swapped; a chunk of one image needs no swap.
// Must hold: every output is fully written ("="); the results equal the stored path's up to float
// rounding order (tests run both against float64 references).
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether convolutions unfold their input inside the GEMM's packing (true) or through a
    /// stored im2col matrix (the general path, kept for comparison and as the fallback). Settable by
    /// tests and benchmarks; NATIVECNN_CONV_IMPLICIT=0 turns it off.</summary>
    internal static bool ImplicitColumns { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_IMPLICIT") is not "0";

    /// <summary>op(B) = col (transB false) or col^T (true) of images n0..n0+cnt of x, where col is the
    /// (CRS, cnt*PQ) im2col matrix: C = alpha * op(A) * op(B) + beta * C through the packed GEMM.</summary>
    private void GemmWithColumns(bool transB, int m, int n, int k, float[] a, int aOffset, int lda, float[] x, int n0, int cnt,
                                 ConvGeometry g, float beta, float[] c, int cOffset, int ldc, bool phased)
    {
        using var _ = Time((m, n, k, transB), static s => $"gemm {s.m}x{s.n}x{s.k}{(s.transB ? " tB" : "")} implicit");
        CheckOperand("A", m, k, lda, aOffset, 0, a.Length, 1);
        CheckOperand("C", m, n, ldc, cOffset, 0, c.Length, 1);
        var columns = new ConvColumns(x, n0, cnt, g, phased);
        if (columns.Rows != (transB ? n : k) || columns.Cols != (transB ? k : n))
            throw new InvalidOperationException($"internal: im2col source is {columns.Rows} x {columns.Cols}, GEMM wants op(B) {k} x {n}");
        CpuGemm.Run(CpuGemm.ForPath(CpuInfo.Path), false, transB, m, n, k, 1f, a, aOffset, lda, null, 0, 0,
                    beta, c, cOffset, ldc, 1, 0, 0, 0, columns);
    }


    /// <summary>y = conv(x, w) (+ bias) through the implicit-im2col GEMM, in chunks of images.</summary>
    private void ForwardWithColumns(float[] x, float[] w, float[]? bias, float[] y, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        if (DirectOcApplies(g))
        {
            // rows that are not whole vectors: vectorised over output channels (CpuConv.DirectOc.cs)
            DirectOcForward(x, w, y, g, flipped: false);
            if (bias is not null) AddBias(y, bias, 0, g.N, K, pq);
            return;
        }
        if (DirectKernelFor(g, CpuGemm.ForPath(CpuInfo.Path)) is { } kernel)
        {
            // stride 1 with rows of whole vectors: no unfolding at all (CpuConv.Direct.cs)
            DirectForward(x, PackDirectWeights(w, g, flipTransposed: false, kernel), y, g, kernel);
            if (bias is not null) AddBias(y, bias, 0, g.N, K, pq);
            return;
        }
        if (pq >= PointwiseMinPixels) { ForwardPerImage(x, w, bias, y, g); return; }
        int nb = ImagesPerChunk(g, implicitColumns: true);
        var yt = nb > 1 ? RentScratch((long)K * nb * pq) : null;
        var phases = Phases(x, g);
        bool phased = phases is not null;
        if (phased) x = phases!.F32;
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += nb)
            {
                int cnt = Math.Min(nb, g.N - n0), cols = cnt * pq;
                if (cnt == 1)
                {
                    // one image: (K, PQ) is already its NCHW block
                    GemmWithColumns(false, K, cols, crs, w, 0, crs, x, n0, 1, g, 0f, y, n0 * K * pq, cols, phased);
                    if (bias is not null) AddBias(y, bias, n0, 1, K, pq);
                    continue;
                }
                GemmWithColumns(false, K, cols, crs, w, 0, crs, x, n0, cnt, g, 0f, yt!.F32, 0, cols, phased);
                SwapImageAndChannel(yt.F32, y, n0, cnt, K, pq, toNchw: true, bias);
            }
        }
        finally
        {
            if (yt is not null) ReturnScratch(yt);
            if (phases is not null) ReturnScratch(phases);
        }
    }

    /// <summary>Images of at least PointwiseMinPixels output pixels: one GEMM per image writes its
    /// (K, PQ) block of y in place, so no (K, n*PQ) workspace and no layout swap. Where the images
    /// share the cores evenly (ImagesShareCores) they run side by side, each GEMM on one thread: no
    /// fork and join per GEMM and no re-packing of the weights per extra block; otherwise (one image,
    /// or a count that would leave a core idle) one image at a time, each GEMM split over the cores.</summary>
    private void ForwardPerImage(float[] x, float[] w, float[]? bias, float[] y, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        var phases = Phases(x, g);
        bool phased = phases is not null;
        float[] src = phased ? phases!.F32 : x;
        try
        {
            if (ImagesShareCores(g.N) || 2.0 * K * pq * crs < CpuGemm.ParallelFlops)
                For(g.N, 1, (a0, a1) =>
                {
                    for (int n = a0; n < a1; n++) GemmWithColumns(false, K, pq, crs, w, 0, crs, src, n, 1, g, 0f, y, n * K * pq, pq, phased);
                });
            else
                for (int n = 0; n < g.N; n++) GemmWithColumns(false, K, pq, crs, w, 0, crs, src, n, 1, g, 0f, y, n * K * pq, pq, phased);
        }
        finally
        {
            if (phases is not null) ReturnScratch(phases);
        }
        if (bias is not null) AddBias(y, bias, 0, g.N, K, pq);
    }

    /// <summary>Whether <paramref name="images"/> per-image GEMMs, one per thread at a time, keep every
    /// core busy to the end: at least one image per core and either an even share each or enough
    /// images (4 per core) that the last one's wait is short. Per-image GEMMs side by side scale
    /// better than each GEMM split over the cores (measured: conv-shapes, benchmarks/results/cpu.md).</summary>
    internal static bool ImagesShareCores(int images)
    {
        int threads = CpuParallel.ThreadsHere;
        return threads > 1 && images >= threads && (images % threads == 0 || images >= 4 * threads);
    }

    /// <summary>gw = sum over images of gy' * col^T (bias gradient done by the caller).</summary>
    private void BackwardWeightWithColumns(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs;
        var kernel = CpuGemm.ForPath(CpuInfo.Path);
        if (DirectWeightApplies(g, kernel)) { DirectBackwardWeight(x, gy, gw, g, kernel); return; }   // CpuConv.DirectWeight.cs
        if (pq >= PointwiseMinPixels && ImagesShareCores(g.N)) { BackwardWeightPerImage(x, gy, gw, g); return; }
        int nb = ImagesPerChunk(g, implicitColumns: true);
        var gyt = nb > 1 ? RentScratch((long)K * nb * pq) : null;
        var phases = Phases(x, g);
        bool phased = phases is not null;
        if (phased) x = phases!.F32;
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += nb)
            {
                int cnt = Math.Min(nb, g.N - n0), cols = cnt * pq;
                float beta = n0 == 0 ? 0f : 1f;
                if (cnt == 1)
                {
                    GemmWithColumns(true, K, crs, cols, gy, n0 * K * pq, cols, x, n0, 1, g, beta, gw, 0, crs, phased);
                    continue;
                }
                SwapImageAndChannel(gy, gyt!.F32, n0, cnt, K, pq, toNchw: false, null);
                GemmWithColumns(true, K, crs, cols, gyt.F32, 0, cols, x, n0, cnt, g, beta, gw, 0, crs, phased);
            }
        }
        finally
        {
            if (gyt is not null) ReturnScratch(gyt);
            if (phases is not null) ReturnScratch(phases);
        }
    }

    /// <summary>Images of at least PointwiseMinPixels output pixels, shared over the cores: the images
    /// are cut into a fixed number of groups (2 per thread), each group's per-image GEMMs accumulate
    /// gy[n] (K, PQ, in place: no swap) * col[n]^T into the group's own partial gradient on one
    /// thread, and the partials are summed in group order, so the result does not depend on which
    /// thread ran which group.</summary>
    private void BackwardWeightPerImage(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        int pq = g.P * g.Q, K = g.K, crs = g.Crs, size = K * crs;
        int groups = Math.Min(g.N, 2 * CpuParallel.ThreadsHere);
        var partial = RentScratch((long)groups * size);
        var phases = Phases(x, g);
        bool phased = phases is not null;
        float[] src = phased ? phases!.F32 : x, parts = partial.F32;
        try
        {
            For(groups, 1, (g0, g1) =>
            {
                for (int grp = g0; grp < g1; grp++)
                {
                    int n0 = (int)((long)g.N * grp / groups), n1 = (int)((long)g.N * (grp + 1) / groups);
                    for (int n = n0; n < n1; n++)
                        GemmWithColumns(true, K, crs, pq, gy, n * K * pq, pq, src, n, 1, g, n == n0 ? 0f : 1f,
                                        parts, grp * size, crs, phased);
                }
            });
            SumParts(parts, groups, size, gw);
        }
        finally
        {
            ReturnScratch(partial);
            if (phases is not null) ReturnScratch(phases);
        }
    }

    /// <summary>dst[i] = parts[0*size + i] + parts[1*size + i] + ... (in that order), over the cores.</summary>
    private static unsafe void SumParts(float[] parts, int count, int size, float[] dst)
    {
        For(size, 1 << 14, (i0, i1) =>
        {
            fixed (float* p = parts, d = dst)
            {
                int i = i0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 8 <= i1; i += 8)
                    {
                        var sum = Vector256.Load(p + i);
                        for (int c = 1; c < count; c++) sum += Vector256.Load(p + (long)c * size + i);
                        sum.Store(d + i);
                    }
                for (; i < i1; i++)
                {
                    float sum = p[i];
                    for (int c = 1; c < count; c++) sum += p[(long)c * size + i];
                    d[i] = sum;
                }
            }
        });
    }

    /// <summary>Stride 1: gx = the forward convolution of gy (K channels, P x Q) with
    /// wt[c, k, r, s] = w[k, c, R-1-r, S-1-s] and padding d*(R-1) - pad, which gives H x W again.
    /// False (nothing done) where that does not apply: implicit columns off, a stride above 1, or a
    /// padding past the kernel's reach (the transposed padding would be negative).</summary>
    private bool BackwardDataAsConvolution(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        if (!ImplicitColumns || g.StrideH != 1 || g.StrideW != 1) return false;
        int padH = g.DilationH * (g.R - 1) - g.PadH, padW = g.DilationW * (g.S - 1) - g.PadW;
        if (padH < 0 || padW < 0) return false;
        // The transposed GEMM has C rows where col2im's has C*R*S: with few input channels (mnist's
        // first layer: 1) most of its MR-row tiles would be padding, so col2im is cheaper there.
        int mr = CpuGemm.TileOf(CpuGemm.ForPath(CpuInfo.Path)).MR;
        if (TilePadding(g.C, mr) > 1.15 * TilePadding(g.Crs, mr)) return false;
        var t = new ConvGeometry(g.N, g.K, g.P, g.Q, g.C, g.R, g.S, 1, 1, padH, padW, g.DilationH, g.DilationW);
        if (t.P != g.H || t.Q != g.W)
            throw new InvalidOperationException($"internal: transposed convolution gives {t.P}x{t.Q}, input is {g.H}x{g.W}");
        if (DirectOcApplies(t)) { DirectOcForward(gy, w, gx, t, flipped: true); return true; }   // CpuConv.DirectOc.cs
        if (DirectKernelFor(t, CpuGemm.ForPath(CpuInfo.Path)) is { } kernel)
        {
            // the direct kernels read w flipped and transposed while packing it: no flipped copy
            DirectForward(gy, PackDirectWeights(w, g, flipTransposed: true, kernel), gx, t, kernel);
            return true;
        }
        int rs = g.R * g.S, C = g.C, K = g.K;
        var wt = RentScratch((long)K * C * rs);
        try
        {
            FlipAndTranspose(w, wt.F32, K, C, rs);
            ForwardWithColumns(gy, wt.F32, null, gx, t);
        }
        finally { ReturnScratch(wt); }
        return true;
    }

    /// <summary>d[c, k, i] = w[k, c, rs-1-i] ((r, s) -> (R-1-r, S-1-s)) in tiles of 64 input x 64
    /// output channels split over the cores: a tile reads 64 runs of 64*rs contiguous floats of w and
    /// writes 64 runs of 64*rs contiguous floats of d. (A loop over rs per channel pair cost 2.2 ms
    /// for a 512-channel layer's 9 MB of weights on a Zen 4 core: 3 cycles a float.)</summary>
    private static unsafe void FlipAndTranspose(float[] w, float[] d, int K, int C, int rs)
    {
        using var _ = Instance.Time("flip_weights");
        if ((long)K * C * rs > w.Length || (long)K * C * rs > d.Length)
            throw new InvalidOperationException($"internal: {K}x{C}x{rs} weights do not fit");
        const int Tile = 64;
        int cTiles = (C + Tile - 1) / Tile, kTiles = (K + Tile - 1) / Tile;
        For(cTiles * kTiles, Math.Max(1, ParallelThreshold / (Tile * Tile * rs)), (t0, t1) =>
        {
            fixed (float* ws = w, ds = d)
                for (int tile = t0; tile < t1; tile++)
                {
                    int c0 = tile / kTiles * Tile, c1 = Math.Min(C, c0 + Tile);
                    int k0 = tile % kTiles * Tile, k1 = Math.Min(K, k0 + Tile);
                    for (int k = k0; k < k1; k++)
                    {
                        float* src = ws + ((long)k * C + c0) * rs + rs - 1;
                        float* dst = ds + ((long)c0 * K + k) * rs;
                        long step = (long)K * rs;
                        if (rs == 9)
                            // 3x3, unrolled: the loop's overhead, not memory, made the copy cost 3 cycles a float
                            for (int c = c0; c < c1; c++, src += 9, dst += step)
                            {
                                dst[0] = src[0]; dst[1] = src[-1]; dst[2] = src[-2]; dst[3] = src[-3]; dst[4] = src[-4];
                                dst[5] = src[-5]; dst[6] = src[-6]; dst[7] = src[-7]; dst[8] = src[-8];
                            }
                        else
                            for (int c = c0; c < c1; c++, src += rs, dst += step)
                                for (int i = 0; i < rs; i++) dst[i] = src[-i];
                    }
                }
        });
    }

    /// <summary>x's stride-2 phase planes (CpuConv.Columns.cs) where they apply, else null.</summary>
    private CpuStorage? Phases(float[] x, ConvGeometry g)
    {
        if (!PhasesApply(g) || ConvColumns.GathersFor(g)) return null;
        var phases = RentScratch((long)g.N * g.C * 4 * PhaseHeight(g) * g.Q);
        Deinterleave2(x, phases.F32, g);
        return phases;
    }

    /// <summary>Rows a GEMM computes per useful row when m rows run in tiles of mr.</summary>
    private static double TilePadding(int m, int mr) => (double)((m + mr - 1) / mr * mr) / m;
}
