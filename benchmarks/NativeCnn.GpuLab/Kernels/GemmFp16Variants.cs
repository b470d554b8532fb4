// The GPU lab's float16 GEMM variants beside the product's ldmatrix kernels (kernels/NativeCnn.Kernels/
// GemmFp16Ldmatrix.cs, GemmFp16Async.cs, GemmFp16Warp64.cs: same tiles, same swizzled layout, same ldmatrix
// and mma.sync steps, same epilogue), none of them on the engine's default path:
//   - register-staged ldmatrix kernels (GemmHalfLdmatrix*): each thread moves its 16-byte chunks of a slice
//     global -> registers -> shared (LDG.128 then STS.128) into two alternating slice buffers, one barrier
//     per slice; 8 warps of 64x32 or (W64) 4 warps of 64x64; optionally (LabGemmArgs.Prefetch) asking L1
//     for the slice after the ones in flight (prefetch.global.L1);
//   - cp.async with 8 warps of 64x32 (GemmHalfAsync*): the product's cp.async kernel (AsyncGemm) with the
//     64x32 warp tile instead of its 64x64.
// Their measurements are in benchmarks/results (fp16-gemm-notes.md, h200.md). They run through the
// backend's float16 GEMM where the lab installs LabHalfGemm (GpuKernelOptions.HalfTensorCoreOverride), so the
// lab's cases, kernel ladder and benchmarks time and check them like the default kernel.
// What must hold: bitwise the product kernels' results (the same mma sequence per accumulator).
using ILGPU;
using ILGPU.Runtime.Cuda;
using NativeCnn.Kernels;
using static NativeCnn.Kernels.GemmHalfKernels;

namespace NativeCnn.GpuLab.Kernels;

/// <summary>A lab GEMM kernel's arguments: the product's GemmArgs and what only lab kernels read.</summary>
internal struct LabGemmArgs
{
    public GemmArgs G;
    /// <summary>Register-staged ldmatrix kernels: 1, each thread asks L1 for its chunks of the slice after the
    /// ones in flight (prefetch.global.L1 at G.AddressA/AddressB); 0, no prefetch.</summary>
    public int Prefetch;
    /// <summary>Wgmma kernel only: 0 encodes its shared-memory descriptors as the PTX ISA documents them
    /// (leading byte offset along k, stride byte offset along m or n); 1 the other way round, for a device on
    /// which the wgmma probe finds that reading (LabHalfGemm.Wgmma.cs).</summary>
    public int WgmmaOffsetsSwapped;
}

internal static class LabGemmHalfKernels
{
    /// <summary>The register-staged kernels' two slice buffers: 32 KB.</summary>
    public const int LdmatrixSharedBytes = 2 * BufferBytes;

    // a: op(A) (m, k) float16 bits, b: op(B) (k, n), c: (m, n) float32 = alpha * a b + beta * c per batch
    // entry. One kernel per transpose pair (N: as stored, T: transposed; g.TransA and g.TransB must
    // match), so that each tile layout is a constant. grid: (ceil(n/128), ceil(m/128), batches);
    // group: 256 (8 warps of 64x32), launch bounds Specialization128
    public static void GemmHalfLdmatrixNNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongK, AlongOuter, Acc4x4>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixNTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongK, AlongK, Acc4x4>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixTNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongOuter, AlongOuter, Acc4x4>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixTTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongOuter, AlongK, Acc4x4>(a, b, c, g.G, g.Prefetch != 0);

    // the same with 4 warps of 64x64 per 128x128 tile (GemmFp16Warp64.cs): group 128, launch bounds SpecializationWarp64
    public static void GemmHalfLdmatrixW64NNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongK, AlongOuter, Acc4x8>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixW64NTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongK, AlongK, Acc4x8>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixW64TNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongOuter, AlongOuter, Acc4x8>(a, b, c, g.G, g.Prefetch != 0);

    public static void GemmHalfLdmatrixW64TTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        LdmatrixGemm<AlongOuter, AlongK, Acc4x8>(a, b, c, g.G, g.Prefetch != 0);

    // a, b, c, g as in GemmFp16Ldmatrix.cs, plus g.AddressA / g.AddressB: the device addresses of a and b.
    // grid: (ceil(n/128), ceil(m/128), batches); group: 256 (8 warps of 64x32), launch bounds Specialization128
    public static void GemmHalfAsyncNNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        AsyncGemm<AlongK, AlongOuter, Acc4x4>(a, b, c, g.G);

    public static void GemmHalfAsyncNTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        AsyncGemm<AlongK, AlongK, Acc4x4>(a, b, c, g.G);

    public static void GemmHalfAsyncTNKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        AsyncGemm<AlongOuter, AlongOuter, Acc4x4>(a, b, c, g.G);

    public static void GemmHalfAsyncTTKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs g) =>
        AsyncGemm<AlongOuter, AlongK, Acc4x4>(a, b, c, g.G);


    private static void LdmatrixGemm<TA, TB, TAcc>(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, GemmArgs g, bool prefetch)
        where TA : struct, IContiguity where TB : struct, IContiguity where TAcc : struct, ILdmatrixWarpTile
    {
        // the kernel's only shared allocation (ldmatrix's inline PTX finds it by name)
        var slices = SharedMemory.Allocate<U4>(LdmatrixSharedBytes / 16);
        var w = WarpSetup.For<TA, TB, TAcc>(g);
        int lane = w.Lane, wm = w.Wm, wn = w.Wn, m0 = w.M0, n0 = w.N0, aLane = w.ALane, bLane = w.BLane;
        var (la, lb, ca, cb) = (w.La, w.Lb, w.Ca, w.Cb);
        var a4 = a.Cast<U4>(); var b4 = b.Cast<U4>();
        bool exact = g.ExactEmulation != 0;
        int shared = SharedBase();   // added to the offsets ldmatrix gets

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            int aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            var acc = default(TAcc);
            var pa = default(Chunks4); var pb = default(Chunks4);
            LoadChunks(a, a4, aBase, ca, 0, m0, g.M, g.K, ref pa);
            LoadChunks(b, b4, bBase, cb, 0, n0, g.N, g.K, ref pb);
            StoreChunks(slices, 0, ca, ref pa);
            StoreChunks(slices, OperandBytes, cb, ref pb);
            if (TileK < g.K)
            {
                LoadChunks(a, a4, aBase, ca, TileK, m0, g.M, g.K, ref pa);
                LoadChunks(b, b4, bBase, cb, TileK, n0, g.N, g.K, ref pb);
            }
            Group.Barrier();

            // as in GemmFp16.cs: slice k0 + 32 (fetched during the previous slice) goes into the other
            // buffer, which was last read before the previous barrier; slice k0 + 64 is fetched meanwhile
            int buffer = 0;
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                if (k0 + TileK < g.K)
                {
                    StoreChunks(slices, (buffer ^ BufferBytes), ca, ref pa);
                    StoreChunks(slices, (buffer ^ BufferBytes) + OperandBytes, cb, ref pb);
                    if (k0 + 2 * TileK < g.K)
                    {
                        LoadChunks(a, a4, aBase, ca, k0 + 2 * TileK, m0, g.M, g.K, ref pa);
                        LoadChunks(b, b4, bBase, cb, k0 + 2 * TileK, n0, g.N, g.K, ref pb);
                    }
                    if (prefetch)
                    {
                        // the slice the next iteration loads: in L1 by then
                        PrefetchChunks(g.AddressA, aBase, ca, k0 + 3 * TileK, m0, g.M, g.K);
                        PrefetchChunks(g.AddressB, bBase, cb, k0 + 3 * TileK, n0, g.N, g.K);
                    }
                }
                acc.StepLdmatrix(slices, shared + buffer, la, lb, aLane, bLane, wm, wn, lane, 0, exact);   // k 0..15 of the slice
                acc.StepLdmatrix(slices, shared + buffer, la, lb, aLane, bLane, wm, wn, lane, 1, exact);   // k 16..31
                Group.Barrier();
                buffer ^= BufferBytes;
            }

            acc.Store(c, cBase, g, m0 + wm + (lane >> 2), n0 + wn + 2 * (lane & 3));
        }
    }

    /// <summary>A thread's chunks of one operand's slice (the first Count used), between global and shared memory.</summary>
    private struct Chunks4
    {
        public U4 C0, C1, C2, C3;
    }

    /// <summary>Reads this thread's chunks of the slice at <paramref name="k0"/> (outer indices from
    /// <paramref name="outer0"/>); halves past the matrix (outerLimit x kLimit) read as zero.</summary>
    private static void LoadChunks(ArrayView<ushort> v, ArrayView<U4> v4, int baseOffset, Chunks ch,
                                   int k0, int outer0, int outerLimit, int kLimit, ref Chunks4 r)
    {
        int outer = outer0 + ch.Outer, k = k0 + ch.K;
        int element = baseOffset + outer * ch.OuterStride + k * ch.KStride, step = ch.ElementStep;
        if (outer0 + Tile128 <= outerLimit && k0 + TileK <= kLimit)
        {
            // the slice lies inside the matrix (a group-uniform branch): whole chunks, no checks
            r.C0 = Vector(v4, element >> 3);
            r.C1 = Vector(v4, (element + step) >> 3);
            if (ch.Count == 4)
            {
                r.C2 = Vector(v4, (element + 2 * step) >> 3);
                r.C3 = Vector(v4, (element + 3 * step) >> 3);
            }
            return;
        }
        // k-major: chunk i is rows outer + i RowStep, k .. k + 7; otherwise k row k + i RowStep, outer .. outer + 7
        int along = ch.KMajor ? Clamp8(kLimit - k) : Clamp8(outerLimit - outer);
        int across = ch.KMajor ? outerLimit - outer : kLimit - k;   // chunk i holds data when i RowStep < across
        r.C0 = LoadChunk(v, v4, element, across > 0 ? along : 0);
        r.C1 = LoadChunk(v, v4, element + step, across > ch.RowStep ? along : 0);
        if (ch.Count == 4)
        {
            r.C2 = LoadChunk(v, v4, element + 2 * step, across > 2 * ch.RowStep ? along : 0);
            r.C3 = LoadChunk(v, v4, element + 3 * step, across > 3 * ch.RowStep ? along : 0);
        }
    }

    /// <summary>prefetch.global.L1 of this thread's chunks of the slice at <paramref name="k0"/>, where that
    /// slice lies inside the matrix (no address leaves it); nothing where PTX cannot run.</summary>
    private static void PrefetchChunks(long address, int baseOffset, Chunks ch, int k0, int outer0, int outerLimit, int kLimit)
    {
        if (!CudaAsm.IsSupported || outer0 + Tile128 > outerLimit || k0 + TileK > kLimit) return;
        int element = baseOffset + (outer0 + ch.Outer) * ch.OuterStride + (k0 + ch.K) * ch.KStride, step = ch.ElementStep;
        ulong at = (ulong)address + 2ul * (uint)element, bytes = 2ul * (uint)step;
        CudaAsm.Emit("prefetch.global.L1 [%0];", at);
        CudaAsm.Emit("prefetch.global.L1 [%0];", at + bytes);
        if (ch.Count == 4)
        {
            CudaAsm.Emit("prefetch.global.L1 [%0];", at + 2 * bytes);
            CudaAsm.Emit("prefetch.global.L1 [%0];", at + 3 * bytes);
        }
    }

    /// <summary>The chunks into the tile at byte <paramref name="tile"/> of the slice buffers: 16-byte stores.</summary>
    private static void StoreChunks(ArrayView<U4> slices, int tile, Chunks ch, ref Chunks4 r)
    {
        int at = (tile + ch.Destination) >> 4, step = ch.DestinationStep >> 4;
        slices[at] = r.C0;
        slices[at + step] = r.C1;
        if (ch.Count == 4)
        {
            slices[at + 2 * step] = r.C2;
            slices[at + 3 * step] = r.C3;
        }
    }
}
