// Float32 convolution as implicit GEMM on tensor cores in TF32 (opt-in: NativeCnn.Precision.AllowTf32,
// `--tf32`): the three products of ConvImplicit.cs (same operands, same tap tables, read in place,
// float32 outputs written =) with each operand rounded to TF32 as it is staged (Tf32.Round: cvt.rna, as
// cuDNN under PyTorch's allow_tf32) and mma.sync m16n8k8 .tf32 (float32 accumulation).
//   forward          y  (N,K,P,Q) = W  (K, CRS)  x X^ (CRS, N*PQ)
//   backward-data    gx (N,C,H,W) = W' (C, KRS)  x G^ (KRS, N*HW)
//   backward-weight  gw (K, CRS)  = G  (K, N*PQ) x X^T (N*PQ, CRS)     in k segments along grid z
// The float16 kernels' tile and staging (ConvImplicitFp16.cs): 128 threads (4 warps side by side along
// n) per 64 (M) x 128 (N) tile, each warp 64x32 as 4 (m16) x 4 (n8) mma tiles (GemmHalfKernels.ConvAcc,
// stepped with Tf32Mma); a k slice is 16 deep, staged as rows of 16 words (one TF32 value each, the
// unit a fragment register holds; Tf32.cs shows the layouts agree word for word) padded to 20. Gathers
// through registers: per slice a thread rounds and stores 16 words of its B column (forward and
// backward-data: one pixel per thread for the whole kernel) and 8 words of an A row.
// Where PTX cannot run (ILGPU's CPU simulator) the rounding is done on the bits and the products are
// computed from the staged slice, or, with exact = 1, each mma is emulated from the fragment registers
// by warp shuffles (Tf32.EmulatedMma); both add the same exact products in the same order.
// What must hold: every element of y, gx, gw (or of the segment's partial product) is written (=).
using ILGPU;
using ILGPU.Runtime;
using static NativeCnn.Kernels.GemmHalfKernels;

namespace NativeCnn.Kernels;

internal static class ConvImplicitTf32Kernels
{
    /// <summary>The k slice: 16 TF32 values, one staged row of ConvWords words (16 + 4 padding).</summary>
    public const int TileK = 16;

    // x: (N, C, H, W), w: (K, C*R*S), taps: ConvImplicitKernels.ForwardTaps -> y: (N, K, P, Q) =
    // grid: (ceil(N*P*Q / 128), ceil(K / 64)), group: 128, launch bounds GemmHalfKernels.ConvSpecialization
    public static void ConvImplicitTf32ForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<ConvTap> taps,
                                                     ArrayView<float> y, ConvShape s, int exact)
    {
        var sa = SharedMemory.Allocate<uint>(ConvTileM * ConvWords);
        var sb = SharedMemory.Allocate<uint>(ConvTileN * ConvWords);
        int t = Group.IdxX, lane = t & 31, wn = 32 * (t >> 5);
        int m0 = Grid.IdxY * ConvTileM, n0 = Grid.IdxX * ConvTileN;
        int pq = s.P * s.Q, crs = s.C * s.R * s.S, columns = s.N * pq;
        // B: this thread's output pixel; A: row t >> 1, k 8 (t & 1) .. + 7 of the slice
        int j = n0 + t;
        bool inside = j < columns;
        int h0 = 0, w0 = 0, xBase = 0;
        if (inside)
        {
            int n = j / pq, rem = j - n * pq, p = rem / s.Q, q = rem - p * s.Q;
            h0 = p * s.StrideH - s.PadH; w0 = q * s.StrideW - s.PadW;
            xBase = n * s.C * s.H * s.W + h0 * s.W + w0;
        }
        int aRow = m0 + (t >> 1), aK = 8 * (t & 1), aAt = (t >> 1) * ConvWords + aK;
        bool row = aRow < s.K;
        var acc = default(ConvAcc);
        for (int k0 = 0; k0 < crs; k0 += TileK)
        {
            // A = W rows as stored
            int wk = aRow * crs + k0 + aK;
            for (int i = 0; i < 8; i++)
                sa[aAt + i] = Tf32.Round(row && k0 + aK + i < crs ? w[wk + i] : 0f);
            // B = the pixel's window, k0 .. k0 + 15 (taps past CRS read nothing)
            for (int i = 0; i < TileK; i++)
                sb[t * ConvWords + i] = Tf32.Round(Gather(x, taps[k0 + i], inside, h0, w0, xBase, s));
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < TileK; kp += 8) acc.Step<Tf32Mma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        acc.Store(y, 0, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.K, columns, pq, s.K * pq);
    }

    // gy: (N, K, P, Q), w: (K, C, R, S), taps: ConvImplicitKernels.DataTaps -> gx: (N, C, H, W) =
    // grid: (ceil(N*H*W / 128), ceil(C / 64)), group: 128
    public static void ConvImplicitTf32BackwardDataKernel(ArrayView<float> gy, ArrayView<float> w, ArrayView<ConvTap> taps,
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
        int aRow = m0 + (t >> 1), aK = 8 * (t & 1), aAt = (t >> 1) * ConvWords + aK;
        bool row = aRow < s.C;
        var acc = default(ConvAcc);
        for (int k0 = 0; k0 < krs; k0 += TileK)
        {
            // A = W'[c, krs] = w[k, c, r, s] through the tap's weight offset
            for (int i = 0; i < 8; i++)
            {
                int k = k0 + aK + i;
                sa[aAt + i] = Tf32.Round(row && k < krs ? w[taps[k].A + aRow * rs] : 0f);
            }
            for (int i = 0; i < TileK; i++)
                sb[t * ConvWords + i] = Tf32.Round(Back(gy, taps[k0 + i], inside, hp, wp, gBase, s));
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < TileK; kp += 8) acc.Step<Tf32Mma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        acc.Store(gx, 0, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.C, columns, hw, s.C * hw);
    }

    // gy: (N, K, P, Q), x: (N, C, H, W), taps: ConvImplicitKernels.ForwardTaps (>= ceil(CRS/128)*128)
    //   -> gw: (segments, K, C*R*S) = the partial product of pixels [z*segment, (z+1)*segment) (=)
    // grid: (ceil(CRS / 128), ceil(K / 64), segments), group: 128; segment a multiple of 16
    public static void ConvImplicitTf32BackwardWeightKernel(ArrayView<float> gy, ArrayView<float> x, ArrayView<ConvTap> taps,
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
        int aRow = m0 + (t >> 1), aK = 8 * (t & 1), aAt = (t >> 1) * ConvWords + aK;
        bool row = aRow < s.K;
        var acc = default(ConvAcc);
        for (int k0 = first; k0 < end; k0 += TileK)
        {
            // A = gy[n, k, pq] at pixels k0 + aK .. + 7: stepped from one division
            var a = new PixelWalk(s, k0 + aK);
            for (int i = 0; i < 8; i++)
            {
                sa[aAt + i] = Tf32.Round(a.J < end && row ? gy[a.N * s.K * pq + aRow * pq + a.Pq] : 0f);
                a.Next(s);
            }
            // B = x at this thread's tap for pixels k0 .. k0 + 15
            var b = new PixelWalk(s, k0);
            for (int i = 0; i < TileK; i++)
            {
                sb[t * ConvWords + i] = Tf32.Round(b.Read(x, tap, end, s));
                b.Next(s);
            }
            Group.Barrier();
            // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
            for (int kp = 0; kp < TileK; kp += 8) acc.Step<Tf32Mma>(sa, sb, wn, lane, kp, exact != 0);
            Group.Barrier();
        }
        // dense (K, CRS) at segment z: "pixels" = columns, so every column is image 0
        acc.Store(gw, Grid.IdxZ * s.K * crs, m0 + (lane >> 2), n0 + wn + 2 * (lane & 3), s.K, crs, crs, 0);
    }
}
