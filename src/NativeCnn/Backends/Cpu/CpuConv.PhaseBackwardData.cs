// Strided backward-data on the CPU without a gcol matrix or col2im: gx is split into its stride
// phases, gx[n, c, sh*i + a, sw*j + b] for a < sh, b < sw. Only the taps r with r = a + pad (mod sh)
// reach rows of phase a (likewise columns), and over them phase (a, b) is a stride-1 convolution of
// gy (K channels, P x Q) with that sub-kernel flipped and transposed,
//   wsub[c, k, u, v] = w[k, c, r0 + sh*(th-1-u), s0 + sw*(tw-1-v)]   (th x tw taps),
// top/left padding th-1-off (off = (a + pad - r0)/sh; may be negative) and an output of
// ceil((H - a)/sh) x ceil((W - b)/sw): its bottom/right padding is whatever makes that size, so
// the GEMM reads gy through ConvColumns with explicit output sizes (zeros outside gy). Each phase is
// one implicit-im2col GEMM per chunk of images, (C, cnt*Ha*Wb) = wsub (C, K*th*tw) * cols, into a
// workspace (chunks of half an L2 run side by side, one per core); one pass then interleaves the
// phases into gx (zeros for phases that no tap reaches, e.g. three of the four of a 1x1 stride-2 shortcut). The sum over all phases' taps is R*S, so the
// GEMMs do the same flops as the col2im path's W^T * gy, with no (CRS, nPQ) matrix written and read.
// Must hold: every gx element is written exactly once ("="); dilation 1 only (other dilations, the
// stored-im2col mode, 1x1 kernels, output rows of 16+ pixels, C*R*S over 1152 and layers with too few input channels
// keep the col2im path: PhasesApplyToBackwardData); results equal
// the col2im path's up to float rounding order (tests: tests/NativeCnn.Tests/Backends/CpuPhaseBackwardDataTests.cs).
// Where the input channels come in whole panels of the output-channel kernel, the same phases run that
// kernel instead of these GEMMs (CpuConv.PhaseOc.cs).
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether strided backward-data runs as per-phase convolutions (true) or through gcol
    /// and col2im. Settable by tests and benchmarks; NATIVECNN_CONV_PHASES=0 turns it off.</summary>
    internal static bool PhaseBackwardData { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_PHASES") is not "0";

    /// <summary>Whether the phases' GEMMs read gy through ConvColumns' index-table gathers where its
    /// output rows are short (Q &lt; 16); off, they use its masked shifted copies, which measured
    /// faster here (mnist conv2 backward-data 63 against 46 GFLOP/s on one Zen 4 core). Settable by benchmarks.</summary>
    internal static bool PhaseGathers { get; set; }

    /// <summary>Most floats of phase planes per chunk of images: half this core's L2 (128K floats at
    /// 1 MiB), so the interleaving pass reads the GEMMs' outputs from L2, not memory.</summary>
    internal static long PhaseChunkFloats = Math.Max(16L << 10, CpuInfo.Current.L2Bytes / 2 / sizeof(float));

    /// <summary>One axis of one phase: the first tap R0, the Taps taps R0, R0 + stride, .., the
    /// sub-convolution's leading padding Pad, and the phase's output length Len.</summary>
    private readonly record struct AxisPhase(int R0, int Taps, int Pad, int Len)
    {
        public static AxisPhase Of(int a, int stride, int pad, int kernel, int inputLen)
        {
            int r0 = (a + pad) % stride;
            int taps = r0 < kernel ? (kernel - r0 + stride - 1) / stride : 0;
            int off = (a + pad - r0) / stride;
            int len = a < inputLen ? (inputLen - a + stride - 1) / stride : 0;
            return new AxisPhase(r0, taps, taps - 1 - off, len);
        }
    }

    /// <summary>Output widths from which strided backward-data keeps col2im (settable by benchmarks).</summary>
    internal static int PhaseMaxOutputWidth { get; set; } = 16;

    /// <summary>Deepest C*R*S that runs by phases; deeper layers keep col2im (PhasesApplyToBackwardData).</summary>
    private const int PhaseMaxDepth = 1152;

    /// <summary>Whether Conv2dBackwardData goes by phases: implicit columns on, a stride above 1,
    /// dilation 1, a kernel of more than one tap, output rows under PhaseMaxOutputWidth pixels, C*R*S
    /// at most PhaseMaxDepth, and enough input channels that the C-row GEMMs are not mostly tile padding. A 1x1 kernel keeps col2im: its col2im is one strided copy and the
    /// transposed GEMM reads gy stored, which measured faster (resnet18's shortcut: 73 against 67
    /// GFLOP/s on one Zen 4 core); BackwardDataByPhases itself handles it.</summary>
    internal static bool PhasesApplyToBackwardData(ConvGeometry g)
    {
        if (!PhaseBackwardData || !ImplicitColumns) return false;
        if (g.StrideH == 1 && g.StrideW == 1) return false;
        if (g.DilationH != 1 || g.DilationW != 1 || g.R * g.S == 1) return false;
        // measured (benchmarks/results/cpu.md): ahead of col2im for mnist's 14- and 7-pixel outputs,
        // even to 5% behind for resnet18's 16-pixel downsampling layer, so only short output rows
        if (g.Q >= PhaseMaxOutputWidth) return false;
        // and only moderate depth: resnet18's 8 -> 4-pixel downsample (C*R*S = 2304) measured 61 GFLOP/s
        // by phases against 79 through col2im (one Zen 4 thread), its 16 -> 8 one (1152) 83 against 74
        if (g.Crs > PhaseMaxDepth) return false;
        int mr = CpuGemm.TileOf(CpuGemm.ForPath(CpuInfo.Path)).MR;
        return TilePadding(g.C, mr) <= 1.15 * TilePadding(g.Crs, mr);
    }

    /// <summary>gx = the gradient of conv(x, w) wrt x, phase by phase (see the file header), for any
    /// stride and padding with dilation 1 (Conv2dBackwardData calls it where PhasesApplyToBackwardData
    /// holds; tests call it directly).</summary>
    internal void BackwardDataByPhases(float[] gy, float[] w, float[] gx, ConvGeometry g)
    {
        if (g.DilationH != 1 || g.DilationW != 1)
            throw new InvalidOperationException($"internal: phase backward-data for a dilated convolution {g}");
        if (g.N == 0) return;
        int sh = g.StrideH, sw = g.StrideW, C = g.C, K = g.K, P = g.P, Q = g.Q;
        var rows = new AxisPhase[sh];
        var cols = new AxisPhase[sw];
        for (int a = 0; a < sh; a++) rows[a] = AxisPhase.Of(a, sh, g.PadH, g.R, g.H);
        for (int b = 0; b < sw; b++) cols[b] = AxisPhase.Of(b, sw, g.PadW, g.S, g.W);

        // per phase: its sub-kernel's offset in wsub and its plane's offset in one image's workspace
        int phases = sh * sw;
        var wOffset = new int[phases];
        var planeOffset = new int[phases];
        int wTotal = 0, perImage = 0;
        for (int a = 0; a < sh; a++)
            for (int b = 0; b < sw; b++)
            {
                int ph = a * sw + b;
                wOffset[ph] = wTotal;
                planeOffset[ph] = perImage;
                if (rows[a].Taps == 0 || cols[b].Taps == 0) continue;
                wTotal += C * K * rows[a].Taps * cols[b].Taps;
                perImage += rows[a].Len * cols[b].Len;   // per channel
            }
        long perImageFloats = (long)perImage * C;
        if (perImageFloats > int.MaxValue / 2)
            throw new NativeCnnException($"Conv2d: one image's input gradient has {perImageFloats} values, more than the CPU backend's limit of {int.MaxValue / 2}; use a smaller input");
        int n = g.N;
        long most = Math.Clamp(Math.Min(ColLimitFloats, PhaseChunkFloats) / Math.Max(1, perImageFloats), 1, n);
        int chunks = (int)((n + most - 1) / most), nb = (n + chunks - 1) / chunks;

        var wsub = RentScratch(Math.Max(1, wTotal));
        try
        {
            for (int a = 0; a < sh; a++)
                for (int b = 0; b < sw; b++)
                    SubKernel(w, wsub.F32, wOffset[a * sw + b], g, rows[a], cols[b]);
            var kernel = CpuGemm.ForPath(CpuInfo.Path);
            float[] wsubF = wsub.F32;
            // chunks side by side, each on one thread with its own workspace (its GEMMs and interleave
            // then run inline there: the chunks' GEMMs are too thin to split well); a batch of one
            // chunk runs on the caller, its GEMMs split over the cores
            For((n + nb - 1) / nb, 1, (k0, k1) =>
            {
                var work = perImage > 0 ? RentScratch(perImageFloats * nb) : null;
                try
                {
                    for (int k = k0; k < k1; k++)
                    {
                        int n0 = k * nb, cnt = Math.Min(nb, n - n0);
                        for (int a = 0; a < sh; a++)
                            for (int b = 0; b < sw; b++)
                            {
                                var (ra, cb) = (rows[a], cols[b]);
                                int pix = ra.Len * cb.Len;
                                if (ra.Taps == 0 || cb.Taps == 0 || pix == 0) continue;
                                var t = new ConvGeometry(g.N, K, P, Q, C, ra.Taps, cb.Taps, 1, 1, ra.Pad, cb.Pad, 1, 1);
                                var source = new ConvColumns(gy, n0, cnt, t, outP: ra.Len, outQ: cb.Len, gathers: PhaseGathers);
                                int m = C, cn = cnt * pix, depth = t.Crs, cOff = cnt * C * planeOffset[a * sw + b];
                                using var _ = Time((m, cn, depth), static s => $"gemm {s.m}x{s.cn}x{s.depth} phase");
                                CheckOperand("C", m, cn, cn, cOff, 0, work!.F32.Length, 1);
                                CpuGemm.Run(kernel, false, false, m, cn, depth, 1f, wsubF, wOffset[a * sw + b], depth, null, 0, 0,
                                            0f, work.F32, cOff, cn, 1, 0, 0, 0, source);
                            }
                        InterleavePhases(work?.F32, gx, n0, cnt, g, rows, cols, planeOffset);
                    }
                }
                finally
                {
                    if (work is not null) ReturnScratch(work);
                }
            });
        }
        finally
        {
            ReturnScratch(wsub);
        }
    }

    /// <summary>dst[off + (c - c0)*(K*th*tw) + (k*th + u)*tw + v] = w[k, c, r0 + sh*(th-1-u), s0 + sw*(tw-1-v)]
    /// for channels c0 .. c1 (all when c1 &lt; 0): phase (rows, cols)'s taps, flipped, as rows of a (C, K*th*tw)
    /// GEMM operand.</summary>
    private static void SubKernel(float[] w, float[] dst, int off, ConvGeometry g, AxisPhase rows, AxisPhase cols, int c0 = 0, int c1 = -1)
    {
        int th = rows.Taps, tw = cols.Taps, C = g.C, K = g.K, R = g.R, S = g.S;
        if (th == 0 || tw == 0) return;
        if (c1 < 0) c1 = C;
        off -= c0 * K * th * tw;
        for (int c = c0; c < c1; c++)
            for (int k = 0; k < K; k++)
            {
                int src = (k * C + c) * R * S, d = off + (c * K + k) * th * tw;
                for (int u = 0; u < th; u++)
                {
                    int r = rows.R0 + g.StrideH * (th - 1 - u);
                    for (int v = 0; v < tw; v++)
                        dst[d + u * tw + v] = w[src + r * S + cols.R0 + g.StrideW * (tw - 1 - v)];
                }
            }
    }

    /// <summary>gx[n0+i, c, sh*y + a, sw*x + b] = phase (a, b)'s work[c, i, y, x] for a chunk of cnt
    /// images (0 for phases without taps). One pass over gx, split over its (image, channel) planes.</summary>
    private static unsafe void InterleavePhases(float[]? work, float[] gx, int n0, int cnt, ConvGeometry g,
                                                AxisPhase[] rows, AxisPhase[] cols, int[] planeOffset)
    {
        using var _ = Instance.Time("interleave_phases");
        int H = g.H, W = g.W, C = g.C, sh = g.StrideH, sw = g.StrideW;
        For(cnt * C, Math.Max(1, ParallelThreshold / Math.Max(1, H * W)), (p0, p1) =>
        {
            // per phase: the offset of its (c, i) plane in work, or -1 where no tap reaches it
            Span<long> src = stackalloc long[sh * sw];
            fixed (float* wb = work, gb = gx)
                for (int pl = p0; pl < p1; pl++)
                {
                    int i = pl / C, c = pl % C;
                    float* plane = gb + ((long)(n0 + i) * C + c) * H * W;
                    for (int a = 0; a < sh; a++)
                        for (int b = 0; b < sw; b++)
                        {
                            var (ra, cb) = (rows[a], cols[b]);
                            src[a * sw + b] = ra.Taps == 0 || cb.Taps == 0 || wb == null ? -1
                                : (long)cnt * C * planeOffset[a * sw + b] + ((long)c * cnt + i) * ra.Len * cb.Len;
                        }
                    if (sw == 2)
                    {
                        // two column phases per row: each row of phase row a is one vector interleave
                        int w0 = cols[0].Len, w1 = cols[1].Len;
                        for (int a = 0; a < sh; a++)
                        {
                            long s0 = src[a * 2], s1 = src[a * 2 + 1];
                            for (int y = 0, ih = a; ih < H; y++, ih += sh)
                                Interleave2(s0 < 0 ? null : wb + s0 + (long)y * w0, s1 < 0 ? null : wb + s1 + (long)y * w1, plane + (long)ih * W, W);
                        }
                        continue;
                    }
                    for (int ih = 0; ih < H; ih++)
                    {
                        int a = ih % sh, y = ih / sh;
                        float* d = plane + (long)ih * W;
                        for (int x = 0; x < W; x++)
                        {
                            int b = x % sw;
                            long s = src[a * sw + b];
                            d[x] = s < 0 ? 0 : wb[s + (long)y * cols[b].Len + x / sw];
                        }
                    }
                }
        });
    }

    /// <summary>d[2j] = e[j], d[2j+1] = o[j] for a row of w floats (a null source reads as zeros);
    /// reads exactly ceil(w/2) floats of e and floor(w/2) of o, writes exactly w (masked vector tails).</summary>
    private static unsafe void Interleave2(float* e, float* o, float* d, int w)
    {
        int j = 0, ne = (w + 1) / 2, no = w / 2;
        if (CpuInfo.Use512)
        {
            var lo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            var hi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            var lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            for (; 2 * j < w; j += 16)
            {
                Vector512<float> ev, od;
                if (2 * j + 32 <= w)
                {
                    ev = e == null ? Vector512<float>.Zero : Vector512.Load(e + j);
                    od = o == null ? Vector512<float>.Zero : Vector512.Load(o + j);
                    Avx512F.PermuteVar16x32x2(ev, lo, od).Store(d + 2 * j);
                    Avx512F.PermuteVar16x32x2(ev, hi, od).Store(d + 2 * j + 16);
                    continue;
                }
                // the row's tail: masked loads and stores touch only its own floats
                var me = Vector512.LessThan(lane, Vector512.Create(ne - j)).AsSingle();
                var mo = Vector512.LessThan(lane, Vector512.Create(no - j)).AsSingle();
                ev = e == null ? Vector512<float>.Zero : Avx512F.MaskLoad(e + j, me, Vector512<float>.Zero);
                od = o == null ? Vector512<float>.Zero : Avx512F.MaskLoad(o + j, mo, Vector512<float>.Zero);
                int left = w - 2 * j;
                Avx512F.MaskStore(d + 2 * j, Vector512.LessThan(lane, Vector512.Create(left)).AsSingle(), Avx512F.PermuteVar16x32x2(ev, lo, od));
                if (left > 16)
                    Avx512F.MaskStore(d + 2 * j + 16, Vector512.LessThan(lane, Vector512.Create(left - 16)).AsSingle(), Avx512F.PermuteVar16x32x2(ev, hi, od));
            }
            return;
        }
        if (CpuInfo.Use256)
        {
            for (; 2 * j + 16 <= w; j += 8)
            {
                var ev = e == null ? Vector256<float>.Zero : Avx.LoadVector256(e + j);
                var od = o == null ? Vector256<float>.Zero : Avx.LoadVector256(o + j);
                var l = Avx.UnpackLow(ev, od);    // e0 o0 e1 o1 | e4 o4 e5 o5
                var h = Avx.UnpackHigh(ev, od);   // e2 o2 e3 o3 | e6 o6 e7 o7
                Avx.Permute2x128(l, h, 0x20).Store(d + 2 * j);
                Avx.Permute2x128(l, h, 0x31).Store(d + 2 * j + 8);
            }
        }
        for (; 2 * j < w; j++)
        {
            d[2 * j] = e == null ? 0 : e[j];
            if (2 * j + 1 < w) d[2 * j + 1] = o == null ? 0 : o[j];
        }
    }
}
