// Float16 convolution as implicit GEMM on tensor cores: the three products of ConvImplicit.cs (same
// operands, same tap tables, read in place, float32 outputs written =) with float16 x, w, gy and
// mma.sync m16n8k16 (float32 accumulation).
//   forward          y  (N,K,P,Q) = W  (K, CRS)  x X^ (CRS, N*PQ)
//   backward-data    gx (N,C,H,W) = W' (C, KRS)  x G^ (KRS, N*HW)
//   backward-weight  gw (K, CRS)  = G  (K, N*PQ) x X^T (N*PQ, CRS)     in k segments along grid z
// Tiling: 128 threads (4 warps side by side along n) per 64 (M) x 128 (N) tile, each warp 64x32 as
// 4 (m16) x 4 (n8) mma tiles; k slices 32 deep staged in shared memory as rows of k pairs (one word =
// two halves, the unit a fragment register holds), rows padded to 20 words so a fragment load's 32
// lanes hit 32 banks (GemmFp16.cs's staging). The gathers go through registers (the operands are not
// rectangular, so no cp.async): per slice a thread packs 16 words of its B column (forward and
// backward-data: one pixel per thread for the whole kernel) and 8 words of an A row.
// Where PTX cannot run (ILGPU's CPU simulator) the products are computed from the staged slice (fast:
// it checks the gathers, the staging and the epilogue), or, with exact = 1 (ExactTensorCoreEmulation),
// the GPU path runs with each mma emulated from the fragment registers by warp shuffles
// (GemmHalfKernels.Mma: slow, and it also checks the fragment layout); only the instruction is left
// to the GPU. The TF32 kernels (ConvImplicitTf32.cs, GemmTf32.cs) share the tile, the staging, the
// gathers and ConvAcc, whose Step takes the tensor-core operation as a type argument (Tf32.cs).
// What must hold: every element of y, gx, gw (or of the segment's partial product) is written (=).
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

internal static partial class GemmHalfKernels
{
    public const int ConvTileM = 64, ConvTileN = 128, ConvTileK = 32, ConvThreads = 128;
    internal const int ConvWords = 20;   // a staged row: 16 words (k pairs; TF32: values) + 4 words of padding
    /// <summary>Shared memory of the implicit float16 conv kernels: 64 + 128 staged rows of 20 words.</summary>
    public const int ConvSharedBytes = (ConvTileM + ConvTileN) * ConvWords * 4;
    /// <summary>Launch bounds: 128 threads, two groups per SM (at most 255 registers: 64 accumulators,
    /// 16 A fragment words and the gather state).</summary>
    public static KernelSpecialization ConvSpecialization => new(ConvThreads, 2);

    // x: (N, C, H, W) f16, w: (K, C*R*S) f16, taps: ConvImplicitKernels.ForwardTaps -> y: (N, K, P, Q) f32 =
    // grid: (ceil(N*P*Q / 128), ceil(K / 64)), group: 128
    public static void ConvImplicitHalfForwardKernel(ArrayView<ushort> x, ArrayView<ushort> w, ArrayView<ConvTap> taps,
                                                     ArrayView<float> y, ConvShape s, int exact)
    {
        var sa = SharedMemory.Allocate<uint>(ConvTileM * ConvWords);
        var sb = SharedMemory.Allocate<uint>(ConvTileN * ConvWords);
        int t = Group.IdxX, lane = t & 31, wn = 32 * (t >> 5);
        int m0 = Grid.IdxY * ConvTileM, n0 = Grid.IdxX * ConvTileN;
        int pq = s.P * s.Q, crs = s.C * s.R * s.S, columns = s.N * pq;
        // B: this thread's output pixel; A: row t >> 1, k 16 (t & 1) .. + 15 of the slice
        int j = n0 + t;
        bool inside = j < columns;
        int h0 = 0, w0 = 0, xBase = 0;
        if (inside)
        {
            int n = j / pq, rem = j - n * pq, p = rem / s.Q, q = rem - p * s.Q;
            h0 = p * s.StrideH - s.PadH; w0 = q * s.StrideW - s.PadW;
            xBase = n * s.C * s.H * s.W + h0 * s.W + w0;
        }
        int aRow = m0 + (t >> 1), aK = 16 * (t & 1);
        var acc = default(ConvAcc);
        for (int k0 = 0; k0 < crs; k0 += ConvTileK)
        {
            // A = W rows as stored
            int wRow = aRow * crs;
            for (int i = 0; i < 8; i++)
            {
                int k = k0 + aK + 2 * i;
                bool row = aRow < s.K;
                ushort lo = row && k < crs ? w[wRow + k] : (ushort)0;
                ushort hi = row && k + 1 < crs ? w[wRow + k + 1] : (ushort)0;
                sa[(t >> 1) * ConvWords + (t & 1) * 8 + i] = lo | ((uint)hi << 16);
            }
            // B = the pixel's window, k0 .. k0 + 31 (taps past CRS read nothing)
            for (int i = 0; i < 16; i++)
            {
                ushort lo = Gather(x, taps[k0 + 2 * i], inside, h0, w0, xBase, s);
                ushort hi = Gather(x, taps[k0 + 2 * i + 1], inside, h0, w0, xBase, s);
                sb[t * ConvWords + i] = lo | ((uint)hi << 16);
            }
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < 16; kp += 8) acc.Step<HalfMma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        acc.Store(y, 0, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.K, columns, pq, s.K * pq);
    }

    // gy: (N, K, P, Q) f16, w: (K, C, R, S) f16, taps: ConvImplicitKernels.DataTaps -> gx: (N, C, H, W) f32 =
    // grid: (ceil(N*H*W / 128), ceil(C / 64)), group: 128
    public static void ConvImplicitHalfBackwardDataKernel(ArrayView<ushort> gy, ArrayView<ushort> w, ArrayView<ConvTap> taps,
                                                          ArrayView<float> gx, ConvShape s, int exact)
    {
        var sa = SharedMemory.Allocate<uint>(ConvTileM * ConvWords);
        var sb = SharedMemory.Allocate<uint>(ConvTileN * ConvWords);
        int t = Group.IdxX, lane = t & 31, wn = 32 * (t >> 5);
        int m0 = Grid.IdxY * ConvTileM, n0 = Grid.IdxX * ConvTileN;
        int hw = s.H * s.W, krs = s.K * s.R * s.S, rs = s.R * s.S, columns = s.N * hw;
        int j = n0 + t;
        bool inside = j < columns;
        int hp = 0, wp = 0, gBase = 0;
        if (inside)
        {
            int n = j / hw, rem = j - n * hw, h = rem / s.W;
            hp = h + s.PadH; wp = rem - h * s.W + s.PadW;
            gBase = n * s.K * s.P * s.Q;
        }
        int aRow = m0 + (t >> 1), aK = 16 * (t & 1);
        var acc = default(ConvAcc);
        for (int k0 = 0; k0 < krs; k0 += ConvTileK)
        {
            // A = W'[c, krs] = w[k, c, r, s] through the tap's weight offset
            for (int i = 0; i < 8; i++)
            {
                int k = k0 + aK + 2 * i;
                bool row = aRow < s.C;
                ushort lo = row && k < krs ? w[taps[k].A + aRow * rs] : (ushort)0;
                ushort hi = row && k + 1 < krs ? w[taps[k + 1].A + aRow * rs] : (ushort)0;
                sa[(t >> 1) * ConvWords + (t & 1) * 8 + i] = lo | ((uint)hi << 16);
            }
            for (int i = 0; i < 16; i++)
            {
                ushort lo = Back(gy, taps[k0 + 2 * i], inside, hp, wp, gBase, s);
                ushort hi = Back(gy, taps[k0 + 2 * i + 1], inside, hp, wp, gBase, s);
                sb[t * ConvWords + i] = lo | ((uint)hi << 16);
            }
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < 16; kp += 8) acc.Step<HalfMma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        acc.Store(gx, 0, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.C, columns, hw, s.C * hw);
    }

    // gy: (N, K, P, Q) f16, x: (N, C, H, W) f16, taps: ConvImplicitKernels.ForwardTaps (>= ceil(CRS/128)*128)
    //   -> gw: (segments, K, C*R*S) f32 = the partial product of pixels [z*segment, (z+1)*segment) (=)
    // grid: (ceil(CRS / 128), ceil(K / 64), segments), group: 128; segment a multiple of 32
    public static void ConvImplicitHalfBackwardWeightKernel(ArrayView<ushort> gy, ArrayView<ushort> x, ArrayView<ConvTap> taps,
                                                            ArrayView<float> gw, ConvShape s, int segment, int exact)
    {
        var sa = SharedMemory.Allocate<uint>(ConvTileM * ConvWords);
        var sb = SharedMemory.Allocate<uint>(ConvTileN * ConvWords);
        int t = Group.IdxX, lane = t & 31, wn = 32 * (t >> 5);
        int m0 = Grid.IdxY * ConvTileM, n0 = Grid.IdxX * ConvTileN;
        int pq = s.P * s.Q, crs = s.C * s.R * s.S;
        int first = Grid.IdxZ * segment;
        int end = System.Math.Min(s.N * pq, first + segment);
        if (first >= end) return;   // uniform across the group
        // B: this thread's column crs = n0 + t for the whole kernel; A: gy row (output channel) t >> 1
        var tap = taps[n0 + t];
        int aRow = m0 + (t >> 1), aK = 16 * (t & 1);
        var acc = default(ConvAcc);
        for (int k0 = first; k0 < end; k0 += ConvTileK)
        {
            // A = gy[n, k, pq] at pixels k0 + aK .. + 15: stepped from one division
            var a = new PixelWalk(s, k0 + aK);
            for (int i = 0; i < 8; i++)
            {
                ushort lo = a.J < end && aRow < s.K ? gy[a.N * s.K * pq + aRow * pq + a.Pq] : (ushort)0;
                a.Next(s);
                ushort hi = a.J < end && aRow < s.K ? gy[a.N * s.K * pq + aRow * pq + a.Pq] : (ushort)0;
                a.Next(s);
                sa[(t >> 1) * ConvWords + (t & 1) * 8 + i] = lo | ((uint)hi << 16);
            }
            // B = x at this thread's tap for pixels k0 .. k0 + 31
            var b = new PixelWalk(s, k0);
            for (int i = 0; i < 16; i++)
            {
                ushort lo = b.Read(x, tap, end, s);
                b.Next(s);
                ushort hi = b.Read(x, tap, end, s);
                b.Next(s);
                sb[t * ConvWords + i] = lo | ((uint)hi << 16);
            }
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < 16; kp += 8) acc.Step<HalfMma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        // dense (K, CRS) at segment z: "pixels" = columns, so every column is image 0
        acc.Store(gw, Grid.IdxZ * s.K * crs, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.K, crs, crs, 0);
    }

    /// <summary>The forward operand X^ at this column's pixel through <paramref name="tap"/>: zero outside the image.</summary>
    internal static T Gather<T>(ArrayView<T> x, ConvTap tap, bool inside, int h0, int w0, int xBase, ConvShape s) where T : unmanaged =>
        inside && (uint)(h0 + tap.Dh) < (uint)s.H && (uint)(w0 + tap.Dw) < (uint)s.W ? x[xBase + tap.X] : default;

    /// <summary>The backward-data operand G^ at this column's input pixel through <paramref name="tap"/>:
    /// zero where no output pixel reads it (outside, or between strides).</summary>
    internal static T Back<T>(ArrayView<T> gy, ConvTap tap, bool inside, int hp, int wp, int gBase, ConvShape s) where T : unmanaged
    {
        int ph = hp - tap.Dh, qw = wp - tap.Dw;
        if (!inside || ph < 0 || qw < 0) return default;
        int p = ph, q = qw;
        if (s.StrideH != 1) { p = ph / s.StrideH; if (p * s.StrideH != ph) return default; }
        if (s.StrideW != 1) { q = qw / s.StrideW; if (q * s.StrideW != qw) return default; }
        return p < s.P && q < s.Q ? gy[gBase + tap.X + p * s.Q + q] : default;
    }

    /// <summary>A pixel j = (n, p, q) of the backward-weight reduction, stepped by one without dividing.</summary>
    internal struct PixelWalk
    {
        public int J, N, P, Q, Pq;

        public PixelWalk(ConvShape s, int j)
        {
            int pq = s.P * s.Q;
            J = j; N = j / pq; Pq = j - N * pq; P = Pq / s.Q; Q = Pq - P * s.Q;
        }

        public void Next(ConvShape s)
        {
            J++; Pq++;
            if (++Q == s.Q) { Q = 0; if (++P == s.P) { P = 0; Pq = 0; N++; } }
        }

        /// <summary>x at this pixel through <paramref name="tap"/>, zero outside the image or past <paramref name="end"/>.</summary>
        public readonly T Read<T>(ArrayView<T> x, ConvTap tap, int end, ConvShape s) where T : unmanaged
        {
            int h = P * s.StrideH - s.PadH, w = Q * s.StrideW - s.PadW;
            return J < end && (uint)(h + tap.Dh) < (uint)s.H && (uint)(w + tap.Dw) < (uint)s.W
                ? x[N * s.C * s.H * s.W + h * s.W + w + tap.X] : default;
        }
    }

    /// <summary>A warp's 64x32 sub-tile of the conv tile: 4 m16 tiles (Tix) by 4 n8 tiles (Txj).</summary>
    internal struct ConvAcc
    {
        public Frag4 T00, T01, T02, T03, T10, T11, T12, T13, T20, T21, T22, T23, T30, T31, T32, T33;

        /// <summary>One 8-word k step from word <paramref name="kp"/> (float16: k16, a word a k pair; TF32: k8, a word
        /// one value; TOp says which): 16 fragment words of A (rows 0..63), 8 of B (the warp's 32 columns from
        /// <paramref name="wn"/>), 16 mma. Lane 4g + t: a0 = (row g, word t), a1 = (g + 8, t), a2 = (g, t + 4),
        /// a3 = (g + 8, t + 4); b0 = (word t, column g), b1 = (t + 4, g).</summary>
        public void Step<TOp>(ArrayView<uint> sa, ArrayView<uint> sb, int wn, int lane, int kp, bool exact) where TOp : struct, ITensorCoreOp
        {
            if (!CudaAsm.IsSupported && !exact)
            {
                // the simulator's fast emulation: each accumulator's 16 products read from the staged slice
                EmulateRow<TOp>(ref T00, ref T01, ref T02, ref T03, sa, sb, 0, wn, kp, lane);
                EmulateRow<TOp>(ref T10, ref T11, ref T12, ref T13, sa, sb, 16, wn, kp, lane);
                EmulateRow<TOp>(ref T20, ref T21, ref T22, ref T23, sa, sb, 32, wn, kp, lane);
                EmulateRow<TOp>(ref T30, ref T31, ref T32, ref T33, sa, sb, 48, wn, kp, lane);
                return;
            }
            int ai = (lane >> 2) * ConvWords + kp + (lane & 3), bi = (wn + (lane >> 2)) * ConvWords + kp + (lane & 3);
            const int R8 = 8 * ConvWords, R16 = 16 * ConvWords;
            uint a00 = sa[ai], a01 = sa[ai + R8], a02 = sa[ai + 4], a03 = sa[ai + R8 + 4];
            uint a10 = sa[ai + R16], a11 = sa[ai + R16 + R8], a12 = sa[ai + R16 + 4], a13 = sa[ai + R16 + R8 + 4];
            uint a20 = sa[ai + 2 * R16], a21 = sa[ai + 2 * R16 + R8], a22 = sa[ai + 2 * R16 + 4], a23 = sa[ai + 2 * R16 + R8 + 4];
            uint a30 = sa[ai + 3 * R16], a31 = sa[ai + 3 * R16 + R8], a32 = sa[ai + 3 * R16 + 4], a33 = sa[ai + 3 * R16 + R8 + 4];
            uint b0 = sb[bi], b1 = sb[bi + 4];
            var op = default(TOp);
            op.Mma(ref T00, a00, a01, a02, a03, b0, b1); op.Mma(ref T10, a10, a11, a12, a13, b0, b1);
            op.Mma(ref T20, a20, a21, a22, a23, b0, b1); op.Mma(ref T30, a30, a31, a32, a33, b0, b1);
            b0 = sb[bi + R8]; b1 = sb[bi + R8 + 4];
            op.Mma(ref T01, a00, a01, a02, a03, b0, b1); op.Mma(ref T11, a10, a11, a12, a13, b0, b1);
            op.Mma(ref T21, a20, a21, a22, a23, b0, b1); op.Mma(ref T31, a30, a31, a32, a33, b0, b1);
            b0 = sb[bi + 2 * R8]; b1 = sb[bi + 2 * R8 + 4];
            op.Mma(ref T02, a00, a01, a02, a03, b0, b1); op.Mma(ref T12, a10, a11, a12, a13, b0, b1);
            op.Mma(ref T22, a20, a21, a22, a23, b0, b1); op.Mma(ref T32, a30, a31, a32, a33, b0, b1);
            b0 = sb[bi + 3 * R8]; b1 = sb[bi + 3 * R8 + 4];
            op.Mma(ref T03, a00, a01, a02, a03, b0, b1); op.Mma(ref T13, a10, a11, a12, a13, b0, b1);
            op.Mma(ref T23, a20, a21, a22, a23, b0, b1); op.Mma(ref T33, a30, a31, a32, a33, b0, b1);
        }

        private static void EmulateRow<TOp>(ref Frag4 f0, ref Frag4 f1, ref Frag4 f2, ref Frag4 f3, ArrayView<uint> sa, ArrayView<uint> sb,
                                            int row, int col, int kp, int lane) where TOp : struct, ITensorCoreOp
        {
            Emulate<TOp>(ref f0, sa, sb, row, col, kp, lane); Emulate<TOp>(ref f1, sa, sb, row, col + 8, kp, lane);
            Emulate<TOp>(ref f2, sa, sb, row, col + 16, kp, lane); Emulate<TOp>(ref f3, sa, sb, row, col + 24, kp, lane);
        }

        /// <summary>One m16n8k16 product into this lane's accumulators (rows g, g + 8; columns 2t, 2t + 1) straight
        /// from the staged rows (the exact emulation, ExactTensorCoreEmulation, runs the fragment loads and mma).</summary>
        private static void Emulate<TOp>(ref Frag4 f, ArrayView<uint> sa, ArrayView<uint> sb, int row, int col, int kp, int lane)
            where TOp : struct, ITensorCoreOp
        {
            var op = default(TOp);
            int g = lane >> 2, t = lane & 3;
            int r0 = (row + g) * ConvWords + kp, r8 = r0 + 8 * ConvWords;
            int c0 = (col + 2 * t) * ConvWords + kp, c1 = c0 + ConvWords;
            for (int q = 0; q < 8; q++)
            {
                f.C0 += op.Dot(sa[r0 + q], sb[c0 + q]);
                f.C1 += op.Dot(sa[r0 + q], sb[c1 + q]);
                f.C2 += op.Dot(sa[r8 + q], sb[c0 + q]);
                f.C3 += op.Dot(sa[r8 + q], sb[c1 + q]);
            }
        }

        /// <summary>The sub-tile into an (images, rows, pixels) tensor at <paramref name="zBase"/>: this lane's
        /// rows from <paramref name="row"/> (+16i, +8), columns from <paramref name="col"/> (+8j, +1).</summary>
        public readonly void Store(ArrayView<float> y, int zBase, int row, int col, int rows, int columns, int pixels, int image)
        {
            StoreColumn(y, zBase, row, col, rows, columns, pixels, image, T00, T10, T20, T30);
            StoreColumn(y, zBase, row, col + 8, rows, columns, pixels, image, T01, T11, T21, T31);
            StoreColumn(y, zBase, row, col + 16, rows, columns, pixels, image, T02, T12, T22, T32);
            StoreColumn(y, zBase, row, col + 24, rows, columns, pixels, image, T03, T13, T23, T33);
        }

        private static void StoreColumn(ArrayView<float> y, int zBase, int row, int col, int rows, int columns, int pixels, int image,
                                        Frag4 f0, Frag4 f1, Frag4 f2, Frag4 f3)
        {
            for (int c = 0; c < 2; c++)
            {
                int j = col + c;
                if (j >= columns) return;
                int n = j / pixels;
                int p = zBase + n * image + (j - n * pixels) + row * pixels;
                Put(y, p, row, rows, pixels, c == 0 ? f0.C0 : f0.C1, c == 0 ? f0.C2 : f0.C3);
                Put(y, p + 16 * pixels, row + 16, rows, pixels, c == 0 ? f1.C0 : f1.C1, c == 0 ? f1.C2 : f1.C3);
                Put(y, p + 32 * pixels, row + 32, rows, pixels, c == 0 ? f2.C0 : f2.C1, c == 0 ? f2.C2 : f2.C3);
                Put(y, p + 48 * pixels, row + 48, rows, pixels, c == 0 ? f3.C0 : f3.C1, c == 0 ? f3.C2 : f3.C3);
            }
        }

        /// <summary>Rows <paramref name="row"/> and row + 8 of one column.</summary>
        private static void Put(ArrayView<float> y, int p, int row, int rows, int step, float v0, float v8)
        {
            if (row < rows) y[p] = v0;
            if (row + 8 < rows) y[p + 8 * step] = v8;
        }
    }
}
