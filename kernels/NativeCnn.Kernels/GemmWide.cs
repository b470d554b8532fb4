// Single-precision GEMM for large products: the same contract as GemmKernels.GemmForwardKernel
// (C = alpha * op(A) * op(B) + beta * C, row-major, batched, any m, n, k) with a bigger tile.
//
// Tiling (see benchmarks/results/gpu-gemm-notes.md): a group of 256 threads computes a 128x128 tile
// of C; each thread an 8x8 register tile: rows 4*ty + i and 64 + 4*ty + i, columns 4*tx + j and
// 64 + 4*tx + j (tx = t & 15, ty = t >> 4, i, j < 4). Per k step a thread reads its 8 values of
// op(A) and 8 of op(B) as four 16-byte shared loads and does 64 FMAs (16 per load, against 2.7 in the
// 64x64 kernel). The k slice is 8 deep and double-buffered in shared memory: while one buffer is
// multiplied the next slice, already fetched into registers, is stored into the other, so a slice
// costs one barrier. Shared rows are 132 floats: a multiple of 4 (16-byte aligned reads) whose
// offset of 4 banks per row spreads the transposing stores over all 32 banks.
// Global loads: each operand is read as stored (runs of 8 along k when k is contiguous, of 128
// along m or n otherwise), with one base offset per thread and constant steps; edges load zeros.
// What must hold: beta == 0 never reads C (pooled buffers hold garbage, even NaN).
using ILGPU;
using ILGPU.Runtime;

namespace NativeCnn.Kernels;

internal static class GemmWideKernels
{
    public const int TileM = 128, TileN = 128, TileK = 8;
    public const int GroupThreads = 256;
    public const int Ld = 132;                        // padded shared row (floats), a multiple of 4
    private const int Buffer = TileK * Ld;            // floats per slice buffer
    public const int SharedBytes = 2 * 2 * Buffer * sizeof(float);
    /// <summary>Launch bounds: 256 threads, two groups per SM, so ptxas keeps to 128 registers
    /// (left alone it takes 235 to hoist all eight k steps' shared loads, and one group fits).</summary>
    public static KernelSpecialization Specialization => new(GroupThreads, 2);
    private const int Window = 3 * (Ld / 4) + 17;   // Vec4s a thread reads from the first one of four k steps

    // grid: (ceil(n/128), ceil(m/128), batches), group: 256
    public static void GemmWideKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs g)
    {
        // sa: op(A) slices k-major (sa[buf * Buffer + kk * Ld + row]), sb likewise for op(B) by column
        var sa4 = SharedMemory.Allocate<Vec4>(2 * Buffer / 4);
        var sb4 = SharedMemory.Allocate<Vec4>(2 * Buffer / 4);
        var sa = sa4.Cast<float>();
        var sb = sb4.Cast<float>();
        int t = Group.IdxX;
        int tx = t & 15, ty = t >> 4;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            // op(A) row i, depth p is at i * rs + p * ks; op(B) column j, depth p likewise
            var la = new Operand(t, g.TransA == 0, batch * g.StrideA, g.TransA != 0 ? 1 : g.Lda, g.TransA != 0 ? g.Lda : 1, m0, g.M, g.K);
            var lb = new Operand(t, g.TransB != 0, batch * g.StrideB, g.TransB != 0 ? g.Ldb : 1, g.TransB != 0 ? 1 : g.Ldb, n0, g.N, g.K);
            var acc = new Tile8x8();
            var pa = new Slice4(); var pb = new Slice4();

            la.Load(a, 0, ref pa);
            lb.Load(b, 0, ref pb);
            la.Store(sa, 0, ref pa);
            lb.Store(sb, 0, ref pb);
            la.Load(a, TileK, ref pa);          // zeros when k <= 8
            lb.Load(b, TileK, ref pb);
            Group.Barrier();

            int buf = 0;
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                if (k0 + TileK < g.K)
                {
                    // slice k0 + 8, fetched during the previous slice, into the other buffer: it was
                    // last read before the previous barrier
                    la.Store(sa, (buf ^ 1) * Buffer, ref pa);
                    lb.Store(sb, (buf ^ 1) * Buffer, ref pb);
                    if (k0 + 2 * TileK < g.K)
                    {
                        // in flight while this slice is multiplied
                        la.Load(a, k0 + 2 * TileK, ref pa);
                        lb.Load(b, k0 + 2 * TileK, ref pb);
                    }
                }
                // in Vec4 units: row 4*ty of buffer buf at depth kk is (buf * Buffer + kk * Ld + 4 * ty) / 4.
                // Four k steps per trip, by hand (ILGPU 1.5.3 does not unroll). The loop matters: with
                // all eight steps in the barrier's basic block, ILGPU's O2 code placement put the
                // barrier ahead of the shared loads (a race on the GPU that the simulator, which runs
                // the .NET code, cannot show); see gpu-gemm-notes.md
                for (int kk = 0; kk < TileK; kk += 4)
                {
                    var va = sa4.SubView(buf * (Buffer / 4) + kk * (Ld / 4) + ty, Window);
                    var vb = sb4.SubView(buf * (Buffer / 4) + kk * (Ld / 4) + tx, Window);
                    acc.Step(va, vb, 0);
                    acc.Step(va, vb, Ld / 4);
                    acc.Step(va, vb, 2 * (Ld / 4));
                    acc.Step(va, vb, 3 * (Ld / 4));
                }
                Group.Barrier();
                buf ^= 1;
            }

            int row = m0 + 4 * ty, col = n0 + 4 * tx;
            int cBase = batch * g.StrideC;
            StoreRow(c, cBase, g, row, col, ref acc.R0);
            StoreRow(c, cBase, g, row + 1, col, ref acc.R1);
            StoreRow(c, cBase, g, row + 2, col, ref acc.R2);
            StoreRow(c, cBase, g, row + 3, col, ref acc.R3);
            StoreRow(c, cBase, g, row + 64, col, ref acc.R4);
            StoreRow(c, cBase, g, row + 65, col, ref acc.R5);
            StoreRow(c, cBase, g, row + 66, col, ref acc.R6);
            StoreRow(c, cBase, g, row + 67, col, ref acc.R7);
        }
    }

    // C row `row`, columns col..col+3 and col+64..col+67 = alpha * acc + beta * C (C unread when beta == 0)
    private static void StoreRow(ArrayView<float> c, int cBase, GemmArgs g, int row, int col, ref Row8 acc)
    {
        if (row >= g.M) return;
        int p = cBase + row * g.Ldc + col;
        GemmKernels.Store(c, p, col < g.N, acc.C0, g);
        GemmKernels.Store(c, p + 1, col + 1 < g.N, acc.C1, g);
        GemmKernels.Store(c, p + 2, col + 2 < g.N, acc.C2, g);
        GemmKernels.Store(c, p + 3, col + 3 < g.N, acc.C3, g);
        GemmKernels.Store(c, p + 64, col + 64 < g.N, acc.C4, g);
        GemmKernels.Store(c, p + 65, col + 65 < g.N, acc.C5, g);
        GemmKernels.Store(c, p + 66, col + 66 < g.N, acc.C6, g);
        GemmKernels.Store(c, p + 67, col + 67 < g.N, acc.C7, g);
    }

    /// <summary>How one thread moves its 4 elements of an operand's 128 x 8 slice (rows = m for
    /// op(A), n for op(B)): element j of thread t is (row0 + j * dRow, kk0 + j * dKk).</summary>
    private struct Operand
    {
        private readonly int _offset, _rowStep, _kStep, _row0, _dRow, _kk0, _dKk, _rowLimit, _k;

        public Operand(int t, bool kContiguous, int batchBase, int rowStride, int kStride, int tile0, int rows, int k)
        {
            if (kContiguous) { _row0 = t >> 3; _dRow = 32; _kk0 = t & 7; _dKk = 0; }     // runs of 8 along k
            else { _row0 = t & 127; _dRow = 0; _kk0 = t >> 7; _dKk = 2; }               // runs of 128 along the rows
            _rowLimit = rows - tile0;
            _k = k;
            _rowStep = _dRow * rowStride + _dKk * kStride;
            _kStep = kStride;
            _offset = batchBase + (tile0 + _row0) * rowStride + _kk0 * kStride;
        }

        public readonly void Load(ArrayView<float> src, int k0, ref Slice4 r)
        {
            int p = _offset + k0 * _kStep;
            r.V0 = Read(src, p, 0, k0);
            r.V1 = Read(src, p + _rowStep, 1, k0);
            r.V2 = Read(src, p + 2 * _rowStep, 2, k0);
            r.V3 = Read(src, p + 3 * _rowStep, 3, k0);
        }

        private readonly float Read(ArrayView<float> src, int p, int j, int k0) =>
            _row0 + j * _dRow < _rowLimit && k0 + _kk0 + j * _dKk < _k ? src[p] : 0f;

        public readonly void Store(ArrayView<float> s, int bufferBase, ref Slice4 r)
        {
            int q = bufferBase + _kk0 * Ld + _row0, step = _dKk * Ld + _dRow;
            s[q] = r.V0;
            s[q + step] = r.V1;
            s[q + 2 * step] = r.V2;
            s[q + 3 * step] = r.V3;
        }
    }

    /// <summary>Four floats read as one 16-byte shared load (written through the float view).</summary>
#pragma warning disable CS0649 // the fields are filled through sa / sb, the float views of the same shared memory
    private struct Vec4
    {
        public float X, Y, Z, W;
    }
#pragma warning restore CS0649

    /// <summary>Eight accumulators of one output row: scalar fields, so they live in registers.</summary>
    private struct Row8
    {
        public float C0, C1, C2, C3, C4, C5, C6, C7;

        public void Fma(float a, Vec4 lo, Vec4 hi)
        {
            C0 += a * lo.X; C1 += a * lo.Y; C2 += a * lo.Z; C3 += a * lo.W;
            C4 += a * hi.X; C5 += a * hi.Y; C6 += a * hi.Z; C7 += a * hi.W;
        }
    }

    /// <summary>A thread's 8x8 register tile: rows 4ty + i and 64 + 4ty + i, columns likewise by tx.</summary>
    private struct Tile8x8
    {
        public Row8 R0, R1, R2, R3, R4, R5, R6, R7;

        /// <summary>One k step: op(A) at the thread's 8 rows times op(B) at its 8 columns, read from
        /// Vec4 offset i of the thread's windows (+16 Vec4s is +64 rows or columns).</summary>
        public void Step(ArrayView<Vec4> va, ArrayView<Vec4> vb, int i)
        {
            Vec4 aLo = va[i], aHi = va[i + 16], bLo = vb[i], bHi = vb[i + 16];
            R0.Fma(aLo.X, bLo, bHi); R1.Fma(aLo.Y, bLo, bHi); R2.Fma(aLo.Z, bLo, bHi); R3.Fma(aLo.W, bLo, bHi);
            R4.Fma(aHi.X, bLo, bHi); R5.Fma(aHi.Y, bLo, bHi); R6.Fma(aHi.Z, bLo, bHi); R7.Fma(aHi.W, bLo, bHi);
        }
    }

    /// <summary>Four prefetched slice elements of one thread.</summary>
    private struct Slice4
    {
        public float V0, V1, V2, V3;
    }
}
