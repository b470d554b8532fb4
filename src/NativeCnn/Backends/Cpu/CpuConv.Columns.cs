// A convolution's im2col matrix as a GEMM row source (CpuGemm.ImplicitPack.cs): row (c, kr, ks),
// column (i, p, q) is x[n0+i, c, p*sh - ph + kr*dh, q*sw - pw + ks*dw] (0 in the padding), produced
// straight from the NCHW input one row segment at a time while the GEMM packs its B panels. The
// forward pass (B = col) and the backward-weight pass (B = col^T) use it, so neither writes the
// im2col matrix to memory nor packs it in a second pass.
// Must hold: FillRow writes exactly col[r, j..j+len) (zeros in the padding, any stride, padding and
// dilation), plus at most GemmRowSource.Slack floats past len; it reads only inside x. Stride 1 with
// Q == W ("same" padding) moves whole runs of output rows in one copy (the planes are shifted copies
// of each other); other strides go one output row at a time (stride 2 in vector registers).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    private sealed unsafe class ConvColumns : GemmRowSource
    {
        private readonly float[] _x;
        private readonly ConvGeometry _g;
        private readonly int _n0, _cnt, _pq, _hw, _rs;
        private readonly bool _shifted;

        public ConvColumns(float[] x, int n0, int cnt, ConvGeometry g)
        {
            _x = x; _g = g; _n0 = n0; _cnt = cnt;
            _pq = g.P * g.Q; _hw = g.H * g.W; _rs = g.R * g.S;
            _shifted = IsShiftedCopy(g);
            if ((long)(n0 + cnt) * g.C * _hw > x.Length)
                throw new InvalidOperationException($"internal: images {n0}..{n0 + cnt} of a {x.Length}-float input");
        }

        public override int Rows => _g.Crs;
        public override int Cols => _cnt * _pq;

        public override void FillRow(int r, int j, int len, float* dst)
        {
            var g = _g;
            int c = r / _rs, t = r - c * _rs, kr = t / g.S, ks = t - kr * g.S;
            int ihOff = kr * g.DilationH - g.PadH, iw0 = ks * g.DilationW - g.PadW;
            var (qlo, qhi) = ValidRange(iw0, g.StrideW, g.W, g.Q);
            int i = j / _pq, a = j - i * _pq;
            fixed (float* xb = _x)
            {
                float* xEnd = xb + _x.Length;
                while (len > 0)
                {
                    int n = Math.Min(len, _pq - a);
                    float* plane = xb + ((long)(_n0 + i) * g.C + c) * _hw;
                    if (_shifted) Shifted(plane, a, n, dst, ihOff, iw0, qlo, qhi);
                    else Strided(plane, xEnd, a, n, dst, ihOff, iw0, qlo, qhi);
                    dst += n; len -= n; i++; a = 0;
                }
            }
        }

        /// <summary>dst[0..n) = output pixels [a, a+n) of one plane's tap when stride is 1 and Q == W:
        /// pixel o reads plane[o + ihOff*W + iw0], so valid rows move in one copy and only the wrapped
        /// columns (q outside [qlo, qhi)) and the rows outside the plane are zeroed.</summary>
        private void Shifted(float* plane, int a, int n, float* dst, int ihOff, int iw0, int qlo, int qhi)
        {
            int Q = _g.Q, end = a + n;
            var (plo, phi) = ValidRows(ihOff, _g.H, _g.P);
            int vlo = Math.Max(a, plo * Q), vhi = Math.Min(end, phi * Q);
            if (vlo >= vhi || qlo >= qhi) { Clear(dst, n); return; }
            Clear(dst, vlo - a);
            Clear(dst + (vhi - a), end - vhi);
            int off = ihOff * Q + iw0;
            // clip the copy to the plane: what is cut off lies in wrapped columns
            int ca = Math.Max(vlo, -off), ce = Math.Max(ca, Math.Min(vhi, _hw - off));
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
            int Q = g.Q, sw = g.StrideW, end = a + n;
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
