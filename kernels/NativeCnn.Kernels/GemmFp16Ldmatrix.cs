// The ldmatrix machinery of the float16 GEMM's default kernel (GemmFp16Async.cs): GemmFp16.cs's 128x128
// tensor-core product (same C, same mma.sync m16n8k16, 32-deep slices) with the tiles kept in shared
// memory as they are stored in global memory, and the fragments read by ldmatrix:
//   - rows of 32 halves along k where k is contiguous in global memory (read with ldmatrix), rows of
//     128 halves along m or n otherwise (read with ldmatrix.trans, which hands out the transpose);
//     16-byte chunks are XOR-swizzled within their row, so that the 8 rows of every 8x8 matrix lie
//     in 8 different bank groups of a 128-byte line;
//   - a warp's fragments per k16 step: four ldmatrix.x4 of op(A), two (64x32 warps) or four (64x64 warps,
//     GemmFp16Warp64.cs) of op(B).
// This file holds the layout (Staging), each thread's chunks (Chunks), the warp set-up and the k16 step
// of the 64x32 warp tile; the register-staged variants that use them live in the GPU lab
// (benchmarks/NativeCnn.GpuLab/Kernels/GemmFp16Variants.cs), measurements in benchmarks/results.
// Needs: both operands 16-byte aligned (view offset, leading dimension and batch stride multiples of 8
// halves; the host checks); any m, n, k (edge chunks load what lies inside the matrix, zeros beyond).
// ILGPU gives a kernel no shared address, so ldmatrix's inline PTX takes the tile's address from its
// symbol: the slice buffers must be the kernel's only shared allocation, which ILGPU 1.5.3 names
// __shared_alloca0 (GemmHalfPtxTests checks the declaration; a rename fails ptxas, loudly).
// On ILGPU's CPU simulator, two emulations (GemmArgs.ExactEmulation): by default each mma's sums are
// computed from shared memory through the lane addresses the GPU path gives ldmatrix and the PTX ISA's
// rules for which lane holds what (fast: it checks the swizzle, the chunk and fragment addresses and the
// slice order); exact, the GPU path itself runs with ldmatrix and mma emulated instruction by
// instruction with warp shuffles (slow: it also checks which registers feed which mma). Only the
// instructions themselves are left to the GPU.
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

internal static partial class GemmHalfKernels
{
    /// <summary>One operand's 128 x 32 tile of halves in shared memory.</summary>
    internal const int OperandBytes = Tile128 * TileK * 2;
    /// <summary>A slice buffer: op(A)'s tile, then op(B)'s.</summary>
    internal const int BufferBytes = 2 * OperandBytes;

    /// <summary>A warp's accumulator tile in the ldmatrix kernels: how many threads its group has, where a
    /// warp's sub-tile sits in the 128x128 tile, one k16 step and the epilogue.</summary>
    internal interface ILdmatrixWarpTile
    {
        int Threads { get; }
        int WarpRow(int warp);
        int WarpColumn(int warp);
        /// <summary>One k16 step. Where PTX cannot run, <paramref name="exact"/> runs the GPU path itself with
        /// ldmatrix and mma emulated instruction by instruction (warp shuffles: slow); otherwise each
        /// product is computed from shared memory by the same addresses and the ISA's ownership rules.</summary>
        void StepLdmatrix(ArrayView<U4> slices, int buffer, Staging la, Staging lb, int aLane, int bLane, int wm, int wn, int lane, int s, bool exact);
        void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col);
    }

    /// <summary>Which axis of an operand is contiguous in global memory; a type argument, so that ILGPU
    /// compiles each layout with its offsets as constants (no branch, no predicated twin instructions).</summary>
    internal interface IContiguity { bool KMajor { get; } }

    /// <summary>k contiguous: A as stored, B transposed.</summary>
    internal struct AlongK : IContiguity { public readonly bool KMajor => true; }

    /// <summary>m (of A) or n (of B) contiguous: A transposed, B as stored.</summary>
    internal struct AlongOuter : IContiguity { public readonly bool KMajor => false; }

    /// <summary>What a thread of an ldmatrix kernel works out once: its lane, its warp's sub-tile (Wm, Wn) in
    /// the group's 128x128 tile at (M0, N0), and each operand's layout, chunks and ldmatrix lane offset.
    /// op(A) (m, k) is A stored (m, k) or, transposed, (k, m); op(B) (k, n) is B stored (k, n) or (n, k).</summary>
    internal struct WarpSetup
    {
        public int Lane, Wm, Wn, M0, N0, ALane, BLane;
        public Staging La, Lb;
        public Chunks Ca, Cb;

        public static WarpSetup For<TA, TB, TAcc>(GemmArgs g)
            where TA : struct, IContiguity where TB : struct, IContiguity where TAcc : struct, ILdmatrixWarpTile
        {
            int t = Group.IdxX, warp = t >> 5, threads = default(TAcc).Threads;
            var w = new WarpSetup
            {
                Lane = t & 31, Wm = default(TAcc).WarpRow(warp), Wn = default(TAcc).WarpColumn(warp),
                M0 = Grid.IdxY * Tile128, N0 = Grid.IdxX * Tile128,
                La = Staging.For(default(TA).KMajor), Lb = Staging.For(default(TB).KMajor),
            };
            w.Ca = Chunks.For(w.La, t, threads, w.La.KMajor ? g.Lda : 1, w.La.KMajor ? 1 : g.Lda);
            w.Cb = Chunks.For(w.Lb, t, threads, w.Lb.KMajor ? g.Ldb : 1, w.Lb.KMajor ? 1 : g.Ldb);
            w.ALane = w.La.LaneOffset(w.Lane, w.Wm, isA: true);
            w.BLane = w.Lb.LaneOffset(w.Lane, w.Wn, isA: false);
            return w;
        }
    }

    // ---- the layout of a tile in a buffer ------------------------------------------------------

    /// <summary>How one operand's 128 x 32 tile sits in a slice buffer, and the ldmatrix walk over it.
    /// KMajor (k contiguous in global memory): 128 rows (m or n) of 32 halves = 4 chunks of 16 bytes;
    /// chunk c of row r at r*64 + 16(c ^ ((r/2) mod 4)). Otherwise: 32 rows (k) of 128 halves = 16
    /// chunks; chunk c of row k at k*256 + 16(c ^ (k mod 8)). Either way the 8 consecutive rows of an
    /// 8x8 matrix (16 bytes each) fall in 8 different 16-byte bank groups of a 128-byte line.</summary>
    internal struct Staging
    {
        public bool KMajor;
        /// <summary>A fragment load's byte offset for m16 tile (or n16 pair) i and k16 step s of the slice is
        /// (lane offset + i*TileAdd + s*StepAdd) ^ (i*TileXor + s*StepXor): the adds move whole rows, the
        /// XORs move chunks inside the swizzle (no carries: the chunk bits they flip start clear).</summary>
        public int TileAdd, StepAdd, TileXor, StepXor;

        public static Staging For(bool kMajor) => kMajor
            ? new Staging { KMajor = true, TileAdd = 16 * 64, StepAdd = 0, TileXor = 0, StepXor = 2 << 4 }     // 16 rows on; chunks +2
            : new Staging { KMajor = false, TileAdd = 0, StepAdd = 16 * 256, TileXor = 2 << 4, StepXor = 0 };  // chunks +2; 16 k rows on

        /// <summary>Byte offset of chunk <paramref name="chunk"/> of row <paramref name="row"/> in the tile.</summary>
        public readonly int Offset(int row, int chunk) => KMajor
            ? row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4)
            : row * 256 + ((chunk ^ (row & 7)) << 4);

        /// <summary>The row address this lane gives ldmatrix.x4 for the first m16 tile (A) or n16 pair (B) of
        /// the warp at <paramref name="w"/> and the slice's first k16 step. Lanes 8j..8j+7 give the rows of
        /// matrix j, which becomes register j. A (m16 x k16): matrices (rows 0-7, k 0-7), (8-15, 0-7),
        /// (0-7, 8-15), (8-15, 8-15) = a0..a3 of mma.m16n8k16. B: (n 0-7, k 0-7), (0-7, 8-15), (8-15, 0-7),
        /// (8-15, 8-15) = b0, b1 of two n8 tiles. Stored k-major a matrix row is an m or n row (ldmatrix);
        /// otherwise a k row (ldmatrix.trans, whose transpose is the same fragment).</summary>
        public readonly int LaneOffset(int lane, int w, bool isA)
        {
            int low = lane & 7, x = (lane >> 3) & 1, y = lane >> 4;
            // A k-major and B otherwise step rows by matrix bit 0 and chunks by bit 1; the others the reverse
            bool rowsByX = isA == KMajor;
            int rowStep = rowsByX ? x : y, chunkStep = rowsByX ? y : x;
            return KMajor ? Offset(w + low + 8 * rowStep, chunkStep) : Offset(low + 8 * rowStep, (w >> 3) + chunkStep);
        }

        /// <summary>The lane offset moved to tile (or pair) <paramref name="i"/>, k16 step <paramref name="s"/>.</summary>
        public readonly int At(int laneOffset, int i, int s) => (laneOffset + i * TileAdd + s * StepAdd) ^ (i * TileXor + s * StepXor);
    }

    /// <summary>For tests of the layout (bank conflicts, coverage): the byte offset in an operand tile of the
    /// row address <paramref name="lane"/> gives ldmatrix.x4 for m16 tile (A) or n16 pair (B) <paramref name="i"/>,
    /// k16 step <paramref name="s"/>, of the warp sub-tile at <paramref name="w"/>.</summary>
    public static int LdmatrixRowAddress(bool kMajor, bool isA, int lane, int w, int i, int s)
    {
        var l = Staging.For(kMajor);
        return l.At(l.LaneOffset(lane, w, isA), i, s);
    }

    /// <summary>For tests of the layout: the byte offset in an operand tile where thread <paramref name="t"/> of
    /// <paramref name="threads"/> stores its chunk <paramref name="i"/> of a slice.</summary>
    public static int LdmatrixChunkDestination(bool kMajor, int t, int threads, int i)
    {
        var ch = Chunks.For(Staging.For(kMajor), t, threads, 1, 1);
        return ch.Destination + i * ch.DestinationStep;
    }

    // ---- global -> registers -> shared ---------------------------------------------------------

    /// <summary>Which 16-byte chunks of an operand's 512-chunk slice a thread moves: 512 / T of them for T
    /// threads (2 or 4). KMajor: chunk q = t + Ti is chunk q mod 4 of row q / 4 (a warp reads 8 whole
    /// 64-byte row segments); otherwise chunk q mod 16 of k row q / 16 (two whole 256-byte rows). Chunk
    /// i is RowStep * i rows after the first (T/4 or T/16: a multiple of 8, so its swizzle is the
    /// first's) and 16 T i bytes after it in the tile.</summary>
    internal struct Chunks
    {
        public bool KMajor;
        /// <summary>Chunks per thread, and the tile rows (m or n rows, or k rows) from one to the next.</summary>
        public int Count, RowStep;
        /// <summary>Element offset of (outer, k) = outer * OuterStride + k * KStride (outer: row of op(A), column of op(B)).</summary>
        public int OuterStride, KStride;
        /// <summary>The first chunk's first element: outer index from the tile's first, k from the slice's first.</summary>
        public int Outer, K;
        /// <summary>The first chunk's byte offset in the tile, and the bytes from one chunk to the next.</summary>
        public int Destination, DestinationStep;

        public static Chunks For(Staging l, int t, int threads, int outerStride, int kStride)
        {
            var ch = new Chunks { KMajor = l.KMajor, Count = 512 / threads, OuterStride = outerStride, KStride = kStride };
            int row = l.KMajor ? t >> 2 : t >> 4, chunk = l.KMajor ? t & 3 : t & 15;
            (ch.Outer, ch.K) = l.KMajor ? (row, 8 * chunk) : (8 * chunk, row);
            ch.RowStep = l.KMajor ? threads >> 2 : threads >> 4;
            ch.Destination = l.Offset(row, chunk);
            ch.DestinationStep = 16 * threads;
            return ch;
        }

        /// <summary>Element step from one chunk to the next.</summary>
        public readonly int ElementStep => RowStep * (KMajor ? OuterStride : KStride);
    }

    internal static int Clamp8(int x) => x < 0 ? 0 : x > 8 ? 8 : x;

    /// <summary>Halves element .. element + 7, the first <paramref name="halves"/> of them read, the rest
    /// zero: a whole chunk is one 16-byte load (element is a multiple of 8: the host checked the alignment).</summary>
    internal static U4 LoadChunk(ArrayView<ushort> v, ArrayView<U4> v4, int element, int halves)
    {
        if (halves == 8) return Vector(v4, element >> 3);
        var x = default(U4);
        if (halves > 0) x.X = v[element];
        if (halves > 1) x.X |= (uint)v[element + 1] << 16;
        if (halves > 2) x.Y = v[element + 2];
        if (halves > 3) x.Y |= (uint)v[element + 3] << 16;
        if (halves > 4) x.Z = v[element + 4];
        if (halves > 5) x.Z |= (uint)v[element + 5] << 16;
        if (halves > 6) x.W = v[element + 6];
        return x;
    }

    // ---- shared -> fragments (ldmatrix) -> mma ------------------------------------------------

    internal partial struct Acc4x4 : ILdmatrixWarpTile
    {
        public readonly int Threads => GroupThreads128;
        /// <summary>8 warps, 2 along m x 4 along n, each 64 x 32.</summary>
        public readonly int WarpRow(int warp) => (warp >> 2) * 64;
        public readonly int WarpColumn(int warp) => (warp & 3) * 32;

        /// <summary>k16 step <paramref name="s"/> of the slice in the buffer at byte <paramref name="buffer"/>:
        /// four ldmatrix.x4 of op(A) (one per m16 tile), two of op(B) (one per pair of n8 tiles), 16 mma.</summary>
        public void StepLdmatrix(ArrayView<U4> slices, int buffer, Staging la, Staging lb, int aLane, int bLane,
                                  int wm, int wn, int lane, int s, bool exact)
        {
            int a = buffer, b = buffer + OperandBytes;
            if (!CudaAsm.IsSupported && !exact)
            {
                var w = new FragmentSource { Slices = slices, La = la, Lb = lb, A = a, B = b, Wm = wm, Wn = wn, S = s };
                T00 = MmaFromShared(T00, w, 0, 0, lane); T01 = MmaFromShared(T01, w, 0, 1, lane);
                T02 = MmaFromShared(T02, w, 0, 2, lane); T03 = MmaFromShared(T03, w, 0, 3, lane);
                T10 = MmaFromShared(T10, w, 1, 0, lane); T11 = MmaFromShared(T11, w, 1, 1, lane);
                T12 = MmaFromShared(T12, w, 1, 2, lane); T13 = MmaFromShared(T13, w, 1, 3, lane);
                T20 = MmaFromShared(T20, w, 2, 0, lane); T21 = MmaFromShared(T21, w, 2, 1, lane);
                T22 = MmaFromShared(T22, w, 2, 2, lane); T23 = MmaFromShared(T23, w, 2, 3, lane);
                T30 = MmaFromShared(T30, w, 3, 0, lane); T31 = MmaFromShared(T31, w, 3, 1, lane);
                T32 = MmaFromShared(T32, w, 3, 2, lane); T33 = MmaFromShared(T33, w, 3, 3, lane);
                return;
            }
            var af = AFragments.Load(slices, la, a, aLane, s);
            ColumnPair(slices, lb, b + lb.At(bLane, 0, s), af, ref T00, ref T10, ref T20, ref T30, ref T01, ref T11, ref T21, ref T31);
            ColumnPair(slices, lb, b + lb.At(bLane, 1, s), af, ref T02, ref T12, ref T22, ref T32, ref T03, ref T13, ref T23, ref T33);
        }
    }

    /// <summary>n8 tiles 2p and 2p + 1 (the pair whose ldmatrix row address is <paramref name="bOffset"/>): one
    /// ldmatrix.x4 gives b0, b1 of each, then each column's four mma. One pair at a time keeps 4 B
    /// registers live.</summary>
    internal static void ColumnPair(ArrayView<U4> slices, Staging lb, int bOffset, AFragments af,
                                   ref Frag4 c00, ref Frag4 c10, ref Frag4 c20, ref Frag4 c30,
                                   ref Frag4 c01, ref Frag4 c11, ref Frag4 c21, ref Frag4 c31)
    {
        LoadMatrices(slices, lb.KMajor, bOffset, out uint b00, out uint b01, out uint b10, out uint b11);
        Column(ref c00, ref c10, ref c20, ref c30, af, b00, b01);
        Column(ref c01, ref c11, ref c21, ref c31, af, b10, b11);
    }

    /// <summary>A warp's op(A) fragments for one k16 step: registers a0..a3 of its four m16 tiles.</summary>
    internal struct AFragments
    {
        public uint A00, A01, A02, A03, A10, A11, A12, A13, A20, A21, A22, A23, A30, A31, A32, A33;

        /// <summary>Four ldmatrix.x4, one per m16 tile, of k16 step <paramref name="s"/> of the tile at byte <paramref name="a"/>.</summary>
        public static AFragments Load(ArrayView<U4> slices, Staging la, int a, int aLane, int s)
        {
            var f = new AFragments();
            LoadMatrices(slices, la.KMajor, a + la.At(aLane, 0, s), out f.A00, out f.A01, out f.A02, out f.A03);
            LoadMatrices(slices, la.KMajor, a + la.At(aLane, 1, s), out f.A10, out f.A11, out f.A12, out f.A13);
            LoadMatrices(slices, la.KMajor, a + la.At(aLane, 2, s), out f.A20, out f.A21, out f.A22, out f.A23);
            LoadMatrices(slices, la.KMajor, a + la.At(aLane, 3, s), out f.A30, out f.A31, out f.A32, out f.A33);
            return f;
        }
    }

    /// <summary>The four m16 tiles of one n8 column: four mma with the same B fragment (b0, b1).</summary>
    internal static void Column(ref Frag4 f0, ref Frag4 f1, ref Frag4 f2, ref Frag4 f3, AFragments a, uint b0, uint b1)
    {
        Mma(ref f0, a.A00, a.A01, a.A02, a.A03, b0, b1);
        Mma(ref f1, a.A10, a.A11, a.A12, a.A13, b0, b1);
        Mma(ref f2, a.A20, a.A21, a.A22, a.A23, b0, b1);
        Mma(ref f3, a.A30, a.A31, a.A32, a.A33, b0, b1);
    }

    /// <summary>ldmatrix.x4 from byte <paramref name="offset"/> of the slice buffers, SharedBase included (this lane's row address);
    /// transposed where the tile's rows run along k. Where PTX cannot run, the instruction by the PTX ISA
    /// with warp shuffles: register j of lane l holds matrix j, whose row r lane 8j + r addresses; without
    /// .trans l gets the word at column pair l mod 4 of row l / 4, with .trans the halves at column l / 4
    /// of rows 2(l mod 4) and 2(l mod 4) + 1.</summary>
    internal static void LoadMatrices(ArrayView<U4> slices, bool kMajor, int offset, out uint r0, out uint r1, out uint r2, out uint r3)
    {
        if (!CudaAsm.IsSupported)
        {
            r0 = EmulatedMatrix(slices, kMajor, offset, 0); r1 = EmulatedMatrix(slices, kMajor, offset, 1);
            r2 = EmulatedMatrix(slices, kMajor, offset, 2); r3 = EmulatedMatrix(slices, kMajor, offset, 3);
            return;
        }
        Output<uint> d0 = default, d1 = default, d2 = default, d3 = default;
        Input<uint> at = (uint)offset;
        if (kMajor)
            CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];", ref d0, ref d1, ref d2, ref d3, ref at);
        else
            CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];", ref d0, ref d1, ref d2, ref d3, ref at);
        r0 = d0.Value; r1 = d1.Value; r2 = d2.Value; r3 = d3.Value;
    }

    /// <summary>The shared-window address of the kernel's one shared allocation (the symbol ILGPU 1.5.3 declares,
    /// __shared_alloca0), which the kernels add to every byte offset they hand inline PTX (ldmatrix,
    /// cp.async); 0 where PTX cannot run, whose emulations index the slice buffers by those same offsets.
    /// Read once per thread: taken inside each asm block, the symbol's address costs an S2UR and a UPRMT
    /// per block (ptxas does not share it between blocks).</summary>
    internal static int SharedBase()
    {
        if (!CudaAsm.IsSupported) return 0;
        Output<uint> address = default;
        CudaAsm.EmitRef("mov.u32 %0, __shared_alloca0;", ref address);
        return (int)address.Value;
    }

    /// <summary>Register <paramref name="j"/> of the emulated ldmatrix.x4 (every lane of the warp calls it together).</summary>
    internal static uint EmulatedMatrix(ArrayView<U4> slices, bool kMajor, int offset, int j)
    {
        int row = MatrixRowLane(kMajor, j, Warp.LaneIdx);
        return kMajor ? MatrixWord(slices, true, Warp.Shuffle(offset, row), 0, Warp.LaneIdx)
                      : MatrixWord(slices, false, Warp.Shuffle(offset, row), Warp.Shuffle(offset, row + 1), Warp.LaneIdx);
    }

    /// <summary>The PTX ISA's ldmatrix.x4, part one: the lane whose address is the row that register
    /// <paramref name="j"/> of <paramref name="lane"/> comes from (lane 8j + r addresses row r of matrix
    /// j): row lane / 4 without .trans; with .trans rows 2(lane mod 4) and the next (this lane + 1).</summary>
    internal static int MatrixRowLane(bool kMajor, int j, int lane) => 8 * j + (kMajor ? lane >> 2 : 2 * (lane & 3));

    /// <summary>Part two: the word the lane gets from those rows (byte addresses in the slice buffers).
    /// Without .trans the word at column pair lane mod 4 of the row; with .trans the halves at column
    /// lane / 4 of the two rows (the first in the low half).</summary>
    internal static uint MatrixWord(ArrayView<U4> slices, bool kMajor, int row0, int row1, int lane)
    {
        if (kMajor) return slices.Cast<uint>()[(row0 >> 2) + (lane & 3)];
        var halves = slices.Cast<ushort>();
        int column = lane >> 2;
        return halves[(row0 >> 1) + column] | ((uint)halves[(row1 >> 1) + column] << 16);
    }

    /// <summary>Where the emulation reads a warp's fragments: the slice buffers, both layouts, the buffer's two
    /// tiles (bytes), the warp's sub-tile and the k16 step.</summary>
    internal struct FragmentSource
    {
        public ArrayView<U4> Slices;
        public Staging La, Lb;
        public int A, B, Wm, Wn, S;

        /// <summary>Register <paramref name="reg"/> that ldmatrix.x4 gives <paramref name="lane"/> for m16 tile
        /// <paramref name="i"/> (A) or n16 pair <paramref name="i"/> (B): the other lanes' row addresses
        /// recomputed by the very function the GPU path computes its own with.</summary>
        public readonly uint Fragment(bool isA, int i, int lane, int reg)
        {
            var l = isA ? La : Lb;
            int tile = isA ? A : B, w = isA ? Wm : Wn;
            int rowLane = MatrixRowLane(l.KMajor, reg, lane);
            int row0 = tile + l.At(l.LaneOffset(rowLane, w, isA), i, S);
            int row1 = l.KMajor ? 0 : tile + l.At(l.LaneOffset(rowLane + 1, w, isA), i, S);
            return MatrixWord(Slices, l.KMajor, row0, row1, lane);
        }
    }

    /// <summary>One mma of m16 tile <paramref name="i"/> and n8 tile <paramref name="j"/> where PTX cannot
    /// run: each product term from the lane and register that hold it (as Emulate in GemmFp16.cs), the
    /// registers as ldmatrix would have filled them. Out of line: inlined at each of the 16 (or 32) call
    /// sites it made ILGPU's simulator compile of a kernel take 9-12 s. By value, so that no accumulator
    /// has its address taken (which would put them in local memory on the GPU path too).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal static Frag4 MmaFromShared(Frag4 f, FragmentSource w, int i, int j, int lane)
    {
        int gq = lane >> 2, tig = lane & 3;
        for (int q = 0; q < 8; q++)
        {
            int hi = q >= 4 ? 1 : 0;
            // A row r, k pair q: lane 4(r mod 8) + q mod 4, register (r >= 8) + 2(q >= 4)
            uint rowG = w.Fragment(true, i, 4 * gq + (q & 3), 2 * hi);
            uint rowG8 = w.Fragment(true, i, 4 * gq + (q & 3), 1 + 2 * hi);
            // B column n of n8 tile j = pair j / 2, b0 / b1 in registers 2(j mod 2) + (q >= 4)
            uint col0 = w.Fragment(false, j >> 1, 4 * (2 * tig) + (q & 3), 2 * (j & 1) + hi);
            uint col1 = w.Fragment(false, j >> 1, 4 * (2 * tig + 1) + (q & 3), 2 * (j & 1) + hi);
            f.C0 += Dot2(rowG, col0);
            f.C1 += Dot2(rowG, col1);
            f.C2 += Dot2(rowG8, col0);
            f.C3 += Dot2(rowG8, col1);
        }
        return f;
    }
}
