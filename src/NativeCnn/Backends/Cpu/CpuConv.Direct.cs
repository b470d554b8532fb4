// Direct convolution on the CPU (stride 1 and 2): the GEMM y (K, PQ) = W (K, CRS) * col (CRS, PQ)
// without packing col at all. Row (c, r, s) of col, read across a run of V output pixels of one
// output row, is V contiguous floats of the zero-padded input plane c shifted by (r*dh, s*dw) (at
// stride 2, of one of its four stride-2 phase planes: CpuConv.DirectInput.cs). So the micro-kernel
// reads its B vectors straight from the padded image through a per-depth-step offset table, and each
// input value is copied once (into the padded plane), not R*S times (im2col, or the implicit packing
// of CpuConv.Columns.cs). W is packed once per call into MR-row panels for all images and threads;
// for backward-data (the transposed convolution of gy) the packing reads W flipped and transposed,
// so no flipped copy is made.
// Applies: stride 1 or 2, any padding and dilation, Q a multiple of the vector width V (16 on the
// AVX-512 path; 8 on AVX2, and on AVX-512 where it runs on 256-bit halves), so each B vector stays
// inside one output row. Tiles are MR output channels x NR = 2V consecutive output pixels (on the
// 256-bit path, MR = 6, a last panel of 1-4 channels runs a 4- or 2-row kernel in place).
// Must hold: every output is fully written ("="); results equal the GEMM paths' up to float rounding
// order (tests run every path against float64 references); the kernels read only inside the planes
// (a vector's last pixel q + V - 1 <= Q - 1 reads at most column Q - 1 + (S-1)*dw < Wp at stride 1).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Whether stride-1 and -2 convolutions whose output width is a multiple of the vector width run
    /// the direct kernels (true) or the implicit-im2col GEMM. Settable by tests and benchmarks;
    /// NATIVECNN_CONV_DIRECT=0 turns it off.</summary>
    internal static bool DirectConvolution { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_CONV_DIRECT") is not "0";

    /// <summary>The vector width V of the direct kernels on this CPU path (0: none, the portable path).</summary>
    private static int DirectVector(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Vector512 => 16,
        GemmKernel.Vector256 => 8,
        _ => 0,
    };

    /// <summary>Whether the direct kernels run this convolution on the current CPU path.</summary>
    internal static bool DirectApplies(ConvGeometry g) => DirectKernelFor(g, CpuGemm.ForPath(CpuInfo.Path)) is not null;

    /// <summary>The direct kernel for this convolution on the path of <paramref name="pathKernel"/>, or
    /// null where none applies. A call reads the CPU path once and passes the kernel down, so packing
    /// and tiles always agree on MR. The AVX-512 path takes the 256-bit kernel for rows of 8, 24, ...
    /// pixels where 512-bit FMAs run at the 256-bit rate (Zen 4: same peak, measured 99-105 against
    /// the GEMM path's 93-98 GFLOP/s on 8-pixel rows), not where they run at twice it. Such rows go to the
    /// output-channel kernel (CpuConv.DirectOc.cs) before this where its shape conditions hold.</summary>
    internal static GemmKernel? DirectKernelFor(ConvGeometry g, GemmKernel pathKernel)
    {
        if (!DirectStrideApplies(g)) return null;
        if (PaddedImageFloats(g) > int.MaxValue / 2 || (long)g.Crs * g.K > int.MaxValue / 2) return null;
        if (pathKernel == GemmKernel.Vector512)
        {
            if (g.Q % 16 == 0) return GemmKernel.Vector512;
            if (g.Q % 8 == 0 && CpuInfo.Current.Fma512Over256 < 1.5) return GemmKernel.Vector256;
            return null;
        }
        return pathKernel == GemmKernel.Vector256 && g.Q % 8 == 0 ? GemmKernel.Vector256 : null;
    }

    /// <summary>W packed into MR-row panels per depth block: block b holds depth [b*Kc, min(D, (b+1)*Kc)),
    /// panel i its rows [i*MR, (i+1)*MR) as a[p * MR + m] (rows past M are zeros). One per calling
    /// thread, its array grown as needed and reused by every layer (no allocation per call once warm).</summary>
    private sealed class DirectWeights
    {
        public float[] Values = Array.Empty<float>();
        public int M, Depth, Kc, MR, Panels;

        public void Shape(int m, int depth, int kc, int mr)
        {
            M = m; Depth = depth; Kc = kc; MR = mr;
            Panels = (m + mr - 1) / mr;
            long need = (long)Panels * mr * depth + 16;
            if (Values.Length < need) Values = GC.AllocateUninitializedArray<float>((int)need);
        }

        /// <summary>Offset of panel <paramref name="panel"/> of the block that starts at depth d0.</summary>
        public long Offset(int d0, int panel) => (long)d0 * Panels * MR + (long)panel * MR * Math.Min(Kc, Depth - d0);
    }

    [ThreadStatic] private static DirectWeights? t_directWeights;

    /// <summary>Packs A (M rows, Depth columns) with a[row, d] = value(row, d) for the direct kernels, in
    /// shrinking chunks (ForGuided): a helper that starts late claims a small last piece, which the
    /// caller then waits for, not an eighth of the weights.</summary>
    private static unsafe DirectWeights PackDirectWeights(float[] w, ConvGeometry g, bool flipTransposed, GemmKernel kernel)
    {
        using var _ = Instance.Time("pack_weights");
        int mr = CpuGemm.TileOf(kernel).MR;
        // forward: A[k, (c,r,s)] = w[k, c, r, s]; backward-data (transposed conv): A[c, (k,r',s')] =
        // w[k, c, R-1-r', S-1-s']
        int rs = g.R * g.S;
        int m = flipTransposed ? g.C : g.K, depth = flipTransposed ? g.K * rs : g.Crs;
        int blocks = (depth + CpuGemm.KC - 1) / CpuGemm.KC;
        int kc = Math.Min(CpuGemm.KC, (depth + blocks - 1) / blocks);
        var packed = t_directWeights ??= new DirectWeights();
        packed.Shape(m, depth, kc, mr);
        int C = g.C;
        if (flipTransposed)
        {
            // depth block by depth block: a block's kernels are one contiguous run of w, read in order
            // first (so it streams into L2), then dealt out to the panels from there
            ForGuided(blocks, 1, (b0, b1) =>
            {
                fixed (float* ws = w, ds = packed.Values)
                    for (int b = b0; b < b1; b++)
                    {
                        int d0 = b * kc, len = Math.Min(kc, depth - d0);
                        long first = (long)(d0 / rs) * C * rs, end = ((long)(d0 + len - 1) / rs + 1) * C * rs;
                        CpuGemm.Prefetch(ws + first, (int)(end - first));   // in order: the run streams into cache
                        for (int i = 0; i < packed.Panels; i++)
                            PackFlippedPanel(ws, C, rs, i * mr, Math.Min(mr, m - i * mr), mr, d0, len, ds + packed.Offset(d0, i));
                    }
            });
            return packed;
        }
        ForGuided(packed.Panels, 1, (i0, i1) =>
        {
            fixed (float* ws = w, ds = packed.Values)
                for (int i = i0; i < i1; i++)
                    for (int d0 = 0; d0 < depth; d0 += kc)
                    {
                        int len = Math.Min(kc, depth - d0), rows = Math.Min(mr, m - i * mr);
                        // panel i + 1 of the block follows panel i: where this thread packs it next, a
                        // store spilling past panel i is rewritten there
                        PackPanel(ws, depth, i * mr, rows, mr, d0, len, ds + packed.Offset(d0, i), spillSafe: i + 1 < i1);
                    }
        });
        return packed;
    }

    /// <summary>One MR-row panel of W (M x depth, row-major) over depth [d0, d0 + len): the GEMM's own
    /// packing (8x8 transposes). For MR = 6 it stores 8 wide and spills 2 floats past the panel:
    /// straight into place where the caller rewrites what follows (<paramref name="spillSafe"/>), else
    /// into a scratch panel and then one copy into place.</summary>
    private static unsafe void PackPanel(float* w, int depth, int row0, int rows, int mr, int d0, int len, float* dst, bool spillSafe)
    {
        if (spillSafe || mr % 8 == 0) { CpuGemm.PackA(false, w, depth, row0, rows, d0, len, mr, dst); return; }
        float* panel = stackalloc float[CpuGemm.KC * 8 + 16];
        CpuGemm.PackA(false, w, depth, row0, rows, d0, len, mr, panel);
        Buffer.MemoryCopy(panel, dst, (long)len * mr * sizeof(float), (long)len * mr * sizeof(float));
    }

    /// <summary>One MR-row panel of W flipped and transposed, A[c, (k, t)] = w[k, c, rs-1-t], over depth
    /// [d0, d0 + len): a full 8- or 6-row panel one depth step at a time (floats rs apart, one store),
    /// others one row at a time (each row's runs of rs floats, kStep apart).</summary>
    private static unsafe void PackFlippedPanel(float* w, int C, int rs, int row0, int rows, int mr, int d0, int len, float* dst)
    {
        long kStep = (long)C * rs;
        if ((mr == 8 || mr == 6) && rows == mr && len > 0 && Vector256.IsHardwareAccelerated)
        {
            // a depth step's mr values (rs apart in w) built in a register and stored 8 wide. At mr = 6
            // lanes 6 and 7 repeat row 5 and land in the next step's place, rewritten by it; the last
            // step is stored exactly, as past the panel lies another one, perhaps another thread's
            int k = d0 / rs, t = d0 - k * rs;
            float* src = w + k * kStep + (long)row0 * rs + rs - 1;
            long r2 = 2L * rs, r3 = 3L * rs, r4 = 4L * rs, r5 = 5L * rs;
            long r6 = mr == 8 ? 6L * rs : r5, r7 = mr == 8 ? 7L * rs : r5;
            for (int p = 0; p < len; p++)
            {
                float* s = src - t;
                var v = Vector256.Create(s[0], s[rs], s[r2], s[r3], s[r4], s[r5], s[r6], s[r7]);
                if (mr == 8 || p < len - 1) v.Store(dst + p * mr);
                else
                {
                    v.GetLower().Store(dst + p * 6);
                    dst[p * 6 + 4] = v.GetElement(4);
                    dst[p * 6 + 5] = v.GetElement(5);
                }
                if (++t == rs) { t = 0; src += kStep; }
            }
            return;
        }
        for (int mm = 0; mm < mr; mm++)
        {
            if (mm >= rows) { for (int p = 0; p < len; p++) dst[p * mr + mm] = 0; continue; }
            // depth d = (k, t): walk k and t along instead of dividing per element
            int k = d0 / rs, t = d0 - k * rs;
            float* src = w + ((long)k * C + row0 + mm) * rs + rs - 1;
            for (int p = 0; p < len; p++)
            {
                dst[p * mr + mm] = src[-t];
                if (++t == rs) { t = 0; src += kStep; }
            }
        }
    }

    /// <summary>y (N, K, P, Q) = the stride-1 or -2 convolution of x with the packed weights (no bias):
    /// images side by side where they share the cores, else one image at a time with its tiles
    /// shared out.</summary>
    private unsafe void DirectForward(float[] x, DirectWeights a, float[] y, ConvGeometry g, GemmKernel kernel)
    {
        using var _ = Time("direct");
        int v = DirectVector(kernel), nr = 2 * v, pq = g.P * g.Q;
        if (a.MR != CpuGemm.TileOf(kernel).MR) throw new InvalidOperationException($"internal: weights packed for MR = {a.MR}, kernel {kernel}");
        int tiles = (pq + nr - 1) / nr;
        var layout = InputPlanes.Of(g);
        if (ImagesShareCores(g.N))
        {
            // work item (image, quarter of its channel panels), in shrinking chunks: whole images first,
            // quarters at the end, so the cores finish within a quarter image of each other (whole
            // images left them up to one apart: an eighth of conv3x3_256to256's pass at batch 8)
            int parts = Math.Min(ImageParts, a.Panels);
            ForGuided(g.N * parts, 1, (j0, j1) =>
            {
                foreach (var (n, _, p0, p1) in ImagePartRuns(j0, j1, parts, 1))
                    DirectTiles(kernel, a, PadImages(x, n, 1, g, layout, DirectBuffers.ForThisThread()), layout, y, n, g, 0, tiles,
                                PartStart(p0, parts, a.Panels), PartStart(p1, parts, a.Panels));
            });
            return;
        }
        for (int n = 0; n < g.N; n++)
        {
            float[] plane = PadImages(x, n, 1, g, layout, DirectBuffers.ForThisThread());
            int image = n;
            For(tiles, Math.Max(1, ParallelThreshold / Math.Max(1, nr * a.M)), (t0, t1) =>
                DirectTiles(kernel, a, plane, layout, y, image, g, t0, t1, 0, a.Panels));
        }
    }

    /// <summary>Parts an image's work is cut into where images share the cores: a guided loop over
    /// (image, part) items ends on single parts.</summary>
    private const int ImageParts = 4;

    /// <summary>The images of items [j0, j1) (item j: image j / parts, part j % parts) as (n, count, first
    /// part, end part): whole images in runs of up to <paramref name="maxImages"/> (parts 0 to parts), else
    /// one image's parts [first, end).</summary>
    private static IEnumerable<(int N, int Count, int First, int End)> ImagePartRuns(int j0, int j1, int parts, int maxImages)
    {
        for (int j = j0; j < j1;)
        {
            int n = j / parts, first = j - n * parts;
            int whole = first == 0 ? Math.Min(maxImages, (j1 - j) / parts) : 0;
            if (whole > 0) { yield return (n, whole, 0, parts); j += whole * parts; continue; }
            int end = Math.Min(parts, j1 - n * parts);
            yield return (n, 1, first, end);
            j = n * parts + end;
        }
    }

    /// <summary>First of <paramref name="count"/> items in part <paramref name="part"/> of <paramref name="parts"/>
    /// (part == parts gives count).</summary>
    private static int PartStart(int part, int parts, int count) => (int)((long)part * count / parts);

    /// <summary>Tiles [t0, t1) of image n, channel panels [i0, i1): each MR x NR block of y over every depth block.</summary>
    private static unsafe void DirectTiles(GemmKernel kernel, DirectWeights a, float[] plane, InputPlanes layout, float[] y,
                                           int n, ConvGeometry g, int t0, int t1, int i0, int i1)
    {
        int v = DirectVector(kernel), nr = 2 * v, mr = a.MR, pq = g.P * g.Q, Q = g.Q;
        int wp = layout.Wp, M = a.M;
        int[] offsets = layout.Offsets;
        float* scratch = stackalloc float[8 * 32];
        fixed (float* ps = plane, ys = y, aps = a.Values)
        fixed (int* os = offsets)
        {
            float* yImage = ys + (long)n * M * pq;
            for (int d0 = 0; d0 < a.Depth; d0 += a.Kc)
            {
                int kc = Math.Min(a.Kc, a.Depth - d0);
                bool accumulate = d0 > 0;
                for (int t = t0; t < t1; t++)
                {
                    int pix = t * nr, cols = Math.Min(nr, pq - pix);
                    int pix1 = cols > v ? pix + v : pix;   // a half past the image end reads the first half again
                    float* b0 = ps + (long)(pix / Q) * wp + pix % Q;
                    float* b1 = ps + (long)(pix1 / Q) * wp + pix1 % Q;
                    for (int i = i0; i < i1; i++)
                    {
                        int rows = Math.Min(mr, M - i * mr);
                        float* ap = aps + a.Offset(d0, i);
                        float* c = yImage + (long)i * mr * pq + pix;
                        if (rows == mr && cols == nr)
                            DirectKernel(kernel, kc, ap, b0, b1, os + d0, c, pq, accumulate);
                        else if (cols == nr && rows <= 4 && mr == 6 && CpuGemm.RemainderRowKernels)
                            DirectRows6x16(rows, kc, ap, b0, b1, os + d0, c, pq, accumulate);   // the last panel of K % 6 rows
                        else
                        {
                            DirectKernel(kernel, kc, ap, b0, b1, os + d0, scratch, nr, false);
                            for (int r = 0; r < rows; r++)
                                for (int j = 0; j < cols; j++)
                                    c[(long)r * pq + j] = accumulate ? c[(long)r * pq + j] + scratch[r * nr + j] : scratch[r * nr + j];
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void DirectKernel(GemmKernel kernel, int kc, float* a, float* b0, float* b1, int* offsets,
                                            float* c, int ldc, bool accumulate)
    {
        if (kernel == GemmKernel.Vector512) Direct8x32(kc, a, b0, b1, offsets, c, ldc, accumulate);
        else Direct6x16(kc, a, b0, b1, offsets, c, ldc, accumulate);
    }

    /// <summary>c[8 x 32] (+)= a (8 x kc panel) * B, where B's row p is the 16 floats at b0 + off[p]
    /// then the 16 at b1 + off[p]: CpuGemm.Kernel8x32 with its B loads redirected.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Direct8x32(int kc, float* a, float* b0, float* b1, int* off, float* c, int ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        // walking the offset pointer (not indexing off[p]) loads and widens the offset in one instruction
        for (int* end = off + kc; off < end; off++)
        {
            nint o = *off;   // loaded and widened in one instruction (movsxd)
            var x0 = Vector512.Load(b0 + o);
            var x1 = Vector512.Load(b1 + o);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, x0, c00); c01 = Vector512.FusedMultiplyAdd(x, x1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, x0, c10); c11 = Vector512.FusedMultiplyAdd(x, x1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, x0, c20); c21 = Vector512.FusedMultiplyAdd(x, x1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, x0, c30); c31 = Vector512.FusedMultiplyAdd(x, x1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, x0, c40); c41 = Vector512.FusedMultiplyAdd(x, x1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, x0, c50); c51 = Vector512.FusedMultiplyAdd(x, x1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, x0, c60); c61 = Vector512.FusedMultiplyAdd(x, x1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, x0, c70); c71 = Vector512.FusedMultiplyAdd(x, x1, c71);
            a += 8;
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store512(float* c, Vector512<float> x0, Vector512<float> x1, bool accumulate)
    {
        if (accumulate) { x0 += Vector512.Load(c); x1 += Vector512.Load(c + 16); }
        x0.Store(c);
        x1.Store(c + 16);
    }

    /// <summary>c[6 x 16] (+)= a (6 x kc panel) * B, B's row p the 8 floats at b0 + off[p] then the 8
    /// at b1 + off[p]: 12 accumulators, 2 B vectors and a broadcast in the 16 ymm registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void Direct6x16(int kc, float* a, float* b0, float* b1, int* off, float* c, int ldc, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        // a native-width index: the offset loads and widens in one instruction (movsxd r, [off + 4*i]); with
        // an int index, or a walking pointer the JIT turns into one, it took three (26 instructions a step)
        for (nint p = 0; p < kc; p++)
        {
            nint o = off[p];
            var x0 = Vector256.Load(b0 + o);
            var x1 = Vector256.Load(b1 + o);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, x0, c00); c01 = Vector256.FusedMultiplyAdd(x, x1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, x0, c10); c11 = Vector256.FusedMultiplyAdd(x, x1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, x0, c20); c21 = Vector256.FusedMultiplyAdd(x, x1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, x0, c30); c31 = Vector256.FusedMultiplyAdd(x, x1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, x0, c40); c41 = Vector256.FusedMultiplyAdd(x, x1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, x0, c50); c51 = Vector256.FusedMultiplyAdd(x, x1, c51);
            a += 6;
        }
        Store256(c, c00, c01, accumulate); c += ldc;
        Store256(c, c10, c11, accumulate); c += ldc;
        Store256(c, c20, c21, accumulate); c += ldc;
        Store256(c, c30, c31, accumulate); c += ldc;
        Store256(c, c40, c41, accumulate); c += ldc;
        Store256(c, c50, c51, accumulate);
    }

    /// <summary>The first <paramref name="rows"/> (1-4) rows of Direct6x16's tile, in place, for the 256-bit
    /// path's last panel where M is not a multiple of 6 (K = 64: 10 panels and 4 rows; 128: 21 and 2), instead
    /// of a whole 6-row tile through the scratch tile. <paramref name="a"/> is the panel packed 6 rows wide.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static unsafe void DirectRows6x16(int rows, int kc, float* a, float* b0, float* b1, int* off, float* c, int ldc, bool accumulate)
    {
        // the GEMM's row kernels, reading B through the offset table
        Vector256<float> c00, c01, c10, c11, c20 = default, c21 = default, c30 = default, c31 = default;
        if (rows > 2) CpuGemm.Rows4x16(kc, a, b0, b1, off, out c00, out c01, out c10, out c11, out c20, out c21, out c30, out c31);
        else CpuGemm.Rows2x16(kc, a, b0, b1, off, out c00, out c01, out c10, out c11);
        Store256(c, c00, c01, accumulate);
        if (rows > 1) Store256(c + ldc, c10, c11, accumulate);
        if (rows > 2) Store256(c + 2L * ldc, c20, c21, accumulate);
        if (rows > 3) Store256(c + 3L * ldc, c30, c31, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store256(float* c, Vector256<float> x0, Vector256<float> x1, bool accumulate)
    {
        if (accumulate) { x0 += Vector256.Load(c); x1 += Vector256.Load(c + 8); }
        x0.Store(c);
        x1.Store(c + 8);
    }
}
