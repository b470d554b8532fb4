// The float16 GEMM's default kernel for 16-byte-aligned 128x128 products: 4 warps of 64x64
// (GemmFp16Warp64.cs), fragments by ldmatrix (GemmFp16Ldmatrix.cs: tiles as stored, swizzled), mma.sync,
// the slices moved from global to shared memory by the copy engine (cp.async) instead of through
// registers (the lab's variants with 64x32 warps or register staging: benchmarks/NativeCnn.GpuLab/Kernels):
//   - each thread issues cp.async.cg of its 16-byte chunks (2 or 4 per operand and slice) straight into
//     the swizzled tile; chunks that run past the matrix copy what lies inside (the source size) and the
//     copy fills the rest with zeros; chunks wholly outside copy nothing (source size 0);
//   - a ring of 3 slice buffers (48 KB): while slice i is read, slices i + 1 and i + 2 are in flight;
//     one commit group per slice, `cp.async.wait_group 1` before reading (this thread's copies of slice
//     i have landed), then the slice's one barrier (everybody's have; everybody is done with slice i - 1,
//     whose buffer slice i + 2 goes into);
//   - no staging registers and no STS: the loads' latency hides behind two slices of mma.
// cp.async reads global memory by address: the host passes each operand's device address
// (GemmArgs.AddressA/AddressB; view-relative element offsets are added here).
// ptxas keeps ILGPU's inline-PTX outputs (accumulators, ldmatrix registers) in local memory in any
// function that holds a cp.async, so these kernels run only after the host's PTX pass
// (src/NativeCnn/Backends/Gpu/PtxLocalPromotion.cs) has turned those local slots into registers.
// On ILGPU's CPU simulator each copy is done at once with the same source element, byte count and
// destination the GPU's cp.async gets (and commit/wait do nothing), so the ring order, the chunk
// addresses and the edge sizes are checked there; the steps are GemmFp16Ldmatrix.cs's, with both emulations.
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

internal static partial class GemmHalfKernels
{
    /// <summary>Slice buffers in the cp.async ring.</summary>
    public const int AsyncStages = 3;
    /// <summary>The ring: 3 slices of op(A) and op(B), 48 KB (the most a kernel may declare statically).</summary>
    public const int AsyncSharedBytes = AsyncStages * BufferBytes;

    // a: op(A) (m, k) float16 bits, b: op(B) (k, n), c: (m, n) float32 = alpha * a b + beta * c per batch
    // entry; g.AddressA / g.AddressB: the device addresses of a and b. One kernel per transpose pair (N: as
    // stored, T: transposed; g.TransA and g.TransB must match). grid: (ceil(n/128), ceil(m/128), batches);
    // group: 128 (4 warps of 64x64), launch bounds SpecializationWarp64
    public static void GemmHalfAsyncW64NNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g) =>
        AsyncGemm<AlongK, AlongOuter, Acc4x8>(a, b, c, g);

    public static void GemmHalfAsyncW64NTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g) =>
        AsyncGemm<AlongK, AlongK, Acc4x8>(a, b, c, g);

    public static void GemmHalfAsyncW64TNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g) =>
        AsyncGemm<AlongOuter, AlongOuter, Acc4x8>(a, b, c, g);

    public static void GemmHalfAsyncW64TTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g) =>
        AsyncGemm<AlongOuter, AlongK, Acc4x8>(a, b, c, g);

    /// <summary>The cp.async GEMM for any warp tile (the lab runs it with 64x32 warps too).</summary>
    internal static void AsyncGemm<TA, TB, TAcc>(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g)
        where TA : struct, IContiguity where TB : struct, IContiguity where TAcc : struct, ILdmatrixWarpTile
    {
        // the kernel's only shared allocation (the inline PTX finds it by name)
        var slices = SharedMemory.Allocate<U4>(AsyncSharedBytes / 16);
        var w = WarpSetup.For<TA, TB, TAcc>(g);
        bool exact = g.ExactEmulation != 0;
        int shared = SharedBase();   // added to the offsets ldmatrix and cp.async get (0 on the simulator)

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            var acc = default(TAcc);
            // slices 0 and 1 into buffers 0 and 1: one commit group each (the second may be empty)
            CopySliceAsync(a, slices, g.AddressA, aBase, w.Ca, shared, 0, w.M0, g.M, g.K);
            CopySliceAsync(b, slices, g.AddressB, bBase, w.Cb, shared + OperandBytes, 0, w.N0, g.N, g.K);
            CommitCopies();
            if (TileK < g.K)
            {
                CopySliceAsync(a, slices, g.AddressA, aBase, w.Ca, shared + BufferBytes, TileK, w.M0, g.M, g.K);
                CopySliceAsync(b, slices, g.AddressB, bBase, w.Cb, shared + BufferBytes + OperandBytes, TileK, w.N0, g.N, g.K);
            }
            CommitCopies();

            int read = 0;   // the buffer (byte offset) that holds slice k0
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                WaitForAllButNewestCopies();   // slice k0's copies by this thread have landed (k0 + 32's may not)
                Group.Barrier();               // everybody's have; everybody is done reading slice k0 - 32
                // slice k0 + 64 goes into the buffer slice k0 - 32 was read from
                int write = read == 0 ? (AsyncStages - 1) * BufferBytes : read - BufferBytes;
                if (k0 + 2 * TileK < g.K)
                {
                    CopySliceAsync(a, slices, g.AddressA, aBase, w.Ca, shared + write, k0 + 2 * TileK, w.M0, g.M, g.K);
                    CopySliceAsync(b, slices, g.AddressB, bBase, w.Cb, shared + write + OperandBytes, k0 + 2 * TileK, w.N0, g.N, g.K);
                }
                CommitCopies();   // every slice a group, empty ones too: wait_group 1 always means slice k0 + 32
                acc.StepLdmatrix(slices, shared + read, w.La, w.Lb, w.ALane, w.BLane, w.Wm, w.Wn, w.Lane, 0, exact);   // k 0..15
                acc.StepLdmatrix(slices, shared + read, w.La, w.Lb, w.ALane, w.BLane, w.Wm, w.Wn, w.Lane, 1, exact);   // k 16..31
                read = read == (AsyncStages - 1) * BufferBytes ? 0 : read + BufferBytes;
            }

            acc.Store(c, cBase, g, w.M0 + w.Wm + (w.Lane >> 2), w.N0 + w.Wn + 2 * (w.Lane & 3));
            Group.Barrier();   // the next batch's first slices overwrite buffers still being read
        }
    }

    /// <summary>cp.async of this thread's chunks of the slice at <paramref name="k0"/> into the tile at byte
    /// <paramref name="tile"/> of the ring (SharedBase included): the chunks of LoadChunks (GemmFp16Ldmatrix.cs), with what lies
    /// past the matrix (outerLimit x kLimit) left to the copy's zero fill.</summary>
    internal static void CopySliceAsync(ArrayView<ushort> v, ArrayView<U4> slices, long address, int baseOffset, Chunks ch,
                                       int tile, int k0, int outer0, int outerLimit, int kLimit)
    {
        int outer = outer0 + ch.Outer, k = k0 + ch.K;
        int element = baseOffset + outer * ch.OuterStride + k * ch.KStride, step = ch.ElementStep;
        int at = tile + ch.Destination, atStep = ch.DestinationStep;
        if (outer0 + Tile128 <= outerLimit && k0 + TileK <= kLimit)
        {
            // the slice lies inside the matrix (a group-uniform branch): whole chunks, no checks
            CopyChunkAsync(v, slices, address, element, at, 8);
            CopyChunkAsync(v, slices, address, element + step, at + atStep, 8);
            if (ch.Count == 4)
            {
                CopyChunkAsync(v, slices, address, element + 2 * step, at + 2 * atStep, 8);
                CopyChunkAsync(v, slices, address, element + 3 * step, at + 3 * atStep, 8);
            }
            return;
        }
        // as in LoadChunks: chunk i holds data when i RowStep < across, and then its first `along` halves
        int along = ch.KMajor ? Clamp8(kLimit - k) : Clamp8(outerLimit - outer);
        int across = ch.KMajor ? outerLimit - outer : kLimit - k;
        CopyChunkAsync(v, slices, address, element, at, across > 0 ? along : 0);
        CopyChunkAsync(v, slices, address, element + step, at + atStep, across > ch.RowStep ? along : 0);
        if (ch.Count == 4)
        {
            CopyChunkAsync(v, slices, address, element + 2 * step, at + 2 * atStep, across > 2 * ch.RowStep ? along : 0);
            CopyChunkAsync(v, slices, address, element + 3 * step, at + 3 * atStep, across > 3 * ch.RowStep ? along : 0);
        }
    }

    /// <summary>One 16-byte cp.async: halves element .. element + <paramref name="halves"/> - 1 of the operand
    /// at <paramref name="address"/> to byte <paramref name="at"/> of the ring (SharedBase included), zeros after them. A chunk
    /// with nothing to copy reads from the operand's first element (a valid address; 0 bytes are read).
    /// Where PTX cannot run, the same copy at once.</summary>
    internal static void CopyChunkAsync(ArrayView<ushort> v, ArrayView<U4> slices, long address, int element, int at, int halves)
    {
        if (!CudaAsm.IsSupported)
        {
            slices[at >> 4] = LoadChunk(v, v.Cast<U4>(), halves > 0 ? element : 0, halves);
            return;
        }
        ulong source = (ulong)address + 2ul * (uint)(halves > 0 ? element : 0);
        CudaAsm.Emit("cp.async.cg.shared.global [%0], [%1], 16, %2;", (uint)at, source, (uint)(2 * halves));
    }

    /// <summary>Closes this thread's cp.async issued since the last commit into one group.</summary>
    internal static void CommitCopies()
    {
        if (CudaAsm.IsSupported) CudaAsm.Emit("cp.async.commit_group;");
    }

    /// <summary>Waits until at most one of this thread's commit groups (the newest) is still in flight.</summary>
    internal static void WaitForAllButNewestCopies()
    {
        if (CudaAsm.IsSupported) CudaAsm.Emit("cp.async.wait_group 1;");
    }
}
