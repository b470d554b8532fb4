// Float32 GEMM on tensor cores in TF32 (opt-in: NativeCnn.Precision.AllowTf32, `--tf32`):
// C = alpha * op(A) * op(B) + beta * C with op(A), op(B) rounded to TF32 as they are staged
// (Tf32.Round: cvt.rna, as cuBLAS under PyTorch's allow_tf32), mma.sync m16n8k8 .tf32, float32
// accumulation. Row-major, batched, any m, n, k, either operand transposed; the contract of
// Gemm.cs's kernels, so the backend's split-k pass (GpuBackend.Gemm.cs) serves it unchanged.
// Tiling: the TF32 conv kernels' (ConvImplicitTf32.cs): 128 threads (4 warps along n) per 64 (M) x
// 128 (N) tile of C, each warp 64x32 (GemmHalfKernels.ConvAcc stepped with Tf32Mma), 16-deep k
// slices staged as rows of 16 words padded to 20. Each operand is read along its contiguous axis:
// op(A) stored (m, k) is read by runs of 16 along k (thread t: k t & 15, rows t >> 4 + 8i), stored
// (k, m) by runs of 64 along m (row t & 63, k t >> 6 + 2i); op(B) likewise (16 words per thread).
// Where PTX cannot run (ILGPU's CPU simulator) the products are computed from the staged slice, or,
// with exact = 1, each mma is emulated from the fragment registers by warp shuffles (Tf32.EmulatedMma).
// What must hold: beta == 0 never reads C (pooled buffers hold garbage, even NaN).
using ILGPU;
using ILGPU.Runtime;
using static NativeCnn.Kernels.GemmHalfKernels;

namespace NativeCnn.Kernels;

internal static class GemmTf32Kernels
{
    public const int TileM = 64, TileN = 128, TileK = 16, GroupThreads = 128;

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n) = alpha * a b + beta * c, per batch entry (float32, read as TF32);
    // grid: (ceil(n/128), ceil(m/64), batches), group: 128, launch bounds GemmHalfKernels.ConvSpecialization
    public static void GemmTf32Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs g, int exact)
    {
        var sa = SharedMemory.Allocate<uint>(TileM * ConvWords);
        var sb = SharedMemory.Allocate<uint>(TileN * ConvWords);
        int t = Group.IdxX, lane = t & 31, wn = 32 * (t >> 5);
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        // op(A)(row, k) at row * rowStride + k * kStride; a thread's 8 words: (o0 + i dO, k0 + kk0 + i dK)
        bool aAlongK = g.TransA == 0;
        int aRowStride = aAlongK ? g.Lda : 1, aKStride = aAlongK ? 1 : g.Lda;
        int aO = aAlongK ? t >> 4 : t & 63, aKk = aAlongK ? t & 15 : t >> 6, aDO = aAlongK ? 8 : 0, aDK = aAlongK ? 0 : 2;
        // op(B)(k, col) at col * colStride + k * kStride; 16 words: (o0 + i dO, k0 + kk0 + i dK)
        bool bAlongK = g.TransB != 0;
        int bColStride = bAlongK ? g.Ldb : 1, bKStride = bAlongK ? 1 : g.Ldb;
        int bO = bAlongK ? t >> 4 : t, bKk = bAlongK ? t & 15 : 0, bDO = bAlongK ? 8 : 0, bDK = bAlongK ? 0 : 1;

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            var acc = default(ConvAcc);
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                for (int i = 0; i < 8; i++)
                {
                    int o = aO + i * aDO, kk = aKk + i * aDK, r = m0 + o, k = k0 + kk;
                    sa[o * ConvWords + kk] = Tf32.Round(r < g.M && k < g.K ? a[aBase + r * aRowStride + k * aKStride] : 0f);
                }
                for (int i = 0; i < 16; i++)
                {
                    int o = bO + i * bDO, kk = bKk + i * bDK, col = n0 + o, k = k0 + kk;
                    sb[o * ConvWords + kk] = Tf32.Round(col < g.N && k < g.K ? b[bBase + col * bColStride + k * bKStride] : 0f);
                }
                Group.Barrier();
                // a loop, not two calls: it keeps the barrier below in a block of its own (GemmWide.cs)
                for (int kp = 0; kp < TileK; kp += 8) acc.Step<Tf32Mma>(sa, sb, wn, lane, kp, exact != 0);
                Group.Barrier();
            }
            int row = m0 + (lane >> 2), col0 = n0 + wn + 2 * (lane & 3);
            StoreTile(c, cBase, g, row, col0, ref acc.T00, ref acc.T01, ref acc.T02, ref acc.T03);
            StoreTile(c, cBase, g, row + 16, col0, ref acc.T10, ref acc.T11, ref acc.T12, ref acc.T13);
            StoreTile(c, cBase, g, row + 32, col0, ref acc.T20, ref acc.T21, ref acc.T22, ref acc.T23);
            StoreTile(c, cBase, g, row + 48, col0, ref acc.T30, ref acc.T31, ref acc.T32, ref acc.T33);
        }
    }
}
