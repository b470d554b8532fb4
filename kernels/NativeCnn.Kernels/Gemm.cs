// Single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, batched.
//
// Tiling (see benchmarks/results/gpu-gemm-notes.md): a group of 128 threads computes a 64x64 tile of
// C. Each step it stages a 64x16 slice of op(A) and a 16x64 slice of op(B) in shared memory, and
// each thread accumulates an 8x4 register tile (rows ty + 8i, columns tx + 16j; tx = t % 16,
// ty = t / 16) as 32 scalar accumulators: per k, 8 + 4 shared loads feed 32 FMAs. The next slices
// are fetched from global memory into registers while the current ones are multiplied. Shared rows
// are padded to 65 floats so the transposing stores do not hit one bank. Edges load zeros and guard
// the stores, so any m, n, k works; transposes only change how slices are loaded.
// What must hold: beta == 0 never reads C (pooled buffers hold garbage, even NaN).
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>Sizes, leading dimensions, batch strides (elements) and scalars of one GEMM launch.</summary>
internal struct GemmArgs
{
    public int M, N, K;
    public int Lda, Ldb, Ldc;
    public int TransA, TransB;          // 1 = transposed operand
    public int Batch, StrideA, StrideB, StrideC;
    public float Alpha, Beta;
    /// <summary>Float16 kernels only: bit 0 (A) / bit 1 (B) set when the operand may be read in 16-byte
    /// vectors (host-checked: view offset, leading dimension and batch stride multiples of 8 halves, K
    /// a multiple of 32). The float32 kernels ignore it.</summary>
    public int Aligned;
    /// <summary>ILGPU's CPU simulator only, cp.async ldmatrix float16 kernels: 1 runs their GPU path with ldmatrix and
    /// mma emulated instruction by instruction (warp shuffles; slow, for a few shapes), 0 computes each
    /// product from shared memory (fast). Ignored on a GPU and by every other kernel.</summary>
    public int ExactEmulation;
    /// <summary>Float16 cp.async kernels only: the device addresses of a[0] and b[0], for inline PTX that
    /// reads global memory by address (cp.async); 0 where not needed.</summary>
    public long AddressA, AddressB;
}

internal static class GemmKernels
{
    public const int TileM = 64, TileN = 64, TileK = 16;
    public const int GroupThreads = 128;
    private const int Ld = 65;           // padded shared row (floats)

    // a: op(A) (m, k), b: op(B) (k, n), c: (m, n) = alpha * a b + beta * c, per batch entry;
    // grid: (ceil(n/64), ceil(m/64), batches), group: 128
    public static void GemmForwardKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs g)
    {
        var sa = SharedMemory.Allocate<float>(TileK * Ld);   // sa[kk * Ld + row]: op(A) slice, k-major
        var sb = SharedMemory.Allocate<float>(TileK * Ld);   // sb[kk * Ld + col]: op(B) slice
        int t = Group.IdxX;
        int tx = t % 16, ty = t / 16;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            var acc = new Tile8x4();

            // prefetch registers: 8 elements of each slice per thread (1024 / 128)
            var pa = new Slice8(); var pb = new Slice8();
            LoadA(a, aBase, g, m0, 0, t, ref pa);
            LoadB(b, bBase, g, n0, 0, t, ref pb);

            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                StoreA(sa, g, t, ref pa);
                StoreB(sb, g, t, ref pb);
                Group.Barrier();
                if (k0 + TileK < g.K)
                {
                    // in flight while this slice is multiplied
                    LoadA(a, aBase, g, m0, k0 + TileK, t, ref pa);
                    LoadB(b, bBase, g, n0, k0 + TileK, t, ref pb);
                }
                // unrolled by hand in fours: ILGPU 1.5.3 does not unroll, and each step is only 12 shared loads + 32 FMAs
                for (int kk = 0; kk < TileK; kk += 4)
                {
                    acc.Step(sa, sb, kk * Ld + ty, kk * Ld + tx);
                    acc.Step(sa, sb, (kk + 1) * Ld + ty, (kk + 1) * Ld + tx);
                    acc.Step(sa, sb, (kk + 2) * Ld + ty, (kk + 2) * Ld + tx);
                    acc.Step(sa, sb, (kk + 3) * Ld + ty, (kk + 3) * Ld + tx);
                }
                Group.Barrier();
            }

            int col = n0 + tx;
            StoreRow(c, cBase, g, m0 + ty, col, ref acc.R0);
            StoreRow(c, cBase, g, m0 + ty + 8, col, ref acc.R1);
            StoreRow(c, cBase, g, m0 + ty + 16, col, ref acc.R2);
            StoreRow(c, cBase, g, m0 + ty + 24, col, ref acc.R3);
            StoreRow(c, cBase, g, m0 + ty + 32, col, ref acc.R4);
            StoreRow(c, cBase, g, m0 + ty + 40, col, ref acc.R5);
            StoreRow(c, cBase, g, m0 + ty + 48, col, ref acc.R6);
            StoreRow(c, cBase, g, m0 + ty + 56, col, ref acc.R7);
        }
    }

    /// <summary>Element e (0..1023) of the 64x16 op(A) slice: which (row, kk) it is, chosen so that
    /// neighbouring threads read neighbouring addresses of A as stored.</summary>
    private static void SliceA(GemmArgs g, int e, out int row, out int kk)
    {
        if (g.TransA != 0) { kk = e / TileM; row = e % TileM; }   // A stored (k, m): rows of 64 along m
        else { row = e / TileK; kk = e % TileK; }                  // A stored (m, k): runs of 16 along k
    }

    private static void SliceB(GemmArgs g, int e, out int kk, out int col)
    {
        if (g.TransB != 0) { col = e / TileK; kk = e % TileK; }   // B stored (n, k)
        else { kk = e / TileN; col = e % TileN; }                  // B stored (k, n)
    }

    private static float ReadA(ArrayView<float> a, int aBase, GemmArgs g, int m0, int k0, int e)
    {
        SliceA(g, e, out int row, out int kk);
        int i = m0 + row, p = k0 + kk;
        if (i >= g.M || p >= g.K) return 0f;
        return g.TransA != 0 ? a[aBase + p * g.Lda + i] : a[aBase + i * g.Lda + p];
    }

    private static float ReadB(ArrayView<float> b, int bBase, GemmArgs g, int n0, int k0, int e)
    {
        SliceB(g, e, out int kk, out int col);
        int j = n0 + col, p = k0 + kk;
        if (j >= g.N || p >= g.K) return 0f;
        return g.TransB != 0 ? b[bBase + j * g.Ldb + p] : b[bBase + p * g.Ldb + j];
    }

    private static void LoadA(ArrayView<float> a, int aBase, GemmArgs g, int m0, int k0, int t, ref Slice8 r)
    {
        r.V0 = ReadA(a, aBase, g, m0, k0, t);
        r.V1 = ReadA(a, aBase, g, m0, k0, t + GroupThreads);
        r.V2 = ReadA(a, aBase, g, m0, k0, t + 2 * GroupThreads);
        r.V3 = ReadA(a, aBase, g, m0, k0, t + 3 * GroupThreads);
        r.V4 = ReadA(a, aBase, g, m0, k0, t + 4 * GroupThreads);
        r.V5 = ReadA(a, aBase, g, m0, k0, t + 5 * GroupThreads);
        r.V6 = ReadA(a, aBase, g, m0, k0, t + 6 * GroupThreads);
        r.V7 = ReadA(a, aBase, g, m0, k0, t + 7 * GroupThreads);
    }

    private static void LoadB(ArrayView<float> b, int bBase, GemmArgs g, int n0, int k0, int t, ref Slice8 r)
    {
        r.V0 = ReadB(b, bBase, g, n0, k0, t);
        r.V1 = ReadB(b, bBase, g, n0, k0, t + GroupThreads);
        r.V2 = ReadB(b, bBase, g, n0, k0, t + 2 * GroupThreads);
        r.V3 = ReadB(b, bBase, g, n0, k0, t + 3 * GroupThreads);
        r.V4 = ReadB(b, bBase, g, n0, k0, t + 4 * GroupThreads);
        r.V5 = ReadB(b, bBase, g, n0, k0, t + 5 * GroupThreads);
        r.V6 = ReadB(b, bBase, g, n0, k0, t + 6 * GroupThreads);
        r.V7 = ReadB(b, bBase, g, n0, k0, t + 7 * GroupThreads);
    }

    private static void PutA(ArrayView<float> sa, GemmArgs g, int e, float v)
    {
        SliceA(g, e, out int row, out int kk);
        sa[kk * Ld + row] = v;
    }

    private static void PutB(ArrayView<float> sb, GemmArgs g, int e, float v)
    {
        SliceB(g, e, out int kk, out int col);
        sb[kk * Ld + col] = v;
    }

    private static void StoreA(ArrayView<float> sa, GemmArgs g, int t, ref Slice8 r)
    {
        PutA(sa, g, t, r.V0); PutA(sa, g, t + GroupThreads, r.V1);
        PutA(sa, g, t + 2 * GroupThreads, r.V2); PutA(sa, g, t + 3 * GroupThreads, r.V3);
        PutA(sa, g, t + 4 * GroupThreads, r.V4); PutA(sa, g, t + 5 * GroupThreads, r.V5);
        PutA(sa, g, t + 6 * GroupThreads, r.V6); PutA(sa, g, t + 7 * GroupThreads, r.V7);
    }

    private static void StoreB(ArrayView<float> sb, GemmArgs g, int t, ref Slice8 r)
    {
        PutB(sb, g, t, r.V0); PutB(sb, g, t + GroupThreads, r.V1);
        PutB(sb, g, t + 2 * GroupThreads, r.V2); PutB(sb, g, t + 3 * GroupThreads, r.V3);
        PutB(sb, g, t + 4 * GroupThreads, r.V4); PutB(sb, g, t + 5 * GroupThreads, r.V5);
        PutB(sb, g, t + 6 * GroupThreads, r.V6); PutB(sb, g, t + 7 * GroupThreads, r.V7);
    }

    // C row `row`, columns col, col+16, col+32, col+48 = alpha * acc + beta * C (C unread when beta == 0)
    private static void StoreRow(ArrayView<float> c, int cBase, GemmArgs g, int row, int col, ref Row4 acc)
    {
        if (row >= g.M) return;
        int p = cBase + row * g.Ldc + col;
        Store(c, p, col < g.N, acc.C0, g);
        Store(c, p + 16, col + 16 < g.N, acc.C1, g);
        Store(c, p + 32, col + 32 < g.N, acc.C2, g);
        Store(c, p + 48, col + 48 < g.N, acc.C3, g);
    }

    /// <summary>Split-k's second pass: c[i] = alpha * (parts[i] + parts[mn + i] + ...) + beta * c[i] over the
    /// segments' partial products (summed in segment order; C unread when beta == 0). C is dense (m x n).</summary>
    public static void GemmSplitKSumKernel(ArrayView<float> parts, ArrayView<float> c, int segments, int mn, float alpha, float beta)
    {
        for (int i = Threads.Global; i < mn; i += Threads.Count)
        {
            float sum = 0f;
            for (int s = 0; s < segments; s++) sum += parts[s * mn + i];
            c[i] = beta == 0f ? alpha * sum : alpha * sum + beta * c[i];
        }
    }

    /// <summary>One element of C: alpha * v + beta * C, C unread when beta == 0 (both float32 kernels).</summary>
    internal static void Store(ArrayView<float> c, int p, bool inside, float v, GemmArgs g)
    {
        if (!inside) return;
        c[p] = g.Beta == 0f ? g.Alpha * v : g.Alpha * v + g.Beta * c[p];
    }

    /// <summary>Four accumulators of one output row: scalar fields, so they live in registers.</summary>
    private struct Row4
    {
        public float C0, C1, C2, C3;

        public void Fma(float a, float b0, float b1, float b2, float b3)
        {
            C0 += a * b0; C1 += a * b1; C2 += a * b2; C3 += a * b3;
        }
    }

    /// <summary>A thread's 8x4 register tile: rows ty + 8i, columns tx + 16j.</summary>
    private struct Tile8x4
    {
        public Row4 R0, R1, R2, R3, R4, R5, R6, R7;

        /// <summary>One k step: 8 values of op(A) (column kk of the slice) times 4 of op(B) (row kk).</summary>
        public void Step(ArrayView<float> sa, ArrayView<float> sb, int ra, int rb)
        {
            float b0 = sb[rb], b1 = sb[rb + 16], b2 = sb[rb + 32], b3 = sb[rb + 48];
            R0.Fma(sa[ra], b0, b1, b2, b3);
            R1.Fma(sa[ra + 8], b0, b1, b2, b3);
            R2.Fma(sa[ra + 16], b0, b1, b2, b3);
            R3.Fma(sa[ra + 24], b0, b1, b2, b3);
            R4.Fma(sa[ra + 32], b0, b1, b2, b3);
            R5.Fma(sa[ra + 40], b0, b1, b2, b3);
            R6.Fma(sa[ra + 48], b0, b1, b2, b3);
            R7.Fma(sa[ra + 56], b0, b1, b2, b3);
        }
    }

    /// <summary>Eight prefetched slice elements of one thread.</summary>
    private struct Slice8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;
    }
}
