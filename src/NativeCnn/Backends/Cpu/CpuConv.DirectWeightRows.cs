// Direct weight gradient for layers with large weights (K > 128: resnet18 layers 3-4; C*R*S x K past
// half an L2: layer2), split over the cores by rows of gW^T instead of by images.
// CpuConv.DirectWeight.cs gives each image group its own partial gW^T and sums them: cheap for small
// weights, but for layer3's 590K weights that is four 2.4 MB partials written, read back and summed,
// which made the direct kernels lose to the GEMM there. Here every image is padded once and gy^T
// packed once (both shared, read-only), then each thread takes a chunk of row panels of gW^T (MR taps
// (c, r, s) each) and runs them, a group at a time, over every image, depth block after depth block,
// into its own buffer of those rows; then the group goes into gW (K, CRS) transposed, 8 x 8 at a time.
// No partials, no sum, and each weight's sum runs over the images in the same order whatever the
// threads do. The kernels, offsets and packing are CpuConv.DirectWeight.cs's; only the split and the
// store differ.
// Applies where DirectWeightByRows and DirectWeightApplies say (rows of 8+ pixels, either kernel).
// Must hold: gW is fully written (the first depth block stores "=", later ones add); the shared
// buffers are written before the row loop starts and only read in it (PadImage's zeros past an
// image land in the next one's left padding, zeros either way).
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Floats of packed gy^T per depth block (256 KB): one block stays in L2 while every row
    /// panel of a thread's chunk passes over it.</summary>
    private const int DirectWeightBlockFloats = 64 << 10;

    /// <summary>Whether the weight gradient goes by rows of gW^T (this file) rather than by image groups
    /// (CpuConv.DirectWeight.cs): where the groups' partial gW^T would be large. That is K > 128, or, on
    /// rows of 8+ pixels, a thread's two partials (2 x C*R*S x K floats) outgrowing its L2: conv3x3_128to128
    /// on Zen 4 (1 MB L2, 1.2 MB of partials) went 104 -> 109 GFLOP/s on one thread and 9.1-9.5 -> 8.4-8.8
    /// ms two-thread wall (10.5-11.2 -> 9.0-9.2 on the 256-bit path); smaller weights keep the groups
    /// (resnet18's 64 -> 128 downsample: 93 by groups against 84 by rows).</summary>
    private static bool DirectWeightByRows(ConvGeometry g) =>
        g.K > 128 || (g.Q >= 8 && 2L * g.Crs * g.K * sizeof(float) > CpuInfo.Current.L2Bytes);

    /// <summary>gw (K, C, R, S) = sum over images of gy[n] (K, PQ) * col[n]^T, rows of gW^T over the cores.</summary>
    private unsafe void DirectBackwardWeightByRows(float[] x, float[] gy, float[] gw, ConvGeometry g, GemmKernel kernel)
    {
        using var _ = Time("direct_weight_rows");
        var (mr, nr) = kernel == GemmKernel.Vector512 ? (8, 32) : (6, 16);
        var layout = InputPlanes.Of(g);
        int planeSize = layout.PlaneSize, N = g.N, pq = g.P * g.Q, kPanels = (g.K + nr - 1) / nr;
        long perImage = (long)pq * kPanels * nr;
        // images per depth block: as many as DirectWeightBlockFloats of packed gy^T hold (at least one)
        int perBlock = (int)Math.Clamp(DirectWeightBlockFloats / Math.Max(1, perImage), 1, N);
        int blocks = (N + perBlock - 1) / perBlock;
        // + 2 * PadW: PadImage may zero that far past an image (into the next one's left padding)
        var planes = RentScratch((long)N * planeSize + 2 * g.PadW + 32);
        var packed = RentScratch(N * perImage + 8);
        try
        {
            float[] ps = planes.F32, bs = packed.F32;
            For(N, 1, (n0, n1) =>
            {
                fixed (float* p = ps, b = bs)
                    for (int n = n0; n < n1; n++)
                    {
                        if (g.StrideH == 2) PhasePlanes(x, n, g, p + (long)n * planeSize);
                        else PadImage(x, n, g, p + (long)n * planeSize);
                        // one image's block unless several share one (their pixels then run on together)
                        if (n % perBlock == 0)
                            PackGradientColumns(gy, n, Math.Min(perBlock, N - n), g, nr, b + n * perImage);
                    }
            });
            int rowPanels = (g.Crs + mr - 1) / mr, K = g.K, crs = g.Crs;
            // a chunk's row panels go in groups whose rows of gW^T (group x MR x K floats) take no more
            // than a block of gy^T, so both stay in L2 while the group passes over every block (a whole
            // chunk's rows, as one thread gets, were 2.4 MB on layer3: 97 GFLOP/s on the 6x16 kernel
            // against 107 in groups, one Zen 4 thread); 6-row panels four at a time, so groups are whole
            // 8-row runs for the transposed store
            int groupPanels = Math.Max(1, DirectWeightBlockFloats / (mr * K));
            if (mr % 8 != 0) groupPanels = Math.Max(4, groupPanels & ~3);
            // shrinking chunks: the cores' last pieces are a few panels, not an eighth of the rows each
            ForGuided(rowPanels, mr % 8 == 0 ? 1 : 4, (i0, i1) =>
            {
                // the group's rows of gW^T gather in this thread's buffer (contiguous stores), then go into
                // gW as whole runs of rows, 8 x 8 at a time
                int most = Math.Min(i1 - i0, groupPanels) * mr;
                var buffer = DirectBuffers.ForThisThread();
                if (buffer.WeightRows.Length < (long)most * K) buffer.WeightRows = GC.AllocateUninitializedArray<float>(most * K, pinned: true);
                fixed (float* p = ps, b = bs, w = gw, t = buffer.WeightRows)
                    for (int g0 = i0; g0 < i1; g0 += groupPanels)
                    {
                        int g1 = Math.Min(i1, g0 + groupPanels);
                        for (int block = 0; block < blocks; block++)
                        {
                            int n = block * perBlock, count = Math.Min(perBlock, N - n);
                            DirectWeightRowPanels(kernel, mr, nr, p + (long)n * planeSize, count, b + n * perImage, layout, t, g,
                                                  g0, g1, accumulate: block > 0);
                        }
                        StoreTransposed(t, Math.Min((g1 - g0) * mr, crs - g0 * mr), K, w + g0 * mr, crs);
                    }
            });
        }
        finally
        {
            ReturnScratch(planes);
            ReturnScratch(packed);
        }
    }

    /// <summary>Row panels [i0, i1) of gW^T over images' planes (count of them, one after the other) and
    /// their packed gy^T, into <paramref name="rowsT"/> (row (i - i0) * MR + m, K columns): "=" unless
    /// accumulating.</summary>
    private static unsafe void DirectWeightRowPanels(GemmKernel kernel, int mr, int nr, float* planes, int count, float* packed,
                                                     InputPlanes layout, float* rowsT, ConvGeometry g, int i0, int i1, bool accumulate)
    {
        int crs = g.Crs, K = g.K, Q = g.Q, wp = layout.Wp;
        int kPanels = (K + nr - 1) / nr, blockRows = count == 1 ? DirectWeightRows(g) : g.P;
        int* rowOffsets = stackalloc int[8];
        float* tile = stackalloc float[8 * 32];
        fixed (int* os = layout.Offsets)
            for (int h0 = 0; h0 < g.P; h0 += blockRows)
            {
                int rows = Math.Min(blockRows, g.P - h0), p0 = h0 * Q, len = count * rows * Q;
                bool add = accumulate || h0 > 0;
                float* x = planes + (long)h0 * wp;
                for (int i = i0; i < i1; i++)
                {
                    int valid = Math.Min(mr, crs - i * mr);
                    // rows past C*R*S read row i*mr's data (inside the image); their results are dropped
                    for (int m = 0; m < mr; m++) rowOffsets[m] = os[i * mr + (m < valid ? m : 0)];
                    float* c0 = rowsT + (long)(i - i0) * mr * K;
                    for (int j = 0; j < kPanels; j++)
                    {
                        float* b = packed + (long)p0 * kPanels * nr + (long)j * len * nr;
                        int cols = Math.Min(nr, K - j * nr);
                        if (cols == nr)
                        {
                            DirectWeightKernel(kernel, count, layout.PlaneSize, rows, Q, wp, x, rowOffsets, b, c0 + j * nr, K, add);
                            continue;
                        }
                        DirectWeightKernel(kernel, count, layout.PlaneSize, rows, Q, wp, x, rowOffsets, b, tile, nr, false);
                        for (int r = 0; r < mr; r++)
                            for (int t = 0; t < cols; t++)
                            {
                                float* d = c0 + (long)r * K + j * nr + t;
                                *d = add ? *d + tile[r * nr + t] : tile[r * nr + t];
                            }
                    }
                }
            }
    }

    /// <summary>dst[k * ld + r] = rowsT[r * K + k] for r &lt; rows, k &lt; K: a thread's rows of gW^T into gW,
    /// 8 x 8 register transposes where whole, then the edges one by one.</summary>
    private static unsafe void StoreTransposed(float* rowsT, int rows, int K, float* dst, int ld)
    {
        int r8 = Avx.IsSupported ? rows & ~7 : 0, k8 = K & ~7;
        // along each row of gW first: its run of the chunk's columns is written whole, in order
        for (int k = 0; k < k8; k += 8)
            for (int r = 0; r < r8; r += 8)
                CpuGemm.Transpose8x8(rowsT + (long)r * K + k, K, dst + (long)k * ld + r, ld);
        for (int r = 0; r < rows; r++)
        {
            int kStart = r < r8 ? k8 : 0;
            for (int k = kStart; k < K; k++) dst[(long)k * ld + r] = rowsT[(long)r * K + k];
        }
    }
}
