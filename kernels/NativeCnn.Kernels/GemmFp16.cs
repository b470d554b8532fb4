// Half-precision GEMM on tensor cores: C (float32) = alpha * op(A) * op(B) + beta * C with A and B
// float16 (bit patterns), products accumulated in float32. Row-major, batched, any m, n, k.
//
// Tiling (see benchmarks/results/fp16-gemm-notes.md), two kernels with the same staging:
//   GemmHalfTensorCoreKernel     128 threads (4 warps, 2 x 2) per 64x64 tile of C; each warp a 32x32
//                                sub-tile as 2 (m16) x 4 (n8) mma.sync.m16n8k16 tiles (32 accumulators)
//   GemmHalfTensorCore128Kernel  256 threads (8 warps, 2 x 4) per 128x128 tile; each warp 64x32 as
//                                4 x 4 mma tiles (64 accumulators): per loaded word and per fragment
//                                load, twice and 1.33 times the mma of the 64x64 kernel
// (GemmFp16Ldmatrix.cs: the 128x128 kernel with its tiles as stored and its fragments read by ldmatrix.)
// Accumulators are scalar struct fields so they stay in registers. Both feed each C element's
// accumulators the same mma sequence in the same k order, so their results are bitwise equal.
// Per 32-deep k slice the group stages op(A) (its rows) and op(B) (its columns) in shared
// memory as rows of k pairs (one uint = two halves, the unit a fragment register holds), so every
// fragment register is one 32-bit shared load; rows are padded from 16 to 20 words, which puts the
// 32 lanes of a fragment load on 32 different banks. Slices are double-buffered: the slice after
// next is read from global memory into registers while the current one is multiplied, the next one
// goes into the other buffer, one barrier per slice. Edges load zeros and guard the stores. Where the
// host found an operand 16-byte aligned (GemmArgs.Aligned) and the tile lies inside the matrix, each
// thread reads its slice words as two 16-byte vectors; elsewhere word by word.
//
// The mma is inline PTX (CudaAsm, sm_80+). Where PTX cannot run (ILGPU's CPU simulator) the same
// kernel computes each mma's sums from the very fragment words the hardware would be given (found by
// the PTX ISA's ownership rule, read through the same index functions the GPU path loads with), so
// the simulator checks the tiling, the staging and the fragment layout; only the instruction itself
// is left to the GPU. (ILGPU keeps the emulation in the PTX behind a constant predicate; ptxas drops
// it.) GPUs below sm_80 use the backend's widening path.
// What must hold: beta == 0 never reads C (pooled buffers hold garbage, even NaN).
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

internal static partial class GemmHalfKernels
{
    public const int TileM = 64, TileN = 64, TileK = 32;
    public const int GroupThreads = 128;
    public const int Tile128 = 128, GroupThreads128 = 256;
    /// <summary>Shared row length in words: 16 k pairs + 4 words of padding.</summary>
    public const int RowWords = TileK / 2 + 4;
    /// <summary>log2 of the tile edge: the slice walk, its interior test and its shared stores follow from it
    /// (edge 1 &lt;&lt; shift, threads 2 &lt;&lt; shift, 8 words of each operand per thread and slice).</summary>
    internal const int Shift64 = 6, Shift128 = 7;

    /// <summary>Launch bounds of the 128x128 kernel: 256 threads, two groups per SM (at most 128 registers).</summary>
    public static ILGPU.Runtime.KernelSpecialization Specialization128 => new(GroupThreads128, 2);

    // a: op(A) (m, k) float16 bits, b: op(B) (k, n) float16 bits, c: (m, n) float32 = alpha * a b + beta * c,
    // per batch entry; grid: (ceil(n/64), ceil(m/64), batches), group: 128
    public static void GemmHalfTensorCoreKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g)
    {
        // two slice buffers each; sa[buf * 64 * RowWords + row * RowWords + kp]: halves 2kp, 2kp+1 of op(A) row
        // (allocated as 16-byte units, so the 16-byte stores of aligned operands are aligned)
        var sa = SharedMemory.Allocate<U4>(2 * TileM * RowWords / 4);
        var sb = SharedMemory.Allocate<U4>(2 * TileN * RowWords / 4);   // likewise op(B) by column
        int warp = Group.IdxX >> 5;
        // the warp's 32x32 sub-tile (2 x 2 warps)
        TensorCoreGemm<Acc2x4>(a, b, c, g, sa, sb, Shift64, (warp >> 1) * 32, (warp & 1) * 32);
    }

    // a, b, c, g as above; grid: (ceil(n/128), ceil(m/128), batches), group: 256, launch bounds Specialization128
    public static void GemmHalfTensorCore128Kernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g)
    {
        var sa = SharedMemory.Allocate<U4>(2 * Tile128 * RowWords / 4);
        var sb = SharedMemory.Allocate<U4>(2 * Tile128 * RowWords / 4);
        int warp = Group.IdxX >> 5;
        // the warp's 64x32 sub-tile (2 x 4 warps)
        TensorCoreGemm<Acc4x4>(a, b, c, g, sa, sb, Shift128, (warp >> 2) * 64, (warp & 3) * 32);
    }

    /// <summary>A warp's accumulator tile: one k16 step from the staged slice, and its part of C.</summary>
    internal interface IWarpTile
    {
        void Step(ArrayView<uint> sa, ArrayView<uint> sb, int wm, int wn, int lane, int kp);
        /// <summary>C = alpha * acc + beta * C from the warp tile's first row and this lane's first column.</summary>
        void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col);
    }

    /// <summary>The body both kernels share: the group's tile (edge 1 &lt;&lt; shift) at grid (x, y), its warp's
    /// sub-tile at (wm, wn) accumulated in a TAcc. TAcc is a struct type argument, so ILGPU compiles one
    /// specialised copy per kernel (no dispatch, the accumulators stay scalar registers).</summary>
    internal static void TensorCoreGemm<TAcc>(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g,
                                             ArrayView<U4> sa4, ArrayView<U4> sb4, int shift, int wm, int wn)
        where TAcc : struct, IWarpTile
    {
        int t = Group.IdxX;
        // shifts and masks, not / and %: t is never negative, and ptxas turns signed / and % by
        // constants into division sequences (recomputed inside the main loop)
        int lane = t & 31;
        int gq = lane >> 2, tig = lane & 3;                       // fragment row group and thread-in-group
        int m0 = Grid.IdxY << shift, n0 = Grid.IdxX << shift;
        int bufferWords = (1 << shift) * RowWords;                // one slice buffer of one operand
        var sa = sa4.Cast<uint>();
        var sb = sb4.Cast<uint>();

        // op(A) (m, k): A stored (m, k) has k contiguous, stored (k, m) has m contiguous; likewise op(B) (k, n)
        var wa = g.TransA != 0 ? Walk.For(t, 1, g.Lda, shift) : Walk.For(t, g.Lda, 1, shift);
        var wb = g.TransB != 0 ? Walk.For(t, g.Ldb, 1, shift) : Walk.For(t, 1, g.Ldb, shift);
        // 16-byte loads where the host vouched for the alignment and the whole tile edge is inside the
        // matrix (then every slice is interior: K is a multiple of 32); a group-uniform choice
        bool vecA = (g.Aligned & 1) != 0 && m0 + (1 << shift) <= g.M;
        bool vecB = (g.Aligned & 2) != 0 && n0 + (1 << shift) <= g.N;
        var a4 = a.Cast<U4>(); var b4 = b.Cast<U4>();

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            var acc = default(TAcc);
            var pa = new Words8(); var pb = new Words8();
            Load(a, a4, aBase, wa, vecA, m0, g.M, 0, g.K, t, ref pa, shift);
            Load(b, b4, bBase, wb, vecB, n0, g.N, 0, g.K, t, ref pb, shift);
            Store(sa4, 0, wa, vecA, t, ref pa, shift);
            Store(sb4, 0, wb, vecB, t, ref pb, shift);
            if (TileK < g.K)
            {
                Load(a, a4, aBase, wa, vecA, m0, g.M, TileK, g.K, t, ref pa, shift);
                Load(b, b4, bBase, wb, vecB, n0, g.N, TileK, g.K, t, ref pb, shift);
            }
            Group.Barrier();

            // double-buffered slices, one barrier each: slice k0 + 32 (fetched during the previous
            // slice) goes into the other buffer, which was last read before the previous barrier
            int buf = 0;
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                if (k0 + TileK < g.K)
                {
                    Store(sa4, (buf ^ 1) * bufferWords, wa, vecA, t, ref pa, shift);
                    Store(sb4, (buf ^ 1) * bufferWords, wb, vecB, t, ref pb, shift);
                    if (k0 + 2 * TileK < g.K)
                    {
                        // in flight while this slice is multiplied
                        Load(a, a4, aBase, wa, vecA, m0, g.M, k0 + 2 * TileK, g.K, t, ref pa, shift);
                        Load(b, b4, bBase, wb, vecB, n0, g.N, k0 + 2 * TileK, g.K, t, ref pb, shift);
                    }
                }
                var va = sa.SubView(buf * bufferWords, bufferWords);
                var vb = sb.SubView(buf * bufferWords, bufferWords);
                acc.Step(va, vb, wm, wn, lane, 0);   // k 0..15 of the slice
                acc.Step(va, vb, wm, wn, lane, 8);   // k 16..31
                Group.Barrier();
                buf ^= 1;
            }

            acc.Store(c, cBase, g, m0 + wm + gq, n0 + wn + 2 * tig);
        }
    }

    // ---- global -> registers -> shared ----------------------------------------------------

    /// <summary>Which 8 words (k pairs) of an E x 16-pair slice one thread of 2E moves (E = 1 &lt;&lt; shift,
    /// the tile edge): word j is outer index (row of op(A) or column of op(B)) Outer0 + j*DOuter, k pair
    /// Pair0 + j*DPair. Chosen once per kernel so that neighbouring threads read neighbouring addresses
    /// of the operand as stored: runs of 16 pairs along k when k is contiguous, runs of E along the
    /// outer index otherwise.</summary>
    internal struct Walk
    {
        public int Outer0, Pair0, DOuter, DPair;
        /// <summary>Element offset of (outer, k) = outer * OuterStride + k * KStride.</summary>
        public int OuterStride, KStride;

        public static Walk For(int t, int outerStride, int kStride, int shift)
        {
            var w = new Walk { OuterStride = outerStride, KStride = kStride };
            if (kStride == 1) { w.Outer0 = t >> 4; w.Pair0 = t & 15; w.DOuter = 1 << (shift - 3); w.DPair = 0; }   // 2E threads / 16 pairs
            else { w.Outer0 = t & ((1 << shift) - 1); w.Pair0 = t >> shift; w.DOuter = 0; w.DPair = 2; }          // 2E threads / E
            return w;
        }

        /// <summary>Index of the thread's first word in the shared slice (word j: + j * (DOuter * RowWords + DPair)).</summary>
        public readonly int Shared0 => Outer0 * RowWords + Pair0;
    }

    /// <summary>Two k-consecutive halves packed as a fragment register holds them (lower k in the low 16 bits).</summary>
    internal static uint Pair(ArrayView<ushort> v, int addr, int kStride) => v[addr] | ((uint)v[addr + kStride] << 16);

    internal static uint PairGuarded(ArrayView<ushort> v, int addr, int kStride, int outer, int k, int outerLimit, int kLimit)
    {
        if (outer >= outerLimit || k >= kLimit) return 0u;
        uint lo = v[addr];
        return k + 1 < kLimit ? lo | ((uint)v[addr + kStride] << 16) : lo;
    }

    /// <summary>The thread's 8 words of the slice at (outer0, k0); zeros outside outerLimit x kLimit.
    /// Interior slices (all but the edges) skip every bounds check.</summary>
    internal static void LoadSlice(ArrayView<ushort> v, int baseOffset, Walk w, int outer0, int outerLimit, int k0, int kLimit, ref Words8 r, int shift)
    {
        int o = outer0 + w.Outer0, k = k0 + 2 * w.Pair0, ks = w.KStride;
        int addr = baseOffset + o * w.OuterStride + k * ks;
        int step = w.DOuter * w.OuterStride + 2 * w.DPair * ks;
        if (outer0 + (1 << shift) <= outerLimit && k0 + TileK <= kLimit)
        {
            r.V0 = Pair(v, addr, ks); r.V1 = Pair(v, addr + step, ks);
            r.V2 = Pair(v, addr + 2 * step, ks); r.V3 = Pair(v, addr + 3 * step, ks);
            r.V4 = Pair(v, addr + 4 * step, ks); r.V5 = Pair(v, addr + 5 * step, ks);
            r.V6 = Pair(v, addr + 6 * step, ks); r.V7 = Pair(v, addr + 7 * step, ks);
            return;
        }
        int dO = w.DOuter, dK = 2 * w.DPair;
        r.V0 = PairGuarded(v, addr, ks, o, k, outerLimit, kLimit);
        r.V1 = PairGuarded(v, addr + step, ks, o + dO, k + dK, outerLimit, kLimit);
        r.V2 = PairGuarded(v, addr + 2 * step, ks, o + 2 * dO, k + 2 * dK, outerLimit, kLimit);
        r.V3 = PairGuarded(v, addr + 3 * step, ks, o + 3 * dO, k + 3 * dK, outerLimit, kLimit);
        r.V4 = PairGuarded(v, addr + 4 * step, ks, o + 4 * dO, k + 4 * dK, outerLimit, kLimit);
        r.V5 = PairGuarded(v, addr + 5 * step, ks, o + 5 * dO, k + 5 * dK, outerLimit, kLimit);
        r.V6 = PairGuarded(v, addr + 6 * step, ks, o + 6 * dO, k + 6 * dK, outerLimit, kLimit);
        r.V7 = PairGuarded(v, addr + 7 * step, ks, o + 7 * dO, k + 7 * dK, outerLimit, kLimit);
    }

    /// <summary>The thread's 8 words of the slice at k0: in 16-byte vectors when <paramref name="vec"/>
    /// (then the slice is interior), else word by word (LoadSlice).</summary>
    internal static void Load(ArrayView<ushort> v, ArrayView<U4> v4, int baseOffset, Walk w, bool vec,
                             int outer0, int outerLimit, int k0, int kLimit, int t, ref Words8 r, int shift)
    {
        if (!vec) LoadSlice(v, baseOffset, w, outer0, outerLimit, k0, kLimit, ref r, shift);
        else if (w.KStride == 1) LoadVectorsAlongK(v4, baseOffset, w.OuterStride, outer0, k0, t, ref r, shift);
        else LoadVectorsAlongOuter(v4, baseOffset, w.KStride, outer0, k0, t, ref r);
    }

    /// <summary>The words of Load into the buffer at word <paramref name="bufferWords"/> of the shared slice.</summary>
    internal static void Store(ArrayView<U4> s4, int bufferWords, Walk w, bool vec, int t, ref Words8 r, int shift)
    {
        if (!vec) StoreSlice(s4.Cast<uint>().SubView(bufferWords), w, ref r, shift);
        else if (w.KStride == 1) StoreVectorsAlongK(s4.SubView(bufferWords >> 2), t, ref r, shift);
        else StoreVectorsAlongOuter(s4.Cast<uint>().SubView(bufferWords), t, ref r);
    }

    /// <summary>k contiguous: the slice is E rows of 32 halves, four 16-byte vectors each (4E vectors for
    /// 2E threads). Thread t takes vector t &amp; 3 of rows t &gt;&gt; 2 and t &gt;&gt; 2 + E/2: a warp reads
    /// eight whole 64-byte row segments.</summary>
    internal static void LoadVectorsAlongK(ArrayView<U4> v4, int baseOffset, int outerStride, int outer0, int k0, int t, ref Words8 r, int shift)
    {
        int e = baseOffset + (outer0 + (t >> 2)) * outerStride + k0 + 8 * (t & 3);   // a multiple of 8 halves
        U4 x = Vector(v4, e >> 3), y = Vector(v4, (e + (outerStride << (shift - 1))) >> 3);
        r.V0 = x.X; r.V1 = x.Y; r.V2 = x.Z; r.V3 = x.W;
        r.V4 = y.X; r.V5 = y.Y; r.V6 = y.Z; r.V7 = y.W;
    }

    /// <summary>Words 4(t &amp; 3) .. +3 of rows t &gt;&gt; 2 and t &gt;&gt; 2 + E/2: two 16-byte stores (a row is RowWords = 5 vectors).</summary>
    internal static void StoreVectorsAlongK(ArrayView<U4> s4, int t, ref Words8 r, int shift)
    {
        int at = (t >> 2) * (RowWords / 4) + (t & 3);
        s4[at] = new U4 { X = r.V0, Y = r.V1, Z = r.V2, W = r.V3 };
        s4[at + (RowWords / 4 << (shift - 1))] = new U4 { X = r.V4, Y = r.V5, Z = r.V6, W = r.V7 };
    }

    /// <summary>The outer index contiguous: thread t takes k pair t &amp; 15 of the 8 outer indices from
    /// 8(t &gt;&gt; 4) (2E threads, E/8 groups of 8): one 16-byte vector of each of the pair's two k rows,
    /// whose halves interleave into 8 words (lower k in the low half).</summary>
    internal static void LoadVectorsAlongOuter(ArrayView<U4> v4, int baseOffset, int kStride, int outer0, int k0, int t, ref Words8 r)
    {
        int e = baseOffset + (k0 + 2 * (t & 15)) * kStride + outer0 + 8 * (t >> 4);   // a multiple of 8 halves
        U4 x = Vector(v4, e >> 3), y = Vector(v4, (e + kStride) >> 3);
        r.V0 = (x.X & 0xFFFFu) | (y.X << 16); r.V1 = (x.X >> 16) | (y.X & 0xFFFF0000u);
        r.V2 = (x.Y & 0xFFFFu) | (y.Y << 16); r.V3 = (x.Y >> 16) | (y.Y & 0xFFFF0000u);
        r.V4 = (x.Z & 0xFFFFu) | (y.Z << 16); r.V5 = (x.Z >> 16) | (y.Z & 0xFFFF0000u);
        r.V6 = (x.W & 0xFFFFu) | (y.W << 16); r.V7 = (x.W >> 16) | (y.W & 0xFFFF0000u);
    }

    /// <summary>Vector i of a view the host found 16-byte aligned. On the GPU AsAligned tells ILGPU so
    /// (one ld.global.v4 instead of four 32-bit loads); the simulator reads the .NET struct.</summary>
    internal static U4 Vector(ArrayView<U4> v4, int i) => CudaAsm.IsSupported ? v4.AsAligned(16)[i] : v4[i];

    /// <summary>Word j to row 8(t &gt;&gt; 4) + j, pair t &amp; 15: a warp's 32 stores of one j hit 16 banks twice.</summary>
    internal static void StoreVectorsAlongOuter(ArrayView<uint> s, int t, ref Words8 r)
    {
        var v = s.SubView(8 * (t >> 4) * RowWords + (t & 15));
        const int D = RowWords;
        v[0] = r.V0; v[D] = r.V1; v[2 * D] = r.V2; v[3 * D] = r.V3;
        v[4 * D] = r.V4; v[5 * D] = r.V5; v[6 * D] = r.V6; v[7 * D] = r.V7;
    }

    /// <summary>The 8 words into the shared slice. The step between them is one of two constants (8 rows
    /// when k is contiguous, 2 pairs otherwise): spelled out, every store is an immediate offset of one address.</summary>
    internal static void StoreSlice(ArrayView<uint> s, Walk w, ref Words8 r, int shift)
    {
        var v = s.SubView(w.Shared0);
        if (w.KStride == 1)
        {
            // shift is a constant at every call, so D is one too (8 or 16 rows)
            int D = (1 << (shift - 3)) * RowWords;
            v[0] = r.V0; v[D] = r.V1; v[2 * D] = r.V2; v[3 * D] = r.V3;
            v[4 * D] = r.V4; v[5 * D] = r.V5; v[6 * D] = r.V6; v[7 * D] = r.V7;
        }
        else
        {
            const int D = 2;
            v[0] = r.V0; v[D] = r.V1; v[2 * D] = r.V2; v[3 * D] = r.V3;
            v[4 * D] = r.V4; v[5 * D] = r.V5; v[6 * D] = r.V6; v[7 * D] = r.V7;
        }
    }

    // ---- epilogue ------------------------------------------------------------------------

    /// <summary>One m16 row of four n8 tiles: C rows row and row + 8, columns col + 8j and col + 8j + 1.</summary>
    internal static void StoreTile(ArrayView<float> c, int cBase, GemmArgs g, int row, int col,
                                  ref Frag4 f0, ref Frag4 f1, ref Frag4 f2, ref Frag4 f3)
    {
        StoreFrag(c, cBase, g, row, col, ref f0);
        StoreFrag(c, cBase, g, row, col + 8, ref f1);
        StoreFrag(c, cBase, g, row, col + 16, ref f2);
        StoreFrag(c, cBase, g, row, col + 24, ref f3);
    }

    internal static void StoreFrag(ArrayView<float> c, int cBase, GemmArgs g, int row, int col, ref Frag4 f)
    {
        Store(c, cBase, g, row, col, f.C0);
        Store(c, cBase, g, row, col + 1, f.C1);
        Store(c, cBase, g, row + 8, col, f.C2);
        Store(c, cBase, g, row + 8, col + 1, f.C3);
    }

    internal static void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col, float v)
    {
        if (row >= g.M || col >= g.N) return;
        int p = cBase + row * g.Ldc + col;
        c[p] = g.Beta == 0f ? g.Alpha * v : g.Alpha * v + g.Beta * c[p];
    }

    // ---- the tensor-core step ------------------------------------------------------------

    /// <summary>An m16n8 accumulator fragment: rows g / g + 8, columns 2*tig, 2*tig + 1.</summary>
    internal struct Frag4
    {
        public float C0, C1, C2, C3;
    }

    /// <summary>Where a lane's fragment words sit in a tile staged in shared memory (PTX ISA, m16n8k16,
    /// .f16; lane = 4g + t): its row (A) or column (B) g and k pair t. Shifts, not / and %: lane is
    /// never negative, and signed division would cost a dozen instructions per fragment load.</summary>
    internal static int LaneOffset(int lane) => (lane >> 2) * RowWords + (lane & 3);

    /// <summary>A register reg of the lane: a0 = (g, k pair t), a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4).</summary>
    internal static int ARegOffset(int reg) => (reg & 1) * 8 * RowWords + (reg >> 1) * 4;

    /// <summary>B register reg: b0 = (k pair t, column g), b1 = (t+4, column g).</summary>
    internal static int BRegOffset(int reg) => reg * 4;

    /// <summary>Shared index of A fragment register <paramref name="reg"/> of <paramref name="lane"/> for the m16 tile
    /// at slice row <paramref name="rowBase"/>, k pair <paramref name="kp"/>. The GPU path loads with these
    /// offsets, the emulation reads through them: one statement of the layout.</summary>
    internal static int AWord(int rowBase, int kp, int lane, int reg) => rowBase * RowWords + kp + LaneOffset(lane) + ARegOffset(reg);

    internal static int BWord(int colBase, int kp, int lane, int reg) => colBase * RowWords + kp + LaneOffset(lane) + BRegOffset(reg);

    /// <summary>A warp's 32x32 sub-tile: 2 m16 tiles (T0x, T1x) by 4 n8 tiles.</summary>
    internal struct Acc2x4 : IWarpTile
    {
        public Frag4 T00, T01, T02, T03, T10, T11, T12, T13;

        public void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col)
        {
            StoreTile(c, cBase, g, row, col, ref T00, ref T01, ref T02, ref T03);
            StoreTile(c, cBase, g, row + 16, col, ref T10, ref T11, ref T12, ref T13);
        }

        /// <summary>One k16 step from k pair <paramref name="kp"/> of the staged slice: 8 fragment words of
        /// op(A), 8 of op(B), 8 mma.</summary>
        public void Step(ArrayView<uint> sa, ArrayView<uint> sb, int wm, int wn, int lane, int kp)
        {
            if (!CudaAsm.IsSupported)
            {
                EmulateRow(ref T00, ref T01, ref T02, ref T03, sa, sb, wm, wn, kp, lane);
                EmulateRow(ref T10, ref T11, ref T12, ref T13, sa, sb, wm + 16, wn, kp, lane);
                return;
            }
            // lane and k pair folded into one base per operand; each register is a constant offset from it
            int ai = wm * RowWords + kp + LaneOffset(lane), bi = wn * RowWords + kp + LaneOffset(lane);
            // views at the bases, so every register below is an immediate offset of one shared address
            var av = sa.SubView(ai);
            var bv = sb.SubView(bi);
            const int Tile16 = 16 * RowWords, Tile8 = 8 * RowWords;
            uint a00 = av[ARegOffset(0)], a01 = av[ARegOffset(1)], a02 = av[ARegOffset(2)], a03 = av[ARegOffset(3)];
            uint a10 = av[Tile16 + ARegOffset(0)], a11 = av[Tile16 + ARegOffset(1)], a12 = av[Tile16 + ARegOffset(2)], a13 = av[Tile16 + ARegOffset(3)];
            uint b0 = bv[BRegOffset(0)], b1 = bv[BRegOffset(1)];
            Mma(ref T00, a00, a01, a02, a03, b0, b1);
            Mma(ref T10, a10, a11, a12, a13, b0, b1);
            b0 = bv[Tile8 + BRegOffset(0)]; b1 = bv[Tile8 + BRegOffset(1)];
            Mma(ref T01, a00, a01, a02, a03, b0, b1);
            Mma(ref T11, a10, a11, a12, a13, b0, b1);
            b0 = bv[2 * Tile8 + BRegOffset(0)]; b1 = bv[2 * Tile8 + BRegOffset(1)];
            Mma(ref T02, a00, a01, a02, a03, b0, b1);
            Mma(ref T12, a10, a11, a12, a13, b0, b1);
            b0 = bv[3 * Tile8 + BRegOffset(0)]; b1 = bv[3 * Tile8 + BRegOffset(1)];
            Mma(ref T03, a00, a01, a02, a03, b0, b1);
            Mma(ref T13, a10, a11, a12, a13, b0, b1);
        }
    }

    /// <summary>A warp's 64x32 sub-tile in the 128x128 kernel: 4 m16 tiles (Tix) by 4 n8 tiles.</summary>
    internal partial struct Acc4x4 : IWarpTile
    {
        public Frag4 T00, T01, T02, T03, T10, T11, T12, T13, T20, T21, T22, T23, T30, T31, T32, T33;

        public void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col)
        {
            StoreTile(c, cBase, g, row, col, ref T00, ref T01, ref T02, ref T03);
            StoreTile(c, cBase, g, row + 16, col, ref T10, ref T11, ref T12, ref T13);
            StoreTile(c, cBase, g, row + 32, col, ref T20, ref T21, ref T22, ref T23);
            StoreTile(c, cBase, g, row + 48, col, ref T30, ref T31, ref T32, ref T33);
        }

        /// <summary>One k16 step: 16 fragment words of op(A), 8 of op(B), 16 mma.</summary>
        public void Step(ArrayView<uint> sa, ArrayView<uint> sb, int wm, int wn, int lane, int kp)
        {
            if (!CudaAsm.IsSupported)
            {
                EmulateRow(ref T00, ref T01, ref T02, ref T03, sa, sb, wm, wn, kp, lane);
                EmulateRow(ref T10, ref T11, ref T12, ref T13, sa, sb, wm + 16, wn, kp, lane);
                EmulateRow(ref T20, ref T21, ref T22, ref T23, sa, sb, wm + 32, wn, kp, lane);
                EmulateRow(ref T30, ref T31, ref T32, ref T33, sa, sb, wm + 48, wn, kp, lane);
                return;
            }
            var av = sa.SubView(wm * RowWords + kp + LaneOffset(lane));
            var bv = sb.SubView(wn * RowWords + kp + LaneOffset(lane));
            const int Tile16 = 16 * RowWords, Tile8 = 8 * RowWords;
            uint a00 = av[ARegOffset(0)], a01 = av[ARegOffset(1)], a02 = av[ARegOffset(2)], a03 = av[ARegOffset(3)];
            uint a10 = av[Tile16 + ARegOffset(0)], a11 = av[Tile16 + ARegOffset(1)], a12 = av[Tile16 + ARegOffset(2)], a13 = av[Tile16 + ARegOffset(3)];
            uint a20 = av[2 * Tile16 + ARegOffset(0)], a21 = av[2 * Tile16 + ARegOffset(1)], a22 = av[2 * Tile16 + ARegOffset(2)], a23 = av[2 * Tile16 + ARegOffset(3)];
            uint a30 = av[3 * Tile16 + ARegOffset(0)], a31 = av[3 * Tile16 + ARegOffset(1)], a32 = av[3 * Tile16 + ARegOffset(2)], a33 = av[3 * Tile16 + ARegOffset(3)];
            uint b0 = bv[BRegOffset(0)], b1 = bv[BRegOffset(1)];
            Mma(ref T00, a00, a01, a02, a03, b0, b1); Mma(ref T10, a10, a11, a12, a13, b0, b1);
            Mma(ref T20, a20, a21, a22, a23, b0, b1); Mma(ref T30, a30, a31, a32, a33, b0, b1);
            b0 = bv[Tile8 + BRegOffset(0)]; b1 = bv[Tile8 + BRegOffset(1)];
            Mma(ref T01, a00, a01, a02, a03, b0, b1); Mma(ref T11, a10, a11, a12, a13, b0, b1);
            Mma(ref T21, a20, a21, a22, a23, b0, b1); Mma(ref T31, a30, a31, a32, a33, b0, b1);
            b0 = bv[2 * Tile8 + BRegOffset(0)]; b1 = bv[2 * Tile8 + BRegOffset(1)];
            Mma(ref T02, a00, a01, a02, a03, b0, b1); Mma(ref T12, a10, a11, a12, a13, b0, b1);
            Mma(ref T22, a20, a21, a22, a23, b0, b1); Mma(ref T32, a30, a31, a32, a33, b0, b1);
            b0 = bv[3 * Tile8 + BRegOffset(0)]; b1 = bv[3 * Tile8 + BRegOffset(1)];
            Mma(ref T03, a00, a01, a02, a03, b0, b1); Mma(ref T13, a10, a11, a12, a13, b0, b1);
            Mma(ref T23, a20, a21, a22, a23, b0, b1); Mma(ref T33, a30, a31, a32, a33, b0, b1);
        }
    }

    /// <summary>The emulated mma of one m16 row of four n8 tiles (simulator only).</summary>
    internal static void EmulateRow(ref Frag4 f0, ref Frag4 f1, ref Frag4 f2, ref Frag4 f3,
                                   ArrayView<uint> sa, ArrayView<uint> sb, int rowBase, int colBase, int kp, int lane)
    {
        Emulate(ref f0, sa, sb, rowBase, colBase, kp, lane); Emulate(ref f1, sa, sb, rowBase, colBase + 8, kp, lane);
        Emulate(ref f2, sa, sb, rowBase, colBase + 16, kp, lane); Emulate(ref f3, sa, sb, rowBase, colBase + 24, kp, lane);
    }

    /// <summary>D = A (16x16) * B (16x8) + C on the warp's fragments: one mma.sync.</summary>
    internal static void Mma(ref Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        if (!CudaAsm.IsSupported)
        {
            f = EmulatedMma(f, a0, a1, a2, a3, b0, b1);
            return;
        }
        Ref<float> d0 = f.C0, d1 = f.C1, d2 = f.C2, d3 = f.C3;
        Input<uint> x0 = a0, x1 = a1, x2 = a2, x3 = a3, y0 = b0, y1 = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref d0, ref d1, ref d2, ref d3, ref x0, ref x1, ref x2, ref x3, ref y0, ref y1);
        f.C0 = d0.Value; f.C1 = d1.Value; f.C2 = d2.Value; f.C3 = d3.Value;
    }

    /// <summary>What one mma.sync leaves in this lane's accumulators (rows g, g+8; columns 2t, 2t+1),
    /// where PTX cannot run. Each product term is read from the fragment register that, by the PTX
    /// ISA, holds it (k pair q of A row r: lane 4(r mod 8) + q mod 4, register (r &gt;= 8) + 2(q &gt;= 4);
    /// of B column j: lane 4j + q mod 4, register (q &gt;= 4)), through the same AWord/BWord the GPU
    /// loads with: a wrong fragment layout gives wrong sums here too.</summary>
    internal static void Emulate(ref Frag4 f, ArrayView<uint> sa, ArrayView<uint> sb, int rowBase, int colBase, int kp, int lane)
    {
        int gq = lane >> 2, tig = lane & 3;
        for (int q = 0; q < 8; q++)
        {
            int hi = q >= 4 ? 1 : 0;
            uint rowG = sa[AWord(rowBase, kp, 4 * gq + q % 4, 2 * hi)];
            uint rowG8 = sa[AWord(rowBase, kp, 4 * gq + q % 4, 1 + 2 * hi)];
            uint col0 = sb[BWord(colBase, kp, 4 * (2 * tig) + q % 4, hi)];
            uint col1 = sb[BWord(colBase, kp, 4 * (2 * tig + 1) + q % 4, hi)];
            f.C0 += Dot2(rowG, col0);
            f.C1 += Dot2(rowG, col1);
            f.C2 += Dot2(rowG8, col0);
            f.C3 += Dot2(rowG8, col1);
        }
    }

    /// <summary>One mma.sync where PTX cannot run, from the registers themselves (every lane of the warp
    /// calls it together; the ldmatrix kernels use it, GemmFp16.cs's kernels emulate from shared memory):
    /// the product terms of this lane's accumulators fetched by warp shuffle from the lanes that hold them
    /// by the PTX ISA (A row r, k pair q: lane 4(r mod 8) + q mod 4, register (r &gt;= 8) + 2(q &gt;= 4);
    /// B column n: lane 4n + q mod 4, register (q &gt;= 4)). Out of line: inlined at every mma it made
    /// ILGPU's simulator compile of a kernel take seconds; by value, so no accumulator's address is taken.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal static Frag4 EmulatedMma(Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        int lane = Warp.LaneIdx, gq = lane >> 2, tig = lane & 3;
        for (int q = 0; q < 8; q++)
        {
            bool hi = q >= 4;
            int owner = 4 * gq + (q & 3);
            uint rowG = Warp.Shuffle(hi ? a2 : a0, owner), rowG8 = Warp.Shuffle(hi ? a3 : a1, owner);
            uint col0 = Warp.Shuffle(hi ? b1 : b0, 8 * tig + (q & 3)), col1 = Warp.Shuffle(hi ? b1 : b0, 8 * tig + 4 + (q & 3));
            f.C0 += Dot2(rowG, col0);
            f.C1 += Dot2(rowG, col1);
            f.C2 += Dot2(rowG8, col0);
            f.C3 += Dot2(rowG8, col1);
        }
        return f;
    }

    internal static float Dot2(uint x, uint y) =>
        HalfBits.ToFloat((ushort)(x & 0xFFFFu)) * HalfBits.ToFloat((ushort)(y & 0xFFFFu)) +
        HalfBits.ToFloat((ushort)(x >> 16)) * HalfBits.ToFloat((ushort)(y >> 16));

    /// <summary>Sixteen bytes: eight halves of global memory, four words of shared memory.</summary>
    internal struct U4
    {
        public uint X, Y, Z, W;
    }

    /// <summary>Eight prefetched fragment words of one thread.</summary>
    internal struct Words8
    {
        public uint V0, V1, V2, V3, V4, V5, V6, V7;
    }
}
