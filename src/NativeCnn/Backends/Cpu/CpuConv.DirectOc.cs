// Direct convolution vectorised over output channels, for output planes the pixel-vectorised kernels
// (CpuConv.Direct.cs) cannot cut into whole vectors: rows of 8, 24, ... pixels on the 512-bit path
// (resnet18's 8x8 layer3), of 7 or 4 (mnist's conv4, resnet18's layer4) on either path. A tile is a run
// of consecutive output pixels in (image, p, q) order, which may span rows and, where a thread pads its
// images side by side, images (each pixel has its own offset into the zero-padded images, at stride 2
// too: a broadcast needs no contiguous run, so no phase planes are built; CpuConv.DirectInput.cs), by a
// panel of output channels:
// 8 pixels x 32 channels on the 512-bit path (16 FMAs per depth step, two 16-channel weight vectors,
// each pixel's input broadcast), 6 pixels x 16 channels on the 256-bit path (12 FMAs, the 16 vector
// registers of an AVX2 CPU). W^T is packed in channel panels (Wt[d * panel + kk], d = (c, r, s)); the
// whole depth runs in one call, so each tile is stored once, transposed (8x8 register transposes) into
// y, where a run's pixels are contiguous within an image. Backward-data at stride 1 is the transposed
// convolution of gy, with W flipped and transposed while packing (A'[c, (k, t)] = w[k, c, rs-1-t]); at
// stride 2 the same kernel runs per stride phase (CpuConv.PhaseOc.cs).
// Applies (DirectOcApplies): at most an eighth of one image's computed pixels past its end (the last
// run's tail, where the image runs alone) at stride 1, and at stride 2 up to 128 output channels (mnist's
// conv2 and conv3), else stride 2 with rows of whole runs; K a
// multiple of the panel, C*R*S of 8; on the 512-bit path where rows are not whole 16-pixel vectors, on
// the 256-bit path where rows are not whole 8-pixel ones. NATIVECNN_CONV_DIRECT_OC=0 turns it off.
// Measured on Zen 4 in benchmarks/results/cpu-zen4-direct.md and cpu-zen4-avx2.md (resnet18 layer3
// forward 102 -> 109 GFLOP/s against the 6x16 pixel kernel; mnist conv4 89 -> 107 against the GEMM).
// Where 512-bit FMAs run at full rate (Zen 5, Intel) not measured yet.
// Must hold: every output is fully written ("="); the kernels read only inside the padded planes
// (a run past the last image's end repeats its last pixel; those results are dropped).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether the output-channel kernels may run (NATIVECNN_CONV_DIRECT_OC=0 turns them off);
    /// settable by tests and benchmarks.</summary>
    internal static bool DirectOcConvolution { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_DIRECT_OC") is not "0";

    /// <summary>The tile of the output-channel kernel on a path: pixels per run, output channels per panel.</summary>
    private static (int Run, int Panel) OcTile(GemmKernel kernel) => kernel == GemmKernel.Vector512 ? (8, 32) : (6, 16);

    /// <summary>Whether the output-channel kernel runs this convolution (as a forward pass) on the current path.</summary>
    internal static bool DirectOcApplies(ConvGeometry g)
    {
        if (!DirectOcConvolution || !DirectStrideApplies(g)) return false;
        bool stride1 = g.StrideH == 1;
        var kernel = CpuGemm.ForPath(CpuInfo.Path);
        if (kernel is not (GemmKernel.Vector512 or GemmKernel.Vector256)) return false;
        var (run, panel) = OcTile(kernel);
        // rows of whole vectors keep the pixel-vectorised kernels (16 pixels at 512 bits, 8 at 256)
        if (g.Q % (kernel == GemmKernel.Vector512 ? 16 : 8) == 0) return false;
        // runs across rows with at most an eighth of the computed pixels wasted past the image's end
        // (mnist's 7x7 conv4: 49 of 56, 89 -> 95 GFLOP/s forward), at stride 2 where the layer has at most
        // 128 output channels (mnist's conv2 and conv3 against the implicit GEMM, Zen 4: 60-70 -> 83-98 and
        // 85-89 -> 95-103); with more, the GEMM shares its packing over more rows and keeps partial runs
        // (resnet18's 8 -> 4-pixel downsample, 512 channels: 99-103 against 92 on the 256-bit path), so only
        // rows of whole runs come here (resnet18's 16 -> 8: 88 -> 94 with phase planes, 108 read padded)
        long pq = (long)g.P * g.Q, runs = (pq + run - 1) / run;
        bool partialRuns = stride1 || g.K <= 128;
        if (partialRuns ? (runs * run - pq) * 8 > runs * run : g.Q % run != 0) return false;
        if (g.K % panel != 0 || g.Crs % 8 != 0) return false;
        return PaddedImageFloats(g) <= int.MaxValue / 2 && (long)g.Crs * g.K <= int.MaxValue / 2;
    }

    [ThreadStatic] private static float[]? t_ocWeights;

    /// <summary>y (N, K, P, Q) = the convolution of x with w (no bias). With <paramref name="flipped"/>,
    /// g is a backward-data pass's transposed geometry and w the layer's own (K' = g.C, C' = g.K)
    /// weights, read flipped and transposed.</summary>
    private unsafe void DirectOcForward(float[] x, float[] w, float[] y, ConvGeometry g, bool flipped)
    {
        using var _ = Time("direct_oc");
        var kernel = CpuGemm.ForPath(CpuInfo.Path);
        var (run, panel) = OcTile(kernel);
        int depth = g.Crs, K = g.K, blocks = K / panel, rs = g.R * g.S;
        var packed = t_ocWeights;
        if (packed is null || packed.Length < depth * K) t_ocWeights = packed = GC.AllocateUninitializedArray<float>(depth * K, pinned: true);
        using (Time("pack_weights"))
            ForGuided(blocks, 1, (b0, b1) =>
            {
                fixed (float* ws = w, ps = packed)
                    for (int ob = b0; ob < b1; ob++)
                    {
                        float* dst = ps + (long)ob * depth * panel;
                        if (flipped) PackFlippedOcPanel(ws, g.K, g.C, rs, ob * panel, panel, dst);   // the layer's C = g.K, its K = g.C
                        else PackOcPanel(ws + (long)ob * panel * depth, depth, panel, dst);
                    }
            });
        var layout = InputPlanes.PaddedOf(g);   // each pixel's input is broadcast: no phase planes at stride 2
        int pq = g.P * g.Q;
        int imageTiles = blocks * ((pq + run - 1) / run);
        if (ImagesShareCores(g.N) || CpuParallel.ThreadsHere == 1)
        {
            // work items (image, quarter of its tiles) in shrinking chunks, as DirectForward's. Whole images
            // go padded side by side in groups (at most 256 KB of planes, at least one image), whose pixels
            // the runs go over as one sequence, so only a group's last run is partial (mnist's 7x7 conv4: 56
            // computed for 49 pixels an image alone, 392 for 392 in groups of eight); a part of an image is
            // a range of its tiles
            int groupImages = Math.Max(1, (64 << 10) / layout.PlaneSize), parts = Math.Min(ImageParts, imageTiles);
            ForGuided(g.N * parts, 1, (j0, j1) =>
            {
                var buffers = DirectBuffers.ForThisThread();
                foreach (var (n, count, p0, p1) in ImagePartRuns(j0, j1, parts, groupImages))
                {
                    int t1 = count == 1 ? PartStart(p1, parts, imageTiles) : blocks * ((count * pq + run - 1) / run);
                    DirectOcTiles(kernel, PadImages(x, n, count, g, layout, buffers), layout, packed, y, n, count, g,
                                  PartStart(p0, parts, imageTiles), t1);
                }
            });
            return;
        }
        for (int n = 0; n < g.N; n++)
        {
            float[] plane = PadImages(x, n, 1, g, layout, DirectBuffers.ForThisThread());
            int image = n;
            For(imageTiles, 1, (t0, t1) => DirectOcTiles(kernel, plane, layout, packed, y, image, 1, g, t0, t1));
        }
    }

    /// <summary>Tiles [t0, t1) over images n .. n+count (padded one after the other in
    /// <paramref name="planes"/>), tile t = (channel panel, run of the images' pixels in order), each
    /// over the whole depth and stored transposed into y.</summary>
    private static unsafe void DirectOcTiles(GemmKernel kernel, float[] planes, InputPlanes layout, float[] packed, float[] y, int n,
                                             int count, ConvGeometry g, int t0, int t1)
    {
        var (run, panel) = OcTile(kernel);
        int depth = g.Crs, K = g.K, P = g.P, Q = g.Q, pq = P * Q, total = count * pq, runs = (total + run - 1) / run;
        int rowStep = layout.PixelRow, colStep = layout.PixelColumn, planeSize = layout.PlaneSize;
        float* tile = stackalloc float[8 * 32];   // run x panel, rows 6 and 7 unused at 256 bits
        float* t8 = stackalloc float[64];
        nint* px = stackalloc nint[8];
        fixed (float* pls = planes, ps = packed, ys = y)
        fixed (int* os = layout.Offsets)
        {
            for (int t = t0; t < t1; t++)
            {
                int ob = t / runs, pix0 = t % runs * run, cols = Math.Min(run, total - pix0);
                int image = pix0 / pq, first = pix0 - image * pq;
                // each pixel's offset into the planes; past the last image's end its last pixel again (dropped)
                for (int j = 0, i = image, p = first / Q, q = first % Q; j < run; j++)
                {
                    px[j] = (nint)i * planeSize + (nint)p * rowStep + (nint)q * colStep;
                    if (j + 1 < cols && ++q == Q) { q = 0; if (++p == P) { p = 0; i++; } }
                }
                float* w = ps + (long)ob * depth * panel;
                if (kernel == GemmKernel.Vector512) DirectOc8x32(depth, w, pls, os, px, tile);
                else DirectOc6x16(depth, w, pls, os, px, tile);
                // channel row kb + r of image n + image from pixel first on; a run across an image's end
                // goes on in the next image's row (one next image at most: DirectOcApplies keeps pq >= 7/8
                // of a run). The 6-pixel store is a whole 256-bit run only: an 8-pixel run with 6 pixels
                // left in its image (the 512-bit path, the seventh image of a group of 49-pixel images) takes
                // the general store, which carries the other 2 into the next image
                float* c = ys + ((long)(n + image) * K + (long)ob * panel) * pq + first;
                int here = Math.Min(cols, pq - first);
                for (int kb = 0; kb < panel; kb += 8)
                {
                    CpuGemm.Transpose8x8(tile + kb, panel, t8, 8);   // t8[r * 8 + j]: channel kb + r, pixel j
                    for (int r = 0; r < 8; r++)
                    {
                        float* src = t8 + r * 8, dst = c + (long)(kb + r) * pq;
                        if (here == 8) Vector256.Load(src).Store(dst);
                        else if (here == 6 && cols == 6) { Vector128.Load(src).Store(dst); dst[4] = src[4]; dst[5] = src[5]; }
                        else
                        {
                            for (int j = 0; j < here; j++) dst[j] = src[j];
                            float* next = dst + (long)K * pq - first;   // the same channel's row in the next image
                            for (int j = here; j < cols; j++) next[j - here] = src[j];
                        }
                    }
                }
            }
        }
    }

    /// <summary>dst[d * panel + kk] = rows[kk * depth + d]: a panel of rows (row-major, depth a multiple of
    /// 8) in the kernel's channel-panel layout, 8 x 8 register transposes at a time.</summary>
    private static unsafe void PackOcPanel(float* rows, int depth, int panel, float* dst)
    {
        for (int d = 0; d < depth; d += 8)
            for (int kb = 0; kb < panel; kb += 8)
                CpuGemm.Transpose8x8(rows + (long)kb * depth + d, depth, dst + (long)d * panel + kb, panel);
    }

    /// <summary>Panel of output channels [c0, c0 + panel) of the transposed convolution's W^T: dst[(k*rs + t)
    /// * panel + cc] = w[k, c0 + cc, rs-1-t], kernel by kernel (each a contiguous panel x rs block of w,
    /// prefetched two kernels ahead), each run of 8 channels built in a register and stored at once:
    /// 3.5 -> 1.7% of conv3x3_256to256's perf samples on Zen 4, against one scalar store per float.</summary>
    private static unsafe void PackFlippedOcPanel(float* w, int C, int K, int rs, int c0, int panel, float* dst)
    {
        long r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs, r6 = 6L * rs, r7 = 7L * rs, r8 = 8L * rs;
        for (int k = 0; k < K; k++)
        {
            float* src = w + ((long)k * C + c0) * rs + rs - 1;
            float* d = dst + (long)k * rs * panel;
            if (k + 2 < K) CpuGemm.Prefetch(src + 2L * C * rs - (rs - 1), panel * rs);   // two kernels ahead
            for (int t = 0; t < rs; t++, d += panel)
            {
                float* s = src - t;
                for (int cb = 0; cb < panel; cb += 8, s += r8)
                    Vector256.Create(s[0], s[rs], s[r2], s[r3], s[r4], s[r5], s[r6], s[r7]).Store(d + cb);
            }
        }
    }

    /// <summary>s[j * 32 + kk] = sum over d of x[off[d] + px[j]] * w[d * 32 + kk], j &lt; 8, kk &lt; 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void DirectOc8x32(int depth, float* w, float* x, int* off, nint* px, float* s)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        nint p0 = px[0], p1 = px[1], p2 = px[2], p3 = px[3], p4 = px[4], p5 = px[5], p6 = px[6], p7 = px[7];
        for (int* end = off + depth; off < end; off++, w += 32)
        {
            float* xp = x + *off;
            var w0 = Vector512.Load(w);
            var w1 = Vector512.Load(w + 16);
            Vector512<float> v;
            v = Vector512.Create(xp[p0]); c00 = Vector512.FusedMultiplyAdd(v, w0, c00); c01 = Vector512.FusedMultiplyAdd(v, w1, c01);
            v = Vector512.Create(xp[p1]); c10 = Vector512.FusedMultiplyAdd(v, w0, c10); c11 = Vector512.FusedMultiplyAdd(v, w1, c11);
            v = Vector512.Create(xp[p2]); c20 = Vector512.FusedMultiplyAdd(v, w0, c20); c21 = Vector512.FusedMultiplyAdd(v, w1, c21);
            v = Vector512.Create(xp[p3]); c30 = Vector512.FusedMultiplyAdd(v, w0, c30); c31 = Vector512.FusedMultiplyAdd(v, w1, c31);
            v = Vector512.Create(xp[p4]); c40 = Vector512.FusedMultiplyAdd(v, w0, c40); c41 = Vector512.FusedMultiplyAdd(v, w1, c41);
            v = Vector512.Create(xp[p5]); c50 = Vector512.FusedMultiplyAdd(v, w0, c50); c51 = Vector512.FusedMultiplyAdd(v, w1, c51);
            v = Vector512.Create(xp[p6]); c60 = Vector512.FusedMultiplyAdd(v, w0, c60); c61 = Vector512.FusedMultiplyAdd(v, w1, c61);
            v = Vector512.Create(xp[p7]); c70 = Vector512.FusedMultiplyAdd(v, w0, c70); c71 = Vector512.FusedMultiplyAdd(v, w1, c71);
        }
        Store512(s, c00, c01, false); Store512(s + 32, c10, c11, false);
        Store512(s + 64, c20, c21, false); Store512(s + 96, c30, c31, false);
        Store512(s + 128, c40, c41, false); Store512(s + 160, c50, c51, false);
        Store512(s + 192, c60, c61, false); Store512(s + 224, c70, c71, false);
    }

    /// <summary>s[j * 16 + kk] = sum over d of x[off[d] + px[j]] * w[d * 16 + kk], j &lt; 6, kk &lt; 16: 12
    /// accumulators, 2 weight vectors and a broadcast in the 16 ymm registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void DirectOc6x16(int depth, float* w, float* x, int* off, nint* px, float* s)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        nint p0 = px[0], p1 = px[1], p2 = px[2], p3 = px[3], p4 = px[4], p5 = px[5];
        for (int* end = off + depth; off < end; off++, w += 16)
        {
            float* xp = x + *off;
            var w0 = Vector256.Load(w);
            var w1 = Vector256.Load(w + 8);
            Vector256<float> v;
            v = Vector256.Create(xp[p0]); c00 = Vector256.FusedMultiplyAdd(v, w0, c00); c01 = Vector256.FusedMultiplyAdd(v, w1, c01);
            v = Vector256.Create(xp[p1]); c10 = Vector256.FusedMultiplyAdd(v, w0, c10); c11 = Vector256.FusedMultiplyAdd(v, w1, c11);
            v = Vector256.Create(xp[p2]); c20 = Vector256.FusedMultiplyAdd(v, w0, c20); c21 = Vector256.FusedMultiplyAdd(v, w1, c21);
            v = Vector256.Create(xp[p3]); c30 = Vector256.FusedMultiplyAdd(v, w0, c30); c31 = Vector256.FusedMultiplyAdd(v, w1, c31);
            v = Vector256.Create(xp[p4]); c40 = Vector256.FusedMultiplyAdd(v, w0, c40); c41 = Vector256.FusedMultiplyAdd(v, w1, c41);
            v = Vector256.Create(xp[p5]); c50 = Vector256.FusedMultiplyAdd(v, w0, c50); c51 = Vector256.FusedMultiplyAdd(v, w1, c51);
        }
        Store256(s, c00, c01, false); Store256(s + 16, c10, c11, false);
        Store256(s + 32, c20, c21, false); Store256(s + 48, c30, c31, false);
        Store256(s + 64, c40, c41, false); Store256(s + 80, c50, c51, false);
    }
}
