// Direct weight gradient on the CPU (stride 1 and 2): gW^T (CRS, K) = col (CRS, PQ) * gy^T (PQ, K),
// summed over the images, without unfolding col. Row (c, r, s) of col, read along the pixels of one
// output row, is a contiguous run of the zero-padded input plane c shifted by (r*dh, s*dw) (stride 2:
// of one of its four stride-2 phase planes; InputPlanes). The micro-kernel broadcasts its MR rows'
// values straight from there (MR offsets from one running pointer) and multiplies them by gy^T,
// packed once per pass into NR-column panels that every row panel reuses. Posed this way round, the
// GEMM's long m (C*R*S) needs no packing at all and its short n (K) is the cheap side (the
// implicit-im2col GEMM, CpuConv.Implicit.cs, packs col^T for every pass of K's row panels: 128 flops
// per packed float on a 64-channel layer). Images of fewer than KC pixels go several per pass.
// Images run in a fixed number of groups, each on one thread into its own partial gW^T, summed in
// group order and transposed into gW: the result does not depend on which thread ran which group.
// Applies: stride 1 or 2, any padding and dilation, a vector CPU path, C*R*S >= 64 (few-channel
// layers keep their own kernels) and K <= 128: measured single-thread (conv-shapes, Zen 4) it runs
// at 97-106 GFLOP/s against the GEMM's 75-95 for K = 64 and 128 (resnet18 layers 1-2, mnist conv4),
// but at 48-93 against 87-101 for K = 256 and 512 with 8- and 4-pixel rows (resnet18 layers 3-4),
// where the partial gW^T per image group is megabytes: K > 128 goes by rows of gW^T instead
// (CpuConv.DirectWeightRows.cs) where that measured faster, else through the GEMM.
// Must hold: gW is fully written ("="); the kernels read only inside the padded image or its phase
// planes (stride 1: pixel (h, w) of tap (r, s) reads row h + r*dh, column w + s*dw < Wp; stride 2:
// row h + floor(r*dh/2) < ceil(Hp/2), column w + floor(s*dw/2) < ceil(Wp/2)).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether the direct weight-gradient kernels run this convolution on the current path.</summary>
    internal static bool DirectWeightApplies(ConvGeometry g) => DirectWeightApplies(g, CpuGemm.ForPath(CpuInfo.Path));

    private static bool DirectWeightApplies(ConvGeometry g, GemmKernel kernel)
    {
        if (!DirectStrideApplies(g) || g.Crs < 64 || DirectVector(kernel) == 0) return false;
        // K > 128 goes by rows (CpuConv.DirectWeightRows.cs), which measured faster than the GEMM on rows of
        // 8+ pixels (conv3x3_256to256 on Zen 4, one thread: 106 against 104 GFLOP/s with the 512-bit kernel,
        // 107 against 96 with the 6x16 one); 4-pixel rows (layer4) are too short for the kernel's loop (78
        // against 101)
        if (DirectWeightByRows(g) && g.Q < 8) return false;
        // by rows, every image's padded planes and packed gy^T are held at once
        long images = DirectWeightByRows(g) ? Math.Max(1, g.N) : 1;
        return PaddedImageFloats(g) * images <= int.MaxValue / 2 && (long)g.P * g.Q * (g.K + 32) * images <= int.MaxValue / 2;
    }

    /// <summary>gw (K, C, R, S) = sum over images of gy[n] (K, PQ) * col[n]^T.</summary>
    private void DirectBackwardWeight(float[] x, float[] gy, float[] gw, ConvGeometry g, GemmKernel kernel)
    {
        if (DirectWeightByRows(g)) { DirectBackwardWeightByRows(x, gy, gw, g, kernel); return; }   // CpuConv.DirectWeightRows.cs
        using var _ = Time("direct_weight");
        var (mr, nr) = kernel == GemmKernel.Vector512 ? (8, 32) : (6, 16);
        int crs = g.Crs, K = g.K, size = crs * K;
        int groups = Math.Max(1, Math.Min(g.N, 2 * CpuParallel.ThreadsHere));
        var partial = RentScratch((long)groups * size);
        float[] parts = partial.F32;
        var layout = InputPlanes.Of(g);
        try
        {
            int perCall = DirectWeightImagesPerCall(g, layout.PlaneSize);
            For(groups, 1, (g0, g1) =>
            {
                var buffers = DirectBuffers.ForThisThread();
                for (int grp = g0; grp < g1; grp++)
                {
                    int n0 = (int)((long)g.N * grp / groups), n1 = (int)((long)g.N * (grp + 1) / groups);
                    for (int n = n0; n < n1; n += perCall)
                    {
                        int count = Math.Min(perCall, n1 - n);
                        float[] planes = PadImages(x, n, count, g, layout, buffers);
                        float[] packed = PackGradientColumns(gy, n, count, g, nr, buffers);
                        DirectWeightImages(kernel, mr, nr, planes, count, packed, layout, parts, grp * size, g, accumulate: n > n0);
                    }
                }
            });
            SumPartsTransposed(parts, groups, crs, K, gw);
        }
        finally { ReturnScratch(partial); }
    }

    /// <summary>Output rows per depth block of one image: about KC pixels, whole rows.</summary>
    private static int DirectWeightRows(ConvGeometry g) => Math.Clamp(CpuGemm.KC / g.Q, 1, g.P);

    /// <summary>Images per kernel pass: images of fewer than KC pixels go several at a time, so each
    /// tile of gW^T is loaded and stored once per KC or more pixels, not once per image (as many as
    /// one buffer of their padded planes holds).</summary>
    private static int DirectWeightImagesPerCall(ConvGeometry g, int planeSize) =>
        Math.Clamp(CpuGemm.KC / (g.P * g.Q), 1, Math.Max(1, (Array.MaxLength / 2) / planeSize));

    /// <summary>gy[n .. n+count)^T packed for the kernels. Depth blocks: with one image, runs of whole
    /// output rows (DirectWeightRows); with several, all their pixels in one block (image after
    /// image). Within a block of len pixels, panel j of NR output channels holds
    /// b[p * NR + kk] = gy[image, j*NR + kk, pixel p] (zeros past K); blocks follow each other.</summary>
    private static unsafe float[] PackGradientColumns(float[] gy, int n, int count, ConvGeometry g, int nr, DirectBuffers buffers)
    {
        int pq = g.P * g.Q, K = g.K, panels = (K + nr - 1) / nr;
        long size = (long)count * pq * panels * nr;
        if (buffers.Gradient.Length < size + 8) buffers.Gradient = GC.AllocateUninitializedArray<float>((int)size + 8, pinned: true);
        fixed (float* ds = buffers.Gradient) PackGradientColumns(gy, n, count, g, nr, ds);
        return buffers.Gradient;
    }

    /// <summary>As above, into <paramref name="ds"/> (count * PQ * ceil(K / NR) * NR floats).</summary>
    private static unsafe void PackGradientColumns(float[] gy, int n, int count, ConvGeometry g, int nr, float* ds)
    {
        int pq = g.P * g.Q, K = g.K, panels = (K + nr - 1) / nr;
        int blockPixels = count == 1 ? DirectWeightRows(g) * g.Q : count * pq;
        fixed (float* gs = gy)
        {
            for (int i = 0; i < count; i++)
            {
                float* image = gs + (long)(n + i) * K * pq;
                for (int p0 = 0; p0 < pq; p0 += blockPixels)
                {
                    int len = Math.Min(blockPixels, pq - p0), blockLen = count == 1 ? len : blockPixels;
                    // this image's run starts at depth i*pq of the (single, several-image) block
                    long blockStart = count == 1 ? (long)p0 * panels * nr : 0;
                    int depth0 = count == 1 ? 0 : i * pq;
                    for (int j = 0; j < panels; j++)
                    {
                        float* d = ds + blockStart + (long)j * blockLen * nr + (long)depth0 * nr;
                        int k0 = j * nr, kcount = Math.Min(nr, K - k0);
                        int done = 0;
                        if (kcount == nr && Avx.IsSupported)
                        {
                            // 8 x 8 transposes: 8 channels' runs of 8 pixels become 8 pixels' rows of 8 channels
                            done = len & ~7;
                            for (int kb = 0; kb < nr; kb += 8)
                                for (int p = 0; p < done; p += 8)
                                    CpuGemm.Transpose8x8(image + (long)(k0 + kb) * pq + p0 + p, pq, d + p * nr + kb, nr);
                        }
                        for (int p = done; p < len; p++)
                            for (int kk = 0; kk < nr; kk++)
                                d[p * nr + kk] = kk < kcount ? image[(long)(k0 + kk) * pq + p0 + p] : 0f;
                    }
                }
            }
        }
    }

    /// <summary>Images' contribution to a group's partial gW^T (CRS rows, K columns, row-major at
    /// <paramref name="offset"/>): "=" for the group's first pass, "+=" after.</summary>
    private static unsafe void DirectWeightImages(GemmKernel kernel, int mr, int nr, float[] planes, int count, float[] packed,
                                                  InputPlanes layout, float[] parts, int offset, ConvGeometry g, bool accumulate)
    {
        int crs = g.Crs, K = g.K, Q = g.Q, wp = layout.Wp, pq = g.P * Q;
        int planeSize = layout.PlaneSize;
        int[] offsets = layout.Offsets;
        int kPanels = (K + nr - 1) / nr, blockRows = count == 1 ? DirectWeightRows(g) : g.P;
        int* rowOffsets = stackalloc int[8];
        float* scratch = stackalloc float[8 * 32];
        fixed (float* ps = planes, bs = packed, cs = parts)
        fixed (int* os = offsets)
        {
            float* c0 = cs + offset;
            for (int h0 = 0; h0 < g.P; h0 += blockRows)
            {
                int rows = Math.Min(blockRows, g.P - h0), p0 = h0 * Q, len = count * rows * Q;
                bool add = accumulate || h0 > 0;
                float* x = ps + (long)h0 * wp;
                for (int i = 0; i * mr < crs; i++)
                {
                    int valid = Math.Min(mr, crs - i * mr);
                    // rows past C*R*S read row i*mr's data (inside the image); their results are dropped
                    for (int m = 0; m < mr; m++) rowOffsets[m] = os[i * mr + (m < valid ? m : 0)];
                    for (int j = 0; j < kPanels; j++)
                    {
                        int cols = Math.Min(nr, K - j * nr);
                        float* b = bs + (long)p0 * kPanels * nr + (long)j * len * nr;
                        float* c = c0 + (long)i * mr * K + j * nr;
                        if (valid == mr && cols == nr)
                            DirectWeightKernel(kernel, count, planeSize, rows, Q, wp, x, rowOffsets, b, c, K, add);
                        else
                        {
                            DirectWeightKernel(kernel, count, planeSize, rows, Q, wp, x, rowOffsets, b, scratch, nr, false);
                            for (int r = 0; r < valid; r++)
                                for (int t = 0; t < cols; t++)
                                    c[(long)r * K + t] = add ? c[(long)r * K + t] + scratch[r * nr + t] : scratch[r * nr + t];
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void DirectWeightKernel(GemmKernel kernel, int images, int planeSize, int rows, int q, int wp, float* x,
                                                  int* o, float* b, float* c, int ldc, bool accumulate)
    {
        if (kernel == GemmKernel.Vector512) DirectWeight8x32(images, planeSize, rows, q, wp, x, o, b, c, ldc, accumulate);
        else DirectWeight6x16(images, planeSize, rows, q, wp, x, o, b, c, ldc, accumulate);
    }

    /// <summary>c[8 x 32] (+)= A * B over images x rows x q pixels: A's row m at pixel (h, w) of image i
    /// is x[i*planeSize + h*wp + w + o[m]] (broadcast), B's row is the next 32 packed floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectWeight8x32(int images, int planeSize, int rows, int q, int wp, float* image, int* o, float* b,
                                                float* c, int ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        // native-width offsets and a walking pixel pointer: the broadcasts address [xp + 4 * o] directly
        // (with int offsets the JIT sign-extends each one and recomputes xp every step)
        nint o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5], o6 = o[6], o7 = o[7];
        for (int i = 0; i < images; i++, image += planeSize)
        for (int h = 0; h < rows; h++)
            for (float* xp = image + (long)h * wp, end = xp + q; xp < end; xp++)
            {
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + 16);
                b += 32;
                Vector512<float> v;
                v = Vector512.Create(xp[o0]); c00 = Vector512.FusedMultiplyAdd(v, b0, c00); c01 = Vector512.FusedMultiplyAdd(v, b1, c01);
                v = Vector512.Create(xp[o1]); c10 = Vector512.FusedMultiplyAdd(v, b0, c10); c11 = Vector512.FusedMultiplyAdd(v, b1, c11);
                v = Vector512.Create(xp[o2]); c20 = Vector512.FusedMultiplyAdd(v, b0, c20); c21 = Vector512.FusedMultiplyAdd(v, b1, c21);
                v = Vector512.Create(xp[o3]); c30 = Vector512.FusedMultiplyAdd(v, b0, c30); c31 = Vector512.FusedMultiplyAdd(v, b1, c31);
                v = Vector512.Create(xp[o4]); c40 = Vector512.FusedMultiplyAdd(v, b0, c40); c41 = Vector512.FusedMultiplyAdd(v, b1, c41);
                v = Vector512.Create(xp[o5]); c50 = Vector512.FusedMultiplyAdd(v, b0, c50); c51 = Vector512.FusedMultiplyAdd(v, b1, c51);
                v = Vector512.Create(xp[o6]); c60 = Vector512.FusedMultiplyAdd(v, b0, c60); c61 = Vector512.FusedMultiplyAdd(v, b1, c61);
                v = Vector512.Create(xp[o7]); c70 = Vector512.FusedMultiplyAdd(v, b0, c70); c71 = Vector512.FusedMultiplyAdd(v, b1, c71);
            }
        Store512(c, c00, c01, accumulate); c += ldc;
        Store512(c, c10, c11, accumulate); c += ldc;
        Store512(c, c20, c21, accumulate); c += ldc;
        Store512(c, c30, c31, accumulate); c += ldc;
        Store512(c, c40, c41, accumulate); c += ldc;
        Store512(c, c50, c51, accumulate); c += ldc;
        Store512(c, c60, c61, accumulate); c += ldc;
        Store512(c, c70, c71, accumulate);
    }

    /// <summary>c[6 x 16] (+)= A * B as DirectWeight8x32, in 256-bit vectors (12 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void DirectWeight6x16(int images, int planeSize, int rows, int q, int wp, float* image, int* o, float* b,
                                                float* c, int ldc, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        nint o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5];
        for (int i = 0; i < images; i++, image += planeSize)
        for (int h = 0; h < rows; h++)
            for (float* xp = image + (long)h * wp, end = xp + q; xp < end; xp++)
            {
                var b0 = Vector256.Load(b);
                var b1 = Vector256.Load(b + 8);
                b += 16;
                Vector256<float> v;
                v = Vector256.Create(xp[o0]); c00 = Vector256.FusedMultiplyAdd(v, b0, c00); c01 = Vector256.FusedMultiplyAdd(v, b1, c01);
                v = Vector256.Create(xp[o1]); c10 = Vector256.FusedMultiplyAdd(v, b0, c10); c11 = Vector256.FusedMultiplyAdd(v, b1, c11);
                v = Vector256.Create(xp[o2]); c20 = Vector256.FusedMultiplyAdd(v, b0, c20); c21 = Vector256.FusedMultiplyAdd(v, b1, c21);
                v = Vector256.Create(xp[o3]); c30 = Vector256.FusedMultiplyAdd(v, b0, c30); c31 = Vector256.FusedMultiplyAdd(v, b1, c31);
                v = Vector256.Create(xp[o4]); c40 = Vector256.FusedMultiplyAdd(v, b0, c40); c41 = Vector256.FusedMultiplyAdd(v, b1, c41);
                v = Vector256.Create(xp[o5]); c50 = Vector256.FusedMultiplyAdd(v, b0, c50); c51 = Vector256.FusedMultiplyAdd(v, b1, c51);
            }
        Store256(c, c00, c01, accumulate); c += ldc;
        Store256(c, c10, c11, accumulate); c += ldc;
        Store256(c, c20, c21, accumulate); c += ldc;
        Store256(c, c30, c31, accumulate); c += ldc;
        Store256(c, c40, c41, accumulate); c += ldc;
        Store256(c, c50, c51, accumulate);
    }

    /// <summary>gw[k, i] = sum over groups of parts[group][i, k] (group order), over the cores.</summary>
    private static unsafe void SumPartsTransposed(float[] parts, int groups, int crs, int K, float[] gw)
    {
        int size = crs * K;
        For(crs, Math.Max(1, ParallelThreshold / Math.Max(1, K * groups)), (i0, i1) =>
        {
            fixed (float* p = parts, d = gw)
                for (int i = i0; i < i1; i++)
                    for (int k = 0; k < K; k++)
                    {
                        float sum = p[(long)i * K + k];
                        for (int grp = 1; grp < groups; grp++) sum += p[(long)grp * size + (long)i * K + k];
                        d[(long)k * crs + i] = sum;
                    }
        });
    }
}
