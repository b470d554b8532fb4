// Direct convolution vectorised over output channels, for output rows of 8, 24, 40... pixels on the
// 512-bit path (resnet18's 8x8 layer3; at stride 1 also 7, 14...: mnist's conv4): the tile is 8
// consecutive pixels of one output row (the last run of a row may be partial) by 32
// output channels. W^T is packed in 32-channel panels (Wt[d * 32 + kk], d = (c, r, s)), and each
// depth step loads two 16-channel weight vectors and broadcasts the 8 pixels' inputs from the padded
// image (or its stride-2 phase planes; CpuConv.DirectInput.cs): 16 FMAs of 512 bits per step, where
// the pixel-vectorised kernels need 16 contiguous pixels for that and fall back to the 256-bit 6x16
// kernel on 8-pixel rows (12 256-bit FMAs per step, more loads and loop per flop). The whole depth
// runs in one call, so each tile is stored once, transposed (8x8 register transposes) into y.
// Backward-data at stride 1 is the transposed convolution of gy, with W flipped and transposed while
// packing (A'[c, (k, t)] = w[k, c, rs-1-t]).
// Applies: the AVX-512 path, stride 1 or 2, Q not a multiple of 16 (at stride 2 a multiple of 8; at
// stride 1 rows cut into 8-pixel runs with little waste, DirectOcApplies), K (output channels) a
// multiple of 32 and C*R*S a multiple of 8; NATIVECNN_CONV_DIRECT_OC=0 turns it off. Measured on Zen 4
// (resnet18 layer3, one thread, against the 6x16 kernel): forward 102 -> 109 GFLOP/s, backward-data
// 98 -> 102 (benchmarks/results/cpu-zen4-direct.md). Where 512-bit FMAs run at full rate (Zen 5,
// Intel) these rows went to the GEMM before; it takes them there too, not measured on such a CPU yet.
// Must hold: every output is fully written ("="); the kernels read only inside the padded planes
// (8 pixels q..q+7 <= Q-1 of a row plus the taps' reach, as the pixel-vectorised kernels).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether the output-channel kernels may run (NATIVECNN_CONV_DIRECT_OC=0 turns them off);
    /// settable by tests and benchmarks.</summary>
    internal static bool DirectOcConvolution { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_DIRECT_OC") is not "0";

    /// <summary>Whether the output-channel kernel runs this convolution (as a forward pass) on the current path.</summary>
    internal static bool DirectOcApplies(ConvGeometry g)
    {
        bool stride1 = g.StrideH == 1 && g.StrideW == 1, stride2 = g.StrideH == 2 && g.StrideW == 2;
        if (!DirectOcConvolution || !DirectConvolution || !ImplicitColumns || !(stride1 || stride2)) return false;
        if (CpuGemm.ForPath(CpuInfo.Path) != GemmKernel.Vector512 || g.P <= 0) return false;
        // rows of whole 16-pixel vectors keep the pixel-vectorised 8x32 kernel; other rows are cut into
        // 8-pixel runs. At stride 1 the last run may be partial where at most an eighth of the computed
        // pixels is waste (Q = 7, 14, 15, 21-23, ...): mnist's 7-pixel conv4 measured 89 -> 95 GFLOP/s
        // forward and 89 -> 94 backward-data; at stride 2 its 7-pixel conv3 lost (87 -> 72), so there
        // only whole runs (resnet18's 16 -> 8-pixel downsample: 88 -> 94 forward)
        int runs = (g.Q + 7) / 8;
        if (g.Q % 16 == 0 || (runs * 8 - g.Q) * 8 > runs * 8 || (g.Q % 8 != 0 && !stride1)) return false;
        if (g.K % 32 != 0 || g.Crs % 8 != 0) return false;
        long padded = (long)(g.H + 2 * g.PadH + 1) * (g.W + 2 * g.PadW + 1) * g.C;
        return padded <= int.MaxValue / 2 && (long)g.Crs * g.K <= int.MaxValue / 2;
    }

    [ThreadStatic] private static float[]? t_ocWeights;

    /// <summary>y (N, K, P, Q) = the convolution of x with w (no bias). With <paramref name="flipped"/>,
    /// g is a backward-data pass's transposed geometry and w the layer's own (K' = g.C, C' = g.K)
    /// weights, read flipped and transposed.</summary>
    private unsafe void DirectOcForward(float[] x, float[] w, float[] y, ConvGeometry g, bool flipped)
    {
        using var _ = Time("direct_oc");
        int depth = g.Crs, K = g.K, blocks = K / 32, rs = g.R * g.S;
        var packed = t_ocWeights;
        if (packed is null || packed.Length < depth * K) t_ocWeights = packed = GC.AllocateUninitializedArray<float>(depth * K, pinned: true);
        using (Time("pack_weights"))
            For(blocks, 1, (b0, b1) =>
            {
                fixed (float* ws = w, ps = packed)
                    for (int ob = b0; ob < b1; ob++)
                    {
                        float* dst = ps + (long)ob * depth * 32;
                        if (flipped) PackFlippedOcPanel(ws, g.K, g.C, rs, ob * 32, depth, dst);   // the layer's C = g.K, its K = g.C
                        else
                            for (int d = 0; d < depth; d += 8)
                                for (int kb = 0; kb < 32; kb += 8)
                                    CpuGemm.Transpose8x8(ws + (long)(ob * 32 + kb) * depth + d, depth, dst + (long)d * 32 + kb, 32);
                    }
            });
        var layout = InputPlanes.Of(g);
        int rowTiles = (g.Q + 7) / 8, tiles = blocks * g.P * rowTiles;
        if (ImagesShareCores(g.N) || CpuParallel.ThreadsHere == 1)
        {
            For(g.N, 1, (n0, n1) =>
            {
                var buffers = DirectBuffers.ForThisThread();
                for (int n = n0; n < n1; n++)
                    DirectOcTiles(PadImages(x, n, 1, g, layout, buffers), layout, packed, y, n, g, 0, tiles);
            });
            return;
        }
        for (int n = 0; n < g.N; n++)
        {
            float[] plane = PadImages(x, n, 1, g, layout, DirectBuffers.ForThisThread());
            int image = n;
            For(tiles, 1, (t0, t1) => DirectOcTiles(plane, layout, packed, y, image, g, t0, t1));
        }
    }

    /// <summary>Tiles [t0, t1) of image n, tile t = (32-channel block, output row, 8-pixel run), each over
    /// the whole depth and stored transposed into y.</summary>
    private static unsafe void DirectOcTiles(float[] plane, InputPlanes layout, float[] packed, float[] y, int n, ConvGeometry g,
                                             int t0, int t1)
    {
        int depth = g.Crs, K = g.K, pq = g.P * g.Q, rowTiles = (g.Q + 7) / 8, perBlock = g.P * rowTiles;
        float* tile = stackalloc float[8 * 32];
        float* t8 = stackalloc float[64];
        fixed (float* pls = plane, ps = packed, ys = y)
        fixed (int* os = layout.Offsets)
        {
            float* yImage = ys + (long)n * K * pq;
            for (int t = t0; t < t1; t++)
            {
                int ob = t / perBlock, p = t % perBlock / rowTiles, q0 = t % rowTiles * 8, cols = Math.Min(8, g.Q - q0);
                // a partial run's pixels past the row read on into the padded plane (slack at its end); dropped
                DirectOc8x32(depth, ps + (long)ob * depth * 32, pls + (long)p * layout.Wp + q0, os, tile);
                float* c = yImage + (long)ob * 32 * pq + p * g.Q + q0;
                for (int kb = 0; kb < 32; kb += 8)
                {
                    CpuGemm.Transpose8x8(tile + kb, 32, t8, 8);
                    if (cols == 8)
                        for (int r = 0; r < 8; r++) Vector256.Load(t8 + r * 8).Store(c + (long)(kb + r) * pq);
                    else
                        for (int r = 0; r < 8; r++)
                            for (int j = 0; j < cols; j++) c[(long)(kb + r) * pq + j] = t8[r * 8 + j];
                }
            }
        }
    }

    /// <summary>Panel of output channels [c0, c0 + 32) of the transposed convolution's W^T: dst[(k*rs + t)
    /// * 32 + cc] = w[k, c0 + cc, rs-1-t], kernel by kernel (each a contiguous 32 x rs block of w,
    /// prefetched two kernels ahead), each run of 8 channels built in a register and stored at once:
    /// 3.5 -> 1.7% of conv3x3_256to256's perf samples on Zen 4, against one scalar store per float.</summary>
    private static unsafe void PackFlippedOcPanel(float* w, int C, int K, int rs, int c0, int depth, float* dst)
    {
        long r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs, r6 = 6L * rs, r7 = 7L * rs, r8 = 8L * rs;
        for (int k = 0; k < K; k++)
        {
            float* src = w + ((long)k * C + c0) * rs + rs - 1;
            float* d = dst + (long)k * rs * 32;
            if (k + 2 < K) CpuGemm.Prefetch(src + 2L * C * rs - (rs - 1), 32 * rs);   // two kernels ahead
            for (int t = 0; t < rs; t++, d += 32)
            {
                float* s = src - t;
                for (int cb = 0; cb < 32; cb += 8, s += r8)
                    Vector256.Create(s[0], s[rs], s[r2], s[r3], s[r4], s[r5], s[r6], s[r7]).Store(d + cb);
            }
        }
    }

    /// <summary>s[j * 32 + kk] = sum over d of x[off[d] + j] * w[d * 32 + kk], j &lt; 8, kk &lt; 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void DirectOc8x32(int depth, float* w, float* x, int* off, float* s)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int* end = off + depth; off < end; off++, w += 32)
        {
            float* xp = x + *off;
            var w0 = Vector512.Load(w);
            var w1 = Vector512.Load(w + 16);
            Vector512<float> v;
            v = Vector512.Create(xp[0]); c00 = Vector512.FusedMultiplyAdd(v, w0, c00); c01 = Vector512.FusedMultiplyAdd(v, w1, c01);
            v = Vector512.Create(xp[1]); c10 = Vector512.FusedMultiplyAdd(v, w0, c10); c11 = Vector512.FusedMultiplyAdd(v, w1, c11);
            v = Vector512.Create(xp[2]); c20 = Vector512.FusedMultiplyAdd(v, w0, c20); c21 = Vector512.FusedMultiplyAdd(v, w1, c21);
            v = Vector512.Create(xp[3]); c30 = Vector512.FusedMultiplyAdd(v, w0, c30); c31 = Vector512.FusedMultiplyAdd(v, w1, c31);
            v = Vector512.Create(xp[4]); c40 = Vector512.FusedMultiplyAdd(v, w0, c40); c41 = Vector512.FusedMultiplyAdd(v, w1, c41);
            v = Vector512.Create(xp[5]); c50 = Vector512.FusedMultiplyAdd(v, w0, c50); c51 = Vector512.FusedMultiplyAdd(v, w1, c51);
            v = Vector512.Create(xp[6]); c60 = Vector512.FusedMultiplyAdd(v, w0, c60); c61 = Vector512.FusedMultiplyAdd(v, w1, c61);
            v = Vector512.Create(xp[7]); c70 = Vector512.FusedMultiplyAdd(v, w0, c70); c71 = Vector512.FusedMultiplyAdd(v, w1, c71);
        }
        Store512(s, c00, c01, false); Store512(s + 32, c10, c11, false);
        Store512(s + 64, c20, c21, false); Store512(s + 96, c30, c31, false);
        Store512(s + 128, c40, c41, false); Store512(s + 160, c50, c51, false);
        Store512(s + 192, c60, c61, false); Store512(s + 224, c70, c71, false);
    }
}
