// Strided backward-data through the output-channel kernel (CpuConv.DirectOc.cs), phase by phase: the
// phases and sub-kernels of CpuConv.PhaseBackwardData.cs (phase (a, b) of gx is a stride-1 convolution
// of gy with the taps that reach it, flipped), but each phase's sub-convolution runs the 8 x 32 (512-bit)
// or 6 x 16 (256-bit) output-channel kernel straight over the zero-padded gy, and each result is stored
// at its own place in gx (row sh*i + a, column sw*j + b): no per-phase GEMM packing of gy (which, shared
// by only C rows, cost as much as the arithmetic for mnist's 32- and 64-channel inputs) and no
// interleaving pass. Runs of consecutive pixels of a phase span its rows; each pixel has its own offset
// into the padded gy and its own place in gx.
// Applies (PhaseOcApplies): strided, dilation 1, more than one tap, C*R*S at most 1152 (as the per-phase
// GEMMs), any output width (the GEMMs only under 16 pixels), on the vector paths, C a multiple of the
// kernel's channel panel, K of 8, every phase reached by a tap with a non-negative leading padding (3x3
// pad 1: mnist's conv2 and conv3, resnet18's 32 -> 16 and 16 -> 8-pixel downsamples).
// NATIVECNN_CONV_PHASE_OC=0 turns it off (the per-phase GEMMs or col2im then run).
// Must hold: every gx element is written exactly once ("="): the phases' pixels tile gx; the kernels read
// only inside the padded gy (its size covers every phase's last tap).
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether strided backward-data may run the output-channel kernel per phase (settable by tests
    /// and benchmarks; NATIVECNN_CONV_PHASE_OC=0 turns it off).</summary>
    internal static bool PhaseOcBackwardData { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_PHASE_OC") is not "0";

    /// <summary>Whether Conv2dBackwardData runs this layer by phases through the output-channel kernel.</summary>
    internal static bool PhaseOcApplies(ConvGeometry g)
    {
        if (!PhaseOcBackwardData || !DirectOcConvolution || !PhaseBackwardData || !ImplicitColumns) return false;
        if (g.StrideH == 1 && g.StrideW == 1) return false;
        if (g.DilationH != 1 || g.DilationW != 1 || g.R * g.S == 1) return false;
        // any output width (unlike the per-phase GEMMs: resnet18's 32 -> 16-pixel downsample, 77-82 through
        // col2im, 83-93 here on one Zen 4 thread), but the GEMMs' depth limit: at C*R*S = 2304 (its 8 -> 4
        // one) this lost to col2im, 80-83 against 45-68
        if (g.Crs > PhaseMaxDepth) return false;
        var kernel = CpuGemm.ForPath(CpuInfo.Path);
        if (kernel is not (GemmKernel.Vector512 or GemmKernel.Vector256)) return false;
        if (g.C % OcTile(kernel).Panel != 0 || g.K % 8 != 0) return false;
        var layout = PhaseOcLayout.Of(g);
        return layout is not null && (long)layout.PlaneSize + 64 <= int.MaxValue / 2 && (long)g.Crs * g.C <= int.MaxValue / 2;
    }

    /// <summary>The phases of a strided backward-data pass as the output-channel kernel reads them: the
    /// padded gy (K planes of Hp x Wp, gy at (PadTop, PadLeft)), and per phase its axes, its sub-kernel's
    /// depth (K x taps), offsets into the padded gy per depth step, and where its packed weights start.</summary>
    private sealed class PhaseOcLayout
    {
        public int Hp, Wp, PadTop, PadLeft, PlaneSize, PackedFloats, MaxDepth;
        public AxisPhase[] Rows = Array.Empty<AxisPhase>(), Cols = Array.Empty<AxisPhase>();
        public int[] Depth = Array.Empty<int>(), PackedOffset = Array.Empty<int>();
        public int[][] Offsets = Array.Empty<int[]>();

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, PhaseOcLayout?> s_byShape = new();

        /// <summary>The layout, or null where a phase has no taps or a negative leading padding.</summary>
        public static PhaseOcLayout? Of(ConvGeometry g) => s_byShape.GetOrAdd(g with { N = 0 }, Build);

        private static PhaseOcLayout? Build(ConvGeometry g)
        {
            int sh = g.StrideH, sw = g.StrideW;
            var rows = new AxisPhase[sh];
            var cols = new AxisPhase[sw];
            for (int a = 0; a < sh; a++) rows[a] = AxisPhase.Of(a, sh, g.PadH, g.R, g.H);
            for (int b = 0; b < sw; b++) cols[b] = AxisPhase.Of(b, sw, g.PadW, g.S, g.W);
            if (rows.Any(r => r.Taps == 0 || r.Pad < 0) || cols.Any(c => c.Taps == 0 || c.Pad < 0)) return null;
            // enough padding for every phase: its row i, tap u reads padded row i + u - Pad + PadTop
            int top = rows.Max(r => r.Pad), left = cols.Max(c => c.Pad);
            int hp = Math.Max(top + g.P, rows.Max(r => r.Len - 1 + r.Taps - r.Pad + top));
            int wp = Math.Max(left + g.Q, cols.Max(c => c.Len - 1 + c.Taps - c.Pad + left));
            var layout = new PhaseOcLayout
            {
                Hp = hp, Wp = wp, PadTop = top, PadLeft = left, PlaneSize = g.K * hp * wp, Rows = rows, Cols = cols,
                Depth = new int[sh * sw], PackedOffset = new int[sh * sw], Offsets = new int[sh * sw][],
            };
            int packed = 0;
            for (int a = 0; a < sh; a++)
                for (int b = 0; b < sw; b++)
                {
                    int ph = a * sw + b, th = rows[a].Taps, tw = cols[b].Taps, depth = g.K * th * tw;
                    var offsets = new int[depth];
                    for (int k = 0, d = 0; k < g.K; k++)
                        for (int u = 0; u < th; u++)
                            for (int v = 0; v < tw; v++, d++)
                                offsets[d] = k * hp * wp + u * wp + v;
                    layout.Depth[ph] = depth;
                    layout.Offsets[ph] = offsets;
                    layout.PackedOffset[ph] = packed;
                    packed += depth * g.C;
                }
            layout.PackedFloats = packed;
            layout.MaxDepth = layout.Depth.Max();
            return layout;
        }
    }

    [ThreadStatic] private static float[]? t_phaseOcWeights;

    /// <summary>gx = the gradient of conv(x, w) wrt x where PhaseOcApplies holds: each phase's flipped
    /// sub-kernel packed in channel panels, then per image the padded gy and every phase's tiles.</summary>
    private unsafe void PhaseOcBackwardDataPass(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        using var _ = Time("phase_oc");
        var layout = PhaseOcLayout.Of(g) ?? throw new InvalidOperationException($"internal: no phase layout for {g}");
        var kernel = CpuGemm.ForPath(CpuInfo.Path);
        var (run, panel) = OcTile(kernel);
        int sh = g.StrideH, sw = g.StrideW, phases = sh * sw, C = g.C, blocks = C / panel;
        var packed = t_phaseOcWeights;
        if (packed is null || packed.Length < layout.PackedFloats)
            t_phaseOcWeights = packed = GC.AllocateUninitializedArray<float>(layout.PackedFloats, pinned: true);
        using (Time("pack_weights"))
        {
            // per (phase, channel panel), over the cores: the panel's rows of the flipped sub-kernel
            // (panel x K*th*tw, row-major, in a thread's scratch), then transposed 8 x 8 into Wt[d * panel + cc]
            ForGuided(phases * blocks, 1, (j0, j1) =>
            {
                var rowsBuffer = RentScratch((long)panel * layout.MaxDepth);
                try
                {
                    fixed (float* ss = rowsBuffer.F32, ps = packed)
                        for (int j = j0; j < j1; j++)
                        {
                            int ph = j / blocks, ob = j % blocks, depth = layout.Depth[ph];
                            SubKernel(w, rowsBuffer.F32, 0, g, layout.Rows[ph / sw], layout.Cols[ph % sw], ob * panel, (ob + 1) * panel);
                            float* dst = ps + layout.PackedOffset[ph] + (long)ob * depth * panel;
                            PackOcPanel(ss, depth, panel, dst);
                        }
                }
                finally { ReturnScratch(rowsBuffer); }
            });
        }
        // tiles of one image: phase by phase, (channel panel, run of the phase's pixels)
        var firstTile = new int[phases + 1];
        for (int ph = 0; ph < phases; ph++)
        {
            int pixels = layout.Rows[ph / sw].Len * layout.Cols[ph % sw].Len;
            firstTile[ph + 1] = firstTile[ph] + blocks * ((pixels + run - 1) / run);
        }
        int tiles = firstTile[phases];
        if (ImagesShareCores(g.N))
        {
            // work items (image, quarter of its tiles) in shrinking chunks, as DirectForward's
            int parts = Math.Min(ImageParts, tiles);
            ForGuided(g.N * parts, 1, (j0, j1) =>
            {
                foreach (var (n, _, p0, p1) in ImagePartRuns(j0, j1, parts, 1))
                    PhaseOcTiles(kernel, PadGradient(gy, n, g, layout, DirectBuffers.ForThisThread()), layout, packed, gx, n, g, firstTile,
                                 PartStart(p0, parts, tiles), PartStart(p1, parts, tiles));
            });
            return;
        }
        for (int n = 0; n < g.N; n++)
        {
            float[] plane = PadGradient(gy, n, g, layout, DirectBuffers.ForThisThread());
            int image = n;
            For(tiles, 1, (t0, t1) => PhaseOcTiles(kernel, plane, layout, packed, gx, image, g, firstTile, t0, t1));
        }
    }

    /// <summary>Image n's gy zero-padded as the layout says, in this thread's buffer.</summary>
    private static unsafe float[] PadGradient(float[] gy, int n, ConvGeometry g, PhaseOcLayout layout, DirectBuffers buffers)
    {
        long need = layout.PlaneSize + 64L;
        if (buffers.Planes.Length < need) buffers.Planes = GC.AllocateUninitializedArray<float>((int)need, pinned: true);
        int P = g.P, Q = g.Q, hp = layout.Hp, wp = layout.Wp;
        fixed (float* src = gy, dst = buffers.Planes)
        {
            new Span<float>(dst, layout.PlaneSize).Clear();
            for (int k = 0; k < g.K; k++)
            {
                float* s = src + ((long)n * g.K + k) * P * Q;
                float* d = dst + (long)k * hp * wp + (long)layout.PadTop * wp + layout.PadLeft;
                for (int p = 0; p < P; p++)
                    Buffer.MemoryCopy(s + (long)p * Q, d + (long)p * wp, (long)Q * sizeof(float), (long)Q * sizeof(float));
            }
        }
        return buffers.Planes;
    }

    /// <summary>Tiles [t0, t1) of image n (tile t of phase ph: firstTile[ph] &lt;= t &lt; firstTile[ph + 1],
    /// as (channel panel, run of the phase's pixels)), each over the phase's whole depth and stored pixel
    /// by pixel into gx.</summary>
    private static unsafe void PhaseOcTiles(GemmKernel kernel, float[] plane, PhaseOcLayout layout, float[] packed, float[] gx,
                                            int n, ConvGeometry g, int[] firstTile, int t0, int t1)
    {
        var (run, panel) = OcTile(kernel);
        int sw = g.StrideW, H = g.H, W = g.W, C = g.C, wp = layout.Wp;
        long hw = (long)H * W;
        float* tile = stackalloc float[8 * 32];
        nint* px = stackalloc nint[8];
        long* at = stackalloc long[8];
        fixed (float* pls = plane, ps = packed, gs = gx)
        {
            int ph = 0;
            for (int t = t0; t < t1; t++)
            {
                while (t >= firstTile[ph + 1]) ph++;
                int a = ph / sw, b = ph % sw;
                AxisPhase rows = layout.Rows[a], cols = layout.Cols[b];
                int pixels = rows.Len * cols.Len, runs = (pixels + run - 1) / run, local = t - firstTile[ph];
                int ob = local / runs, pix0 = local % runs * run, count = Math.Min(run, pixels - pix0), depth = layout.Depth[ph];
                // each pixel's top-left tap in the padded gy and its place in gx's plane, walking (i, x) along
                // the phase's rows; past the phase's last pixel, that pixel again (computed, not stored)
                for (int j = 0, i = pix0 / cols.Len, x = pix0 - i * cols.Len; j < run; j++)
                {
                    px[j] = (nint)(i + layout.PadTop - rows.Pad) * wp + (x + layout.PadLeft - cols.Pad);
                    at[j] = (long)(g.StrideH * i + a) * W + sw * x + b;
                    if (j + 1 < count && ++x == cols.Len) { x = 0; i++; }
                }
                float* wpanel = ps + layout.PackedOffset[ph] + (long)ob * depth * panel;
                fixed (int* os = layout.Offsets[ph])
                {
                    if (kernel == GemmKernel.Vector512) DirectOc8x32(depth, wpanel, pls, os, px, tile);
                    else DirectOc6x16(depth, wpanel, pls, os, px, tile);
                }
                float* dst = gs + ((long)n * C + (long)ob * panel) * hw;
                if (count == 8) StoreScattered8(tile, panel, dst, hw, at);
                else if (count == 6) StoreScattered6(tile, panel, dst, hw, at);
                else
                    for (int kk = 0; kk < panel; kk++, dst += hw)
                        for (int j = 0; j < count; j++)
                            dst[at[j]] = tile[j * panel + kk];
            }
        }
    }

    /// <summary>dst[kk * hw + at[j]] = tile[j * panel + kk] for a whole run of 8 pixels, their places in registers.</summary>
    private static unsafe void StoreScattered8(float* tile, int panel, float* dst, long hw, long* at)
    {
        long a0 = at[0], a1 = at[1], a2 = at[2], a3 = at[3], a4 = at[4], a5 = at[5], a6 = at[6], a7 = at[7];
        for (int kk = 0; kk < panel; kk++, dst += hw, tile++)
        {
            dst[a0] = tile[0]; dst[a1] = tile[panel]; dst[a2] = tile[2 * panel]; dst[a3] = tile[3 * panel];
            dst[a4] = tile[4 * panel]; dst[a5] = tile[5 * panel]; dst[a6] = tile[6 * panel]; dst[a7] = tile[7 * panel];
        }
    }

    /// <summary>As StoreScattered8 for a whole run of 6 pixels (the 256-bit kernel's).</summary>
    private static unsafe void StoreScattered6(float* tile, int panel, float* dst, long hw, long* at)
    {
        long a0 = at[0], a1 = at[1], a2 = at[2], a3 = at[3], a4 = at[4], a5 = at[5];
        for (int kk = 0; kk < panel; kk++, dst += hw, tile++)
        {
            dst[a0] = tile[0]; dst[a1] = tile[panel]; dst[a2] = tile[2 * panel];
            dst[a3] = tile[3 * panel]; dst[a4] = tile[4 * panel]; dst[a5] = tile[5 * panel];
        }
    }
}
