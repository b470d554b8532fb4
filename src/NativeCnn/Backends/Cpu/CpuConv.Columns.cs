// A convolution's im2col matrix as a GEMM row source (CpuGemm.ImplicitPack.cs): row (c, kr, ks),
// column (i, p, q) is x[n0+i, c, p*sh - ph + kr*dh, q*sw - pw + ks*dw] (0 in the padding), produced
// straight from the NCHW input one row segment at a time while the GEMM packs its B panels. The
// forward pass (B = col) and the backward-weight pass (B = col^T) use it, so neither writes the
// im2col matrix to memory nor packs it in a second pass.
// Must hold: FillRow writes exactly col[r, j..j+len) (zeros in the padding, any stride, padding and
// dilation), plus at most GemmRowSource.Slack floats past len; it reads only inside x. Stride 1 with
// Q == W ("same" padding) moves whole runs of output rows in one copy (the planes are shifted copies
// of each other); so does stride 2 with Q == ceil(W/2), reading x's four stride-2 phase planes
// (Deinterleave2, one pass over x per call); planes of at most MaskMaxPixels do that through per-tap
// masks of the valid pixels (one vector AND, no per-row zeroing); other strides go one output row at a time. Output rows
// under 16 pixels (the late layers) instead gather through a per-tap index table (the same for every
// channel, built once per column block and thread) with AVX2 gathers; the portable path never does.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Stride 2 on both axes with Q == ceil(W/2) (3x3 pad 1 and 7x7 pad 3 on even widths, the
    /// usual downsampling layers): input pixel (2p + a, 2q + b) is pixel (p + floor(a/2), q + floor(b/2)) of phase
    /// plane (a mod 2, b mod 2), and each phase plane is Q wide, so every tap reads its phase as the shifted
    /// copy a stride-1 "same" convolution reads its input (whole runs of rows, no per-row gathers).</summary>
    internal static bool PhasesApply(ConvGeometry g) =>
        g.StrideH == 2 && g.StrideW == 2 && (g.W + 1) / 2 == g.Q;

    /// <summary>Rows of a stride-2 phase plane: ceil(H / 2).</summary>
    internal static int PhaseHeight(ConvGeometry g) => (g.H + 1) / 2;

    /// <summary>phases[((n*C + c)*4 + a*2 + b), i, j] = x[n, c, 2i + a, 2j + b] (0 past the plane's
    /// edge) for planes PhaseHeight x Q. One pass over x, split over the (image, channel) planes.</summary>
    internal static unsafe void Deinterleave2(float[] x, float[] phases, ConvGeometry g)
    {
        using var _ = Instance.Time("deinterleave_s2");
        int H = g.H, W = g.W, hp = PhaseHeight(g), wp = g.Q, ps = hp * wp;
        if ((long)g.N * g.C * 4 * ps > phases.Length || (long)g.N * g.C * H * W > x.Length)
            throw new InvalidOperationException($"internal: phase planes of {g} do not fit");
        For(g.N * g.C, Math.Max(1, ParallelThreshold / (H * W)), (a0, a1) =>
        {
            fixed (float* xb = x, pb = phases)
                for (int a = a0; a < a1; a++)
                    for (int bh = 0; bh < 2; bh++)
                        for (int i = 0; i < hp; i++)
                        {
                            float* d0 = pb + (a * 4L + bh * 2) * ps + i * wp, d1 = d0 + ps;
                            int ih = 2 * i + bh;
                            if (ih >= H) { for (int j = 0; j < wp; j++) d0[j] = d1[j] = 0; continue; }
                            SplitRow(xb + (long)a * H * W + ih * W, W, d0, d1, wp);
                        }
        });
    }

    /// <summary>d0[j] = s[2j], d1[j] = s[2j + 1] for j &lt; wp (0 past the row's w floats).</summary>
    private static unsafe void SplitRow(float* s, int w, float* d0, float* d1, int wp)
    {
        int j = 0;
        if (CpuInfo.Use512)
        {
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odds = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            for (; 2 * j + 32 <= w; j += 16)
            {
                var lo = Vector512.Load(s + 2 * j);
                var hi = Vector512.Load(s + 2 * j + 16);
                Avx512F.PermuteVar16x32x2(lo, evens, hi).Store(d0 + j);
                Avx512F.PermuteVar16x32x2(lo, odds, hi).Store(d1 + j);
            }
        }
        else if (CpuInfo.Use256)
        {
            for (; 2 * j + 16 <= w; j += 8)
            {
                var lo = Avx.LoadVector256(s + 2 * j);
                var hi = Avx.LoadVector256(s + 2 * j + 8);
                Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle().Store(d0 + j);
                Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle().Store(d1 + j);
            }
        }
        for (; j < wp; j++)
        {
            d0[j] = 2 * j < w ? s[2 * j] : 0;
            d1[j] = 2 * j + 1 < w ? s[2 * j + 1] : 0;
        }
    }

    internal sealed unsafe class ConvColumns : GemmRowSource
    {
        private readonly float[] _x;
        private readonly ConvGeometry _g;
        private readonly int _n0, _cnt, _pq, _hw, _rs;
        private readonly bool _shifted, _phased, _gather;
        private readonly int _planeH, _planeSize;   // the planes Shifted reads: x's, or its stride-2 phases'
        private readonly int _P, _Q;                // output rows and columns (g.P, g.Q unless given)
        private readonly uint[][]? _masks;           // shifted taps' valid-pixel masks (MaskedShifts)

        /// <summary>x is the NCHW input, or with <paramref name="phased"/> its stride-2 phase planes
        /// (Deinterleave2: for each image and channel four planes of PhaseHeight x Q). outP/outQ,
        /// where given, replace g.P/g.Q: a convolution whose bottom/right padding differs from its
        /// top/left one (g.PadH/PadW, possibly negative), as the stride-2 phases of a transposed
        /// convolution are (CpuConv.PhaseBackwardData.cs); reads outside x's planes are zeros.</summary>
        public ConvColumns(float[] x, int n0, int cnt, ConvGeometry g, bool phased = false, int outP = -1, int outQ = -1, bool gathers = true)
        {
            _x = x; _g = g; _n0 = n0; _cnt = cnt; _phased = phased;
            _P = outP >= 0 ? outP : g.P; _Q = outQ >= 0 ? outQ : g.Q;
            if (phased && (outP >= 0 || outQ >= 0))
                throw new InvalidOperationException("internal: stride-2 phases with explicit output sizes");
            _pq = _P * _Q; _hw = g.H * g.W; _rs = g.R * g.S;
            _shifted = phased || (g.StrideH == 1 && g.StrideW == 1 && _Q == g.W);
            _gather = gathers && !phased && GathersFor(_Q);
            (_planeH, _planeSize) = phased ? (PhaseHeight(g), PhaseHeight(g) * g.Q) : (g.H, _hw);
            long perImage = (long)g.C * (phased ? 4 * _planeSize : _hw);
            if (phased && !PhasesApply(g))
                throw new InvalidOperationException($"internal: stride-2 phases for a {g} convolution");
            if ((n0 + cnt) * perImage > x.Length)
                throw new InvalidOperationException($"internal: images {n0}..{n0 + cnt} of a {x.Length}-float input");
            if (_shifted && MaskedShifts && _pq <= MaskMaxPixels) _masks = MasksFor();
        }

        /// <summary>Whether shifted taps copy through per-tap masks of the valid output pixels (one
        /// vector AND per 16 floats) instead of a copy plus per-row zeroing of the wrapped columns,
        /// whose bookkeeping dominates on small planes. Settable by tests and benchmarks.</summary>
        internal static bool MaskedShifts { get; set; } = true;

        /// <summary>Largest output plane (pixels) that gets masks (32 x 32): R*S*P*Q masks are kept per
        /// shape and read beside the data, so wide planes, whose per-row zeroing is cheap, go without.</summary>
        internal const int MaskMaxPixels = 1024;

        private readonly record struct MaskKey(int P, int Q, int W, int PlaneH, int R, int S, int PadH, int PadW, int DilationH, int DilationW, bool Phased);

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<MaskKey, uint[][]> s_masks = new();

        /// <summary>Per tap, mask[o] = all ones where output pixel o reads inside the plane, else 0
        /// (built once per shape and kept: a few KB to a few hundred KB).</summary>
        private uint[][] MasksFor()
        {
            var g = _g;
            var key = new MaskKey(_P, _Q, g.W, _planeH, g.R, g.S, g.PadH, g.PadW, g.DilationH, g.DilationW, _phased);
            return s_masks.GetOrAdd(key, static (k, self) =>
            {
                var masks = new uint[k.R * k.S][];
                for (int t = 0; t < masks.Length; t++)
                {
                    var (ihOff, iw0, _) = self.TapOffsets(t);
                    var (qlo, qhi) = self.TapColumns(iw0);
                    var (plo, phi) = ValidRows(ihOff, self._planeH, self._P);
                    var m = new uint[self._pq];
                    for (int p = plo; p < phi; p++)
                        for (int q = qlo; q < qhi; q++) m[p * self._Q + q] = uint.MaxValue;
                    masks[t] = m;
                }
                return masks;
            }, this);
        }

        /// <summary>Tap t's row and column offsets into the plane it reads, and which of an image's
        /// planes per channel that is (0 unless phased: then input row 2p + ihOff is row
        /// p + floor(ihOff/2) of phase (ihOff &amp; 1), likewise columns).</summary>
        private (int IhOff, int Iw0, int Phase) TapOffsets(int t)
        {
            var g = _g;
            int kr = t / g.S, ks = t - kr * g.S;
            int ihOff = kr * g.DilationH - g.PadH, iw0 = ks * g.DilationW - g.PadW;
            if (!_phased) return (ihOff, iw0, 0);
            return (ihOff >> 1, iw0 >> 1, (ihOff & 1) * 2 + (iw0 & 1));
        }

        private (int Lo, int Hi) TapColumns(int iw0) =>
            _phased ? ValidRange(iw0, 1, _Q, _Q) : ValidRange(iw0, _g.StrideW, _g.W, _Q);

        public override int Rows => _g.Crs;
        public override int Cols => _cnt * _pq;

        /// <summary>Whether short output rows (Q &lt; 16) gather through per-tap index tables (AVX2
        /// gathers); off, every row goes through the segment copies. Settable by tests and benchmarks.</summary>
        internal static bool GatherTables { get; set; } = true;

        /// <summary>Index-table gathers for output rows under 16 pixels: row segments there are so short
        /// that their bookkeeping costs more than a gather (measured single-core, 3.6M floats: 0.8-1.7
        /// ms against 2.2-2.4 ms at Q = 7 and 14); wider rows copy runs (1.3-1.8 ms against 4-5 ms at 32).</summary>
        internal static bool GathersFor(ConvGeometry g) => GathersFor(g.Q);

        internal static bool GathersFor(int outQ) => GatherTables && outQ < 16 && CpuInfo.Use256 && Avx2.IsSupported;

        // one thread's index table: for the columns [t_j, t_j + t_len) of t_owner, per tap, each
        // column's offset from its chunk's channel-c plane base (the same for every channel), or -1
        [ThreadStatic] private static int[]? t_table;
        [ThreadStatic] private static object? t_owner;
        [ThreadStatic] private static int t_j, t_len;

        private int[] TableFor(int j, int len)
        {
            if (ReferenceEquals(t_owner, this) && t_j == j && t_len == len) return t_table!;
            var g = _g;
            int need = _rs * len;
            if (t_table is null || t_table.Length < need) t_table = new int[Math.Max(need, 4096)];
            var table = t_table;
            int chw = g.C * _hw;
            int i = j / _pq, o = j - i * _pq, p = o / _Q, q = o - p * _Q;
            for (int jj = 0; jj < len; jj++)
            {
                int ih0 = p * g.StrideH - g.PadH, iw0 = q * g.StrideW - g.PadW, img = i * chw;
                for (int kr = 0, tap = 0; kr < g.R; kr++)
                {
                    int ih = ih0 + kr * g.DilationH;
                    for (int ks = 0; ks < g.S; ks++, tap++)
                    {
                        int iw = iw0 + ks * g.DilationW;
                        table[tap * len + jj] = (uint)ih < (uint)g.H && (uint)iw < (uint)g.W ? img + ih * g.W + iw : -1;
                    }
                }
                if (++q == _Q) { q = 0; if (++p == _P) { p = 0; i++; } }
            }
            t_owner = this; t_j = j; t_len = len;
            return table;
        }

        private void GatherRow(int r, int j, int len, float* dst)
        {
            int c = r / _rs, tap = r - c * _rs;
            var table = TableFor(j, len);
            fixed (float* xb = _x)
            fixed (int* tb = table)
            {
                float* bas = xb + ((long)_n0 * _g.C + c) * _hw;
                int* idx = tb + tap * len;
                int v = 0;
                for (; v + 8 <= len; v += 8)
                {
                    var ix = Avx.LoadVector256(idx + v);
                    var mask = Avx2.CompareGreaterThan(ix, Vector256.Create(-1)).AsSingle();
                    Avx2.GatherMaskVector256(Vector256<float>.Zero, bas, ix, mask, 4).Store(dst + v);
                }
                for (; v < len; v++) dst[v] = idx[v] >= 0 ? bas[idx[v]] : 0;
            }
        }

        public override void FillRow(int r, int j, int len, float* dst)
        {
            if (_gather) { GatherRow(r, j, len, dst); return; }
            var g = _g;
            int c = r / _rs, t = r - c * _rs;
            var (ihOff, iw0, phase) = TapOffsets(t);
            int i = j / _pq, a = j - i * _pq;
            long planeOf = _phased ? c * 4 + phase : c, planes = _phased ? g.C * 4 : g.C;
            var (qlo, qhi) = TapColumns(iw0);
            fixed (float* xb = _x)
            fixed (uint* mask = _masks is null ? null : _masks[t])
            {
                float* xEnd = xb + _x.Length;
                while (len > 0)
                {
                    int n = Math.Min(len, _pq - a);
                    float* plane = xb + ((_n0 + i) * planes + planeOf) * _planeSize;
                    if (mask != null) MaskedShift(plane, mask, a, n, dst, ihOff * _Q + iw0);
                    else if (_shifted) Shifted(plane, a, n, dst, ihOff, iw0, qlo, qhi);
                    else Strided(plane, xEnd, a, n, dst, ihOff, iw0, qlo, qhi);
                    dst += n; len -= n; i++; a = 0;
                }
            }
        }

        /// <summary>As Shifted, through the tap's mask: dst[o - a] = mask[o] ? plane[o + off] : 0 for
        /// o in [a, a+n), reading only inside the plane (pixels that would read outside it are masked).</summary>
        private void MaskedShift(float* plane, uint* mask, int a, int n, float* dst, int off)
        {
            int end = a + n;
            int ca = Math.Clamp(-off, a, end), ce = Math.Clamp(_planeSize - off, ca, end);
            Clear(dst, ca - a);
            Clear(dst + (ce - a), end - ce);
            float* s = plane + off;
            float* d = dst - a;
            int o = ca;
            if (CpuInfo.Use512)
                for (; o + 16 <= ce; o += 16)
                    (Vector512.Load(s + o).AsUInt32() & Vector512.Load(mask + o)).AsSingle().Store(d + o);
            if (CpuInfo.Use256)
                for (; o + 8 <= ce; o += 8)
                    (Vector256.Load(s + o).AsUInt32() & Vector256.Load(mask + o)).AsSingle().Store(d + o);
            if (Vector128.IsHardwareAccelerated)
                for (; o + 4 <= ce; o += 4)
                    (Vector128.Load(s + o).AsUInt32() & Vector128.Load(mask + o)).AsSingle().Store(d + o);
            for (; o < ce; o++) d[o] = mask[o] != 0 ? s[o] : 0;
        }

        /// <summary>dst[0..n) = output pixels [a, a+n) of one plane's tap when stride is 1 and Q == W:
        /// pixel o reads plane[o + ihOff*W + iw0], so valid rows move in one copy and only the wrapped
        /// columns (q outside [qlo, qhi)) and the rows outside the plane are zeroed.</summary>
        private void Shifted(float* plane, int a, int n, float* dst, int ihOff, int iw0, int qlo, int qhi)
        {
            int Q = _Q, end = a + n;
            var (plo, phi) = ValidRows(ihOff, _planeH, _P);
            int vlo = Math.Max(a, plo * Q), vhi = Math.Min(end, phi * Q);
            if (vlo >= vhi || qlo >= qhi) { Clear(dst, n); return; }
            Clear(dst, vlo - a);
            Clear(dst + (vhi - a), end - vhi);
            int off = ihOff * Q + iw0;
            // clip the copy to the plane: what is cut off lies in wrapped columns
            int ca = Math.Max(vlo, -off), ce = Math.Max(ca, Math.Min(vhi, _planeSize - off));
            Clear(dst + (vlo - a), ca - vlo);
            Copy(plane + ca + off, dst + (ca - a), ce - ca);
            Clear(dst + (ce - a), vhi - ce);
            if (qlo == 0 && qhi == Q) return;
            for (int p = vlo / Q, pEnd = (vhi - 1) / Q; p <= pEnd; p++)
            {
                int o = p * Q;
                for (int q = 0; q < qlo; q++) if (o + q >= vlo && o + q < vhi) dst[o + q - a] = 0;
                for (int q = qhi; q < Q; q++) if (o + q >= vlo && o + q < vhi) dst[o + q - a] = 0;
            }
        }

        /// <summary>dst[0..n) = output pixels [a, a+n) of one plane's tap, one output row at a time;
        /// may write up to 16 floats past n (vector gathers), which the caller overwrites.</summary>
        private void Strided(float* plane, float* xEnd, int a, int n, float* dst, int ihOff, int iw0, int qlo, int qhi)
        {
            var g = _g;
            int Q = _Q, sw = g.StrideW, end = a + n;
            for (int o = a; o < end;)
            {
                int p = o / Q, q0 = o - p * Q, q1 = Math.Min(Q, q0 + (end - o)), cnt = q1 - q0;
                int ih = p * g.StrideH + ihOff;
                int v0 = Math.Max(q0, qlo), v1 = Math.Min(q1, qhi);
                if ((uint)ih >= (uint)g.H || v0 >= v1) Clear(dst, cnt);
                else
                {
                    // the gather first (it may run past v1), then the zeros around it
                    Gather(plane + ih * g.W + v0 * sw + iw0, sw, dst + (v0 - q0), v1 - v0, xEnd);
                    for (int q = q0; q < v0; q++) dst[q - q0] = 0;
                    for (int q = v1; q < q1; q++) dst[q - q0] = 0;
                }
                dst += cnt; o += cnt;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Clear(float* d, int n)
        {
            if (n <= 0) return;
            if (n <= 8) { for (int t = 0; t < n; t++) d[t] = 0; return; }
            new Span<float>(d, n).Clear();
        }

        /// <summary>d[0..n) = s[0..n): reads and writes exactly n floats.</summary>
        private static void Copy(float* s, float* d, int n)
        {
            int j = 0;
            if (CpuInfo.Use512)
                for (; j <= n - 16; j += 16) Vector512.Store(Vector512.Load(s + j), d + j);
            if (CpuInfo.Use256)
                for (; j <= n - 8; j += 8) Vector256.Store(Vector256.Load(s + j), d + j);
            for (; j < n; j++) d[j] = s[j];
        }

        /// <summary>d[j] = s[j*stride] for j &lt; n; stride 2 in vector registers (reads stay below
        /// xEnd), which may write up to 16 floats past n.</summary>
        private static void Gather(float* s, int stride, float* d, int n, float* xEnd)
        {
            if (stride == 1) { Copy(s, d, n); return; }
            int j = 0;
            if (stride == 2 && CpuInfo.Use512)
            {
                // vpermt2ps with indices 0,2,..,30 takes the even elements of two 16-float loads
                var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                for (; j < n && s + 2 * j + 32 <= xEnd; j += 16)
                    Avx512F.PermuteVar16x32x2(Vector512.Load(s + 2 * j), evens, Vector512.Load(s + 2 * j + 16)).Store(d + j);
            }
            else if (stride == 2 && CpuInfo.Use256)
            {
                for (; j < n && s + 2 * j + 16 <= xEnd; j += 8)
                {
                    var pairs = Avx.Shuffle(Avx.LoadVector256(s + 2 * j), Avx.LoadVector256(s + 2 * j + 8), 0b10_00_10_00);
                    Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle().Store(d + j);
                }
            }
            for (; j < n; j++) d[j] = s[(long)j * stride];
        }
    }
}
