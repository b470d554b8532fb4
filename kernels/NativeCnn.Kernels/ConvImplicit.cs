// Float32 convolution as implicit GEMM: the three products of a conv read x, w, gy where they lie
// (NCHW, (K, C, R, S)) and write y, gx, gw directly; no column buffer, no image/channel swap, no fold.
//   forward          y  (N,K,P,Q) = W  (K, CRS)  x X^ (CRS, N*PQ)      X^[crs, npq] = x[n, c, h, w] or 0
//   backward-data    gx (N,C,H,W) = W' (C, KRS)  x G^ (KRS, N*HW)      W'[c, krs] = w[k, c, r, s],
//                                                                      G^[krs, nhw] = gy[n, k, p, q] or 0
//   backward-weight  gw (K, CRS)  = G  (K, N*PQ) x X^T (N*PQ, CRS)     in k segments along grid z
// with h = p*strideH - padH + r*dilationH (w likewise). Backward-data is a gather over the taps that
// read each input pixel, so every gx element is written once: no atomics, deterministic.
// Tiling: a group of 128 threads computes a 64 (M) x 128 (N) tile; each thread an 8x8 register tile
// (rows 4ty+i and 32+4ty+i, columns 4tx+j and 64+4tx+j; tx = t & 15, ty = t >> 4) fed by 16-byte
// shared loads, k slices 8 deep, double-buffered (the arithmetic of GemmWide.cs on a 64-row tile, which
// resnet18's 64-channel products fill). Rows of the reduction are decoded through a tap table built
// by the host (ConvImplicitKernels.ForwardTaps / DataTaps), padded with taps that read nothing, so the
// inner loop divides by nothing.
// What must hold: every element of y, gx, gw (or of the segment's partial product) is written (=),
// never read; padding and edges contribute zeros.
using ILGPU;
using ILGPU.Runtime;

namespace NativeCnn.Kernels;

/// <summary>One row of a conv reduction: where it reads the gathered operand (X: offset from the
/// column's base, Dh/Dw: its displacement in rows and columns) and, for backward-data, the weight (A).</summary>
internal struct ConvTap
{
    public int X, A, Dh, Dw;
}

internal static class ConvImplicitKernels
{
    public const int TileM = 64, TileN = 128, TileK = 8;
    public const int GroupThreads = 128;
    private const int LdA = 68, LdB = 132;              // padded shared rows (floats), multiples of 4
    private const int BufA = TileK * LdA, BufB = TileK * LdB;
    /// <summary>Taps that read nothing: their displacement puts every pixel outside the image.</summary>
    private const int Far = 1 << 28;
    /// <summary>Launch bounds: 128 threads, four groups per SM, so ptxas keeps to 128 registers.</summary>
    public static KernelSpecialization Specialization => new(GroupThreads, 4);

    /// <summary>Taps of the forward and backward-weight reduction, crs = (c*R + r)*S + s, padded to
    /// <paramref name="length"/> (at least C*R*S) with taps outside the image.</summary>
    public static ConvTap[] ForwardTaps(ConvShape s, int length)
    {
        var taps = new ConvTap[length];
        int i = 0;
        for (int c = 0; c < s.C; c++)
            for (int r = 0; r < s.R; r++)
                for (int q = 0; q < s.S; q++, i++)
                    taps[i] = new ConvTap { X = (c * s.H + r * s.DilationH) * s.W + q * s.DilationW, Dh = r * s.DilationH, Dw = q * s.DilationW };
        for (; i < length; i++) taps[i] = new ConvTap { Dh = -Far };
        return taps;
    }

    /// <summary>Taps of the backward-data reduction, krs = (k*R + r)*S + s: X = k*P*Q (the gradient's
    /// channel), A = k*C*R*S + r*S + s (the weight, channel 0), padded to <paramref name="length"/>.</summary>
    public static ConvTap[] DataTaps(ConvShape s, int length)
    {
        var taps = new ConvTap[length];
        int i = 0;
        for (int k = 0; k < s.K; k++)
            for (int r = 0; r < s.R; r++)
                for (int q = 0; q < s.S; q++, i++)
                    taps[i] = new ConvTap { X = k * s.P * s.Q, A = (k * s.C * s.R + r) * s.S + q, Dh = r * s.DilationH, Dw = q * s.DilationW };
        for (; i < length; i++) taps[i] = new ConvTap { Dh = Far };
        return taps;
    }

    // x: (N, C, H, W), w: (K, C*R*S), taps: ForwardTaps (>= ceil(CRS/8)*8) -> y: (N, K, P, Q) =
    // grid: (ceil(N*P*Q / 128), ceil(K / 64)), group: 128
    public static void ConvImplicitForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<ConvTap> taps,
                                                 ArrayView<float> y, ConvShape s)
    {
        var sa4 = SharedMemory.Allocate<Vec4>(2 * BufA / 4);
        var sb4 = SharedMemory.Allocate<Vec4>(2 * BufB / 4);
        var sa = sa4.Cast<float>();
        var sb = sb4.Cast<float>();
        int t = Group.IdxX;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        int pq = s.P * s.Q, crs = s.C * s.R * s.S, columns = s.N * pq;

        // A = W: rows m0 + (t >> 3) + 16j, depth t & 7 (runs of 8 along crs)
        int aRow = t >> 3, aKk = t & 7;
        // B: this thread's column (one output pixel) for the whole kernel, depth 0..7
        var col = Pixel.Output(s, n0 + t, columns);
        var acc = new Tile8x8();
        var pa = new Slice4(); var pb = new Slice8();

        LoadWeight(w, crs, s.K, m0 + aRow, aKk, 0, ref pa);
        col.Gather(x, taps, s, 0, ref pb);
        StoreA(sa, 0, aRow, aKk, ref pa);
        StoreColumn(sb, 0, t, ref pb);
        LoadWeight(w, crs, s.K, m0 + aRow, aKk, TileK, ref pa);
        col.Gather(x, taps, s, TileK, ref pb);
        Group.Barrier();

        int buf = 0;
        for (int k0 = 0; k0 < crs; k0 += TileK)
        {
            if (k0 + TileK < crs)
            {
                StoreA(sa, (buf ^ 1) * BufA, aRow, aKk, ref pa);
                StoreColumn(sb, (buf ^ 1) * BufB, t, ref pb);
                if (k0 + 2 * TileK < crs)
                {
                    LoadWeight(w, crs, s.K, m0 + aRow, aKk, k0 + 2 * TileK, ref pa);
                    col.Gather(x, taps, s, k0 + 2 * TileK, ref pb);
                }
            }
            Multiply(sa4, sb4, buf, t, ref acc);
            Group.Barrier();
            buf ^= 1;
        }

        // y[n, k, p, q]: rows are output channels, columns output pixels
        int row = m0 + 4 * (t >> 4), c0 = n0 + 4 * (t & 15);
        StoreTile(y, ref acc, row, c0, s.K, columns, pq, s.K * pq);
    }

    // gy: (N, K, P, Q), w: (K, C, R, S), taps: DataTaps (>= ceil(KRS/8)*8) -> gx: (N, C, H, W) =
    // grid: (ceil(N*H*W / 128), ceil(C / 64)), group: 128
    public static void ConvImplicitBackwardDataKernel(ArrayView<float> gy, ArrayView<float> w, ArrayView<ConvTap> taps,
                                                      ArrayView<float> gx, ConvShape s)
    {
        var sa4 = SharedMemory.Allocate<Vec4>(2 * BufA / 4);
        var sb4 = SharedMemory.Allocate<Vec4>(2 * BufB / 4);
        var sa = sa4.Cast<float>();
        var sb = sb4.Cast<float>();
        int t = Group.IdxX;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        int hw = s.H * s.W, krs = s.K * s.R * s.S, columns = s.N * hw, rs = s.R * s.S;

        int aRow = t >> 3, aKk = t & 7;
        var col = Pixel.Input(s, n0 + t, columns);
        var acc = new Tile8x8();
        var pa = new Slice4(); var pb = new Slice8();

        LoadWeightT(w, taps, rs, krs, s.C, m0 + aRow, aKk, 0, ref pa);
        col.Scatter(gy, taps, s, 0, ref pb);
        StoreA(sa, 0, aRow, aKk, ref pa);
        StoreColumn(sb, 0, t, ref pb);
        LoadWeightT(w, taps, rs, krs, s.C, m0 + aRow, aKk, TileK, ref pa);
        col.Scatter(gy, taps, s, TileK, ref pb);
        Group.Barrier();

        int buf = 0;
        for (int k0 = 0; k0 < krs; k0 += TileK)
        {
            if (k0 + TileK < krs)
            {
                StoreA(sa, (buf ^ 1) * BufA, aRow, aKk, ref pa);
                StoreColumn(sb, (buf ^ 1) * BufB, t, ref pb);
                if (k0 + 2 * TileK < krs)
                {
                    LoadWeightT(w, taps, rs, krs, s.C, m0 + aRow, aKk, k0 + 2 * TileK, ref pa);
                    col.Scatter(gy, taps, s, k0 + 2 * TileK, ref pb);
                }
            }
            Multiply(sa4, sb4, buf, t, ref acc);
            Group.Barrier();
            buf ^= 1;
        }

        int row = m0 + 4 * (t >> 4), c0 = n0 + 4 * (t & 15);
        StoreTile(gx, ref acc, row, c0, s.C, columns, hw, s.C * hw);
    }

    // gy: (N, K, P, Q), x: (N, C, H, W), taps: ForwardTaps (>= ceil(CRS/128)*128)
    //   -> gw: (segments, K, C*R*S) = the partial product of pixels [z*segment, (z+1)*segment) (=)
    // grid: (ceil(CRS / 128), ceil(K / 64), segments), group: 128; segment a multiple of 8
    public static void ConvImplicitBackwardWeightKernel(ArrayView<float> gy, ArrayView<float> x, ArrayView<ConvTap> taps,
                                                        ArrayView<float> gw, ConvShape s, int segment)
    {
        var sa4 = SharedMemory.Allocate<Vec4>(2 * BufA / 4);
        var sb4 = SharedMemory.Allocate<Vec4>(2 * BufB / 4);
        var sa = sa4.Cast<float>();
        var sb = sb4.Cast<float>();
        int t = Group.IdxX;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        int pq = s.P * s.Q, crs = s.C * s.R * s.S;
        int first = Grid.IdxZ * segment;
        int end = System.Math.Min(s.N * pq, first + segment);
        if (first >= end) return;   // uniform across the group: no barrier is skipped by some threads only

        // both operands at depth t & 7 (one pixel per thread per slice, stepped by 8 pixels a slice);
        // A = gy rows m0 + (t >> 3) + 16j, B = X^T columns n0 + (t >> 3) + 16j
        int row0 = t >> 3, kk = t & 7;
        var px = new Walk(s, first + kk);
        var acc = new Tile8x8();
        var pa = new Slice4(); var pb = new Slice8();

        px.Load(gy, x, taps, s, m0 + row0, n0 + row0, end, ref pa, ref pb);
        StoreA(sa, 0, row0, kk, ref pa);
        StoreRows(sb, 0, row0, kk, ref pb);
        px.Advance(s);
        px.Load(gy, x, taps, s, m0 + row0, n0 + row0, end, ref pa, ref pb);
        Group.Barrier();

        int buf = 0;
        for (int k0 = first; k0 < end; k0 += TileK)
        {
            if (k0 + TileK < end)
            {
                StoreA(sa, (buf ^ 1) * BufA, row0, kk, ref pa);
                StoreRows(sb, (buf ^ 1) * BufB, row0, kk, ref pb);
                if (k0 + 2 * TileK < end)
                {
                    px.Advance(s);
                    px.Load(gy, x, taps, s, m0 + row0, n0 + row0, end, ref pa, ref pb);
                }
            }
            Multiply(sa4, sb4, buf, t, ref acc);
            Group.Barrier();
            buf ^= 1;
        }

        // gw[z, k, crs], dense rows of CRS
        int row = m0 + 4 * (t >> 4), c0 = n0 + 4 * (t & 15);
        int zBase = Grid.IdxZ * s.K * crs;
        StoreDense(gw, ref acc, zBase, row, c0, s.K, crs);
    }

    // ---- operand loads -----------------------------------------------------------------

    /// <summary>W (rows, depth) row-major: rows row0 + 16j at depth k0 + kk (zero outside).</summary>
    private static void LoadWeight(ArrayView<float> w, int depth, int rows, int row0, int kk, int k0, ref Slice4 r)
    {
        int k = k0 + kk;
        bool inK = k < depth;
        int p = row0 * depth + k;
        r.V0 = inK && row0 < rows ? w[p] : 0f;
        r.V1 = inK && row0 + 16 < rows ? w[p + 16 * depth] : 0f;
        r.V2 = inK && row0 + 32 < rows ? w[p + 32 * depth] : 0f;
        r.V3 = inK && row0 + 48 < rows ? w[p + 48 * depth] : 0f;
    }

    /// <summary>W'[c, krs] = w[k, c, r, s]: input channels c0 + 16j at depth k0 + kk through the tap's weight offset.</summary>
    private static void LoadWeightT(ArrayView<float> w, ArrayView<ConvTap> taps, int rs, int depth, int channels,
                                    int c0, int kk, int k0, ref Slice4 r)
    {
        int k = k0 + kk;
        bool inK = k < depth;
        int p = (inK ? taps[k].A : 0) + c0 * rs;
        r.V0 = inK && c0 < channels ? w[p] : 0f;
        r.V1 = inK && c0 + 16 < channels ? w[p + 16 * rs] : 0f;
        r.V2 = inK && c0 + 32 < channels ? w[p + 32 * rs] : 0f;
        r.V3 = inK && c0 + 48 < channels ? w[p + 48 * rs] : 0f;
    }

    /// <summary>A column of the forward or backward-data product: one pixel, decoded once.</summary>
    private struct Pixel
    {
        private int _base, _h, _w;   // forward: top-left input pixel of the window; backward-data: h + padH, w + padW
        private bool _inside;

        /// <summary>Output pixel j = (n, p, q) of the forward product.</summary>
        public static Pixel Output(ConvShape s, int j, int columns)
        {
            var c = new Pixel { _inside = j < columns };
            if (!c._inside) return c;
            int pq = s.P * s.Q;
            int n = j / pq, rem = j - n * pq;
            int p = rem / s.Q, q = rem - p * s.Q;
            c._h = p * s.StrideH - s.PadH;
            c._w = q * s.StrideW - s.PadW;
            c._base = n * s.C * s.H * s.W + c._h * s.W + c._w;
            return c;
        }

        /// <summary>Input pixel j = (n, h, w) of the backward-data product.</summary>
        public static Pixel Input(ConvShape s, int j, int columns)
        {
            var c = new Pixel { _inside = j < columns };
            if (!c._inside) return c;
            int hw = s.H * s.W;
            int n = j / hw, rem = j - n * hw;
            int h = rem / s.W;
            c._h = h + s.PadH;
            c._w = rem - h * s.W + s.PadW;
            c._base = n * s.K * s.P * s.Q;
            return c;
        }

        /// <summary>X^[k0 + i, this pixel] for i = 0..7.</summary>
        public readonly void Gather(ArrayView<float> x, ArrayView<ConvTap> taps, ConvShape s, int k0, ref Slice8 r)
        {
            r.V0 = Tap(x, taps[k0], s); r.V1 = Tap(x, taps[k0 + 1], s);
            r.V2 = Tap(x, taps[k0 + 2], s); r.V3 = Tap(x, taps[k0 + 3], s);
            r.V4 = Tap(x, taps[k0 + 4], s); r.V5 = Tap(x, taps[k0 + 5], s);
            r.V6 = Tap(x, taps[k0 + 6], s); r.V7 = Tap(x, taps[k0 + 7], s);
        }

        private readonly float Tap(ArrayView<float> x, ConvTap tap, ConvShape s)
        {
            int h = _h + tap.Dh, w = _w + tap.Dw;
            return _inside && (uint)h < (uint)s.H && (uint)w < (uint)s.W ? x[_base + tap.X] : 0f;
        }

        /// <summary>G^[k0 + i, this pixel] for i = 0..7: the output pixel that reads it through each tap.</summary>
        public readonly void Scatter(ArrayView<float> gy, ArrayView<ConvTap> taps, ConvShape s, int k0, ref Slice8 r)
        {
            r.V0 = Back(gy, taps[k0], s); r.V1 = Back(gy, taps[k0 + 1], s);
            r.V2 = Back(gy, taps[k0 + 2], s); r.V3 = Back(gy, taps[k0 + 3], s);
            r.V4 = Back(gy, taps[k0 + 4], s); r.V5 = Back(gy, taps[k0 + 5], s);
            r.V6 = Back(gy, taps[k0 + 6], s); r.V7 = Back(gy, taps[k0 + 7], s);
        }

        private readonly float Back(ArrayView<float> gy, ConvTap tap, ConvShape s)
        {
            int ph = _h - tap.Dh, qw = _w - tap.Dw;
            if (!_inside || ph < 0 || qw < 0) return 0f;
            int p = ph, q = qw;
            if (s.StrideH != 1) { p = ph / s.StrideH; if (p * s.StrideH != ph) return 0f; }
            if (s.StrideW != 1) { q = qw / s.StrideW; if (q * s.StrideW != qw) return 0f; }
            return p < s.P && q < s.Q ? gy[_base + tap.X + p * s.Q + q] : 0f;
        }
    }

    /// <summary>Backward-weight's reduction index for one thread: the pixel (n, p, q) it reads this
    /// slice, stepped by 8 pixels per slice without dividing.</summary>
    private struct Walk
    {
        private int _j, _n, _p, _q;

        public Walk(ConvShape s, int j)
        {
            int pq = s.P * s.Q;
            _j = j;
            _n = j / pq;
            int rem = j - _n * pq;
            _p = rem / s.Q;
            _q = rem - _p * s.Q;
        }

        public void Advance(ConvShape s)
        {
            _j += TileK;
            _q += TileK;
            while (_q >= s.Q)
            {
                _q -= s.Q;
                if (++_p == s.P) { _p = 0; _n++; }
            }
        }

        /// <summary>A: gy rows (output channels) k0 + 16i at this pixel; B: X^T columns (crs) c0 + 16i at this pixel.</summary>
        public readonly void Load(ArrayView<float> gy, ArrayView<float> x, ArrayView<ConvTap> taps, ConvShape s,
                                  int k0, int c0, int end, ref Slice4 a, ref Slice8 b)
        {
            bool inside = _j < end;
            int pq = s.P * s.Q;
            int g = _n * s.K * pq + _p * s.Q + _q + k0 * pq;
            a.V0 = inside && k0 < s.K ? gy[g] : 0f;
            a.V1 = inside && k0 + 16 < s.K ? gy[g + 16 * pq] : 0f;
            a.V2 = inside && k0 + 32 < s.K ? gy[g + 32 * pq] : 0f;
            a.V3 = inside && k0 + 48 < s.K ? gy[g + 48 * pq] : 0f;
            int h = _p * s.StrideH - s.PadH, w = _q * s.StrideW - s.PadW;
            int xb = _n * s.C * s.H * s.W + h * s.W + w;
            b.V0 = X(x, taps[c0], inside, h, w, xb, s); b.V1 = X(x, taps[c0 + 16], inside, h, w, xb, s);
            b.V2 = X(x, taps[c0 + 32], inside, h, w, xb, s); b.V3 = X(x, taps[c0 + 48], inside, h, w, xb, s);
            b.V4 = X(x, taps[c0 + 64], inside, h, w, xb, s); b.V5 = X(x, taps[c0 + 80], inside, h, w, xb, s);
            b.V6 = X(x, taps[c0 + 96], inside, h, w, xb, s); b.V7 = X(x, taps[c0 + 112], inside, h, w, xb, s);
        }

        private static float X(ArrayView<float> x, ConvTap tap, bool inside, int h, int w, int xb, ConvShape s) =>
            inside && (uint)(h + tap.Dh) < (uint)s.H && (uint)(w + tap.Dw) < (uint)s.W ? x[xb + tap.X] : 0f;
    }

    // ---- shared memory and the register tile -------------------------------------------

    /// <summary>An A slice element pattern: rows row0 + 16j at depth kk.</summary>
    private static void StoreA(ArrayView<float> sa, int bufferBase, int row0, int kk, ref Slice4 r)
    {
        int q = bufferBase + kk * LdA + row0;
        sa[q] = r.V0; sa[q + 16] = r.V1; sa[q + 32] = r.V2; sa[q + 48] = r.V3;
    }

    /// <summary>A B slice column: depths 0..7 of column t.</summary>
    private static void StoreColumn(ArrayView<float> sb, int bufferBase, int t, ref Slice8 r)
    {
        int q = bufferBase + t;
        sb[q] = r.V0; sb[q + LdB] = r.V1; sb[q + 2 * LdB] = r.V2; sb[q + 3 * LdB] = r.V3;
        sb[q + 4 * LdB] = r.V4; sb[q + 5 * LdB] = r.V5; sb[q + 6 * LdB] = r.V6; sb[q + 7 * LdB] = r.V7;
    }

    /// <summary>A B slice row pattern: columns col0 + 16j at depth kk.</summary>
    private static void StoreRows(ArrayView<float> sb, int bufferBase, int col0, int kk, ref Slice8 r)
    {
        int q = bufferBase + kk * LdB + col0;
        sb[q] = r.V0; sb[q + 16] = r.V1; sb[q + 32] = r.V2; sb[q + 48] = r.V3;
        sb[q + 64] = r.V4; sb[q + 80] = r.V5; sb[q + 96] = r.V6; sb[q + 112] = r.V7;
    }

    /// <summary>The 8 k steps of buffer <paramref name="buf"/>, four per trip (ILGPU 1.5.3 does not
    /// unroll; the loop also keeps the caller's barrier in a block of its own, see GemmWide.cs).</summary>
    private static void Multiply(ArrayView<Vec4> sa4, ArrayView<Vec4> sb4, int buf, int t, ref Tile8x8 acc)
    {
        int ta = buf * (BufA / 4) + (t >> 4), tb = buf * (BufB / 4) + (t & 15);
        for (int kk = 0; kk < TileK; kk += 4)
        {
            acc.Step(sa4, sb4, ta + kk * (LdA / 4), tb + kk * (LdB / 4));
            acc.Step(sa4, sb4, ta + (kk + 1) * (LdA / 4), tb + (kk + 1) * (LdB / 4));
            acc.Step(sa4, sb4, ta + (kk + 2) * (LdA / 4), tb + (kk + 2) * (LdB / 4));
            acc.Step(sa4, sb4, ta + (kk + 3) * (LdA / 4), tb + (kk + 3) * (LdB / 4));
        }
    }

    /// <summary>The tile into an (images, rows, pixels) tensor: column j is pixel j % pixels of image j / pixels.</summary>
    private static void StoreTile(ArrayView<float> y, ref Tile8x8 acc, int row, int c0, int rows, int columns, int pixels, int image)
    {
        for (int j = 0; j < 8; j++)
        {
            int col = c0 + (j < 4 ? j : 60 + j);   // 4tx + j, then 64 + 4tx + (j - 4)
            if (col >= columns) continue;
            int n = col / pixels;
            Put(y, n * image + (col - n * pixels) + row * pixels, row, rows, pixels, acc.Column(j));
        }
    }

    private static void Put(ArrayView<float> y, int p, int row, int rows, int step, Column8 v)
    {
        if (row < rows) y[p] = v.V0;
        if (row + 1 < rows) y[p + step] = v.V1;
        if (row + 2 < rows) y[p + 2 * step] = v.V2;
        if (row + 3 < rows) y[p + 3 * step] = v.V3;
        if (row + 32 < rows) y[p + 32 * step] = v.V4;
        if (row + 33 < rows) y[p + 33 * step] = v.V5;
        if (row + 34 < rows) y[p + 34 * step] = v.V6;
        if (row + 35 < rows) y[p + 35 * step] = v.V7;
    }

    /// <summary>The tile into a dense (rows, columns) matrix at <paramref name="zBase"/>.</summary>
    private static void StoreDense(ArrayView<float> c, ref Tile8x8 acc, int zBase, int row, int c0, int rows, int columns)
    {
        for (int j = 0; j < 4; j++)
        {
            if (c0 + j < columns) Put(c, zBase + row * columns + c0 + j, row, rows, columns, acc.Column(j));
            if (c0 + 64 + j < columns) Put(c, zBase + row * columns + c0 + 64 + j, row, rows, columns, acc.Column(4 + j));
        }
    }

    /// <summary>Four floats read as one 16-byte shared load (written through the float view).</summary>
#pragma warning disable CS0649 // the fields are filled through sa / sb, the float views of the same shared memory
    private struct Vec4
    {
        public float X, Y, Z, W;
    }
#pragma warning restore CS0649

    /// <summary>One column of a thread's tile: its 8 rows (4ty+i, then 32+4ty+i).</summary>
    private struct Column8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;
    }

    /// <summary>Eight accumulators of one row: columns 4tx+j (C0..C3) and 64+4tx+j (C4..C7).</summary>
    private struct Row8
    {
        public float C0, C1, C2, C3, C4, C5, C6, C7;

        public void Fma(float a, Vec4 lo, Vec4 hi)
        {
            C0 += a * lo.X; C1 += a * lo.Y; C2 += a * lo.Z; C3 += a * lo.W;
            C4 += a * hi.X; C5 += a * hi.Y; C6 += a * hi.Z; C7 += a * hi.W;
        }

        public readonly float At(int j) => j switch { 0 => C0, 1 => C1, 2 => C2, 3 => C3, 4 => C4, 5 => C5, 6 => C6, _ => C7 };
    }

    /// <summary>A thread's 8x8 register tile: rows 4ty+i (R0..R3) and 32+4ty+i (R4..R7).</summary>
    private struct Tile8x8
    {
        public Row8 R0, R1, R2, R3, R4, R5, R6, R7;

        /// <summary>One k step from Vec4 offsets <paramref name="a"/> (rows; +8 Vec4s is +32 rows) and
        /// <paramref name="b"/> (columns; +16 Vec4s is +64 columns).</summary>
        public void Step(ArrayView<Vec4> sa4, ArrayView<Vec4> sb4, int a, int b)
        {
            Vec4 aLo = sa4[a], aHi = sa4[a + 8], bLo = sb4[b], bHi = sb4[b + 16];
            R0.Fma(aLo.X, bLo, bHi); R1.Fma(aLo.Y, bLo, bHi); R2.Fma(aLo.Z, bLo, bHi); R3.Fma(aLo.W, bLo, bHi);
            R4.Fma(aHi.X, bLo, bHi); R5.Fma(aHi.Y, bLo, bHi); R6.Fma(aHi.Z, bLo, bHi); R7.Fma(aHi.W, bLo, bHi);
        }

        /// <summary>Column j (0..7) of the tile: j &lt; 4 is 4tx+j, else 64+4tx+j-4.</summary>
        public readonly Column8 Column(int j) => new()
        {
            V0 = R0.At(j), V1 = R1.At(j), V2 = R2.At(j), V3 = R3.At(j),
            V4 = R4.At(j), V5 = R5.At(j), V6 = R6.At(j), V7 = R7.At(j),
        };
    }

    /// <summary>Four prefetched slice elements of one thread.</summary>
    private struct Slice4
    {
        public float V0, V1, V2, V3;
    }

    /// <summary>Eight prefetched slice elements of one thread.</summary>
    private struct Slice8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;
    }
}
