// The float16 GEMM on Hopper's warpgroup mma (wgmma, sm_90a only): the path cuBLAS takes, operands read
// by the tensor cores straight from shared memory (no ldmatrix, no fragment registers).
//   - Operands K-major: op(A) as (m, k) rows, op(B) as (n, k) rows (B transposed), each row 16-byte
//     aligned; the host copies any other operand into that form first (LabHalfGemm.Wgmma.cs).
//   - A group of 256 threads (2 warpgroups) computes a 128x128 tile of C; warpgroup w the rows
//     64w..64w+63, as two m64n64k16 wgmma per k16 step (64 float accumulators per thread).
//   - Slices 32 deep move by cp.async (as in GemmFp16Async.cs) into a ring of 3 (16 KB each: op(A)'s
//     128x32 tile, then op(B)'s), stored as wgmma's core matrices without swizzle: 8 rows of 16 bytes,
//     128 contiguous bytes each, core (8-row group i, k chunk j) at byte 512 i + 128 j. A thread's chunk
//     q (of 512 per operand) is row 8 (q >> 5) + (q & 7), k chunk (q >> 3) & 3, and lands at byte 16 q:
//     8 consecutive threads fill one core matrix. Descriptors: leading byte offset 128 (along k),
//     stride byte offset 512 (along m or n), the reading WgmmaProbe.cs puts to the GPU (LabGemmArgs.WgmmaOffsetsSwapped:
//     the other reading, where the host's probe found that one).
//   - Per slice: wait for this thread's copies of it, fence them into the async proxy, one barrier,
//     issue the slice two ahead, then per 64-column half one asm block of wgmma.fence, the two k16
//     wgmma, commit and wait (the slice's buffer is overwritten after the next barrier). One block per
//     half keeps ILGPU's operand moves out of the wgmma pipeline stage (ptxas serializes wgmma whose
//     accumulators other instructions write in between), at 36 of the 44 operands EmitRef takes.
// Needs PtxTarget's sm_90a header and PtxLocalPromotion (CompiledPtx.Load). A lab kernel (--half-ldmatrix wgmma):
// on an H200 its products are right (the probe confirmed the documented reading) but it runs at 159
// TFLOP/s at 8192, half the default cp.async kernel's rate: each half waits for its own wgmma before the
// next is issued, so the tensor cores idle while a warpgroup waits (fp16-gemm-notes.md).
// On ILGPU's CPU simulator each wgmma is computed from shared memory through the descriptors the GPU
// gets (start address, byte offsets) and the documented accumulator layout (warp w of a warpgroup:
// rows 16w + lane/4 and + 8, columns 8i + 2 (lane mod 4) and + 1 of n8 block i), so the placement,
// the descriptors' arithmetic, the ring and the epilogue are checked there; the reading itself is not.
using ILGPU;
using ILGPU.Runtime.Cuda;

using NativeCnn.Kernels;
using static NativeCnn.Kernels.GemmHalfKernels;

namespace NativeCnn.GpuLab.Kernels;

internal static partial class LabWgmmaKernels
{
    public const int GroupThreadsWgmma = 256;
    /// <summary>One operand's 128 x 32 slice as core matrices; a ring stage holds op(A)'s then op(B)'s.</summary>
    private const int WgmmaOperandBytes = 128 * TileK * 2, WgmmaStageBytes = 2 * WgmmaOperandBytes;
    /// <summary>The ring: 3 stages, 48 KB.</summary>
    public const int WgmmaSharedBytes = 3 * WgmmaStageBytes;
    /// <summary>Descriptor byte offsets of the core-matrix layout: next core along k, next 8 rows.</summary>
    public const int WgmmaLeadingBytes = 128, WgmmaStrideBytes = 512;

    /// <summary>Launch bounds: 256 threads, one group per SM (up to 255 registers).</summary>
    public static ILGPU.Runtime.KernelSpecialization SpecializationWgmma => new(GroupThreadsWgmma, 1);

    // a: op(A) as (m, k) rows (lda), b: op(B) transposed, (n, k) rows (ldb), c: (m, n) float32 = alpha a b^T
    // + beta c per batch entry; g.AddressA/AddressB: the device addresses of a and b; g.TransA/TransB ignored
    // (the host hands K-major operands). grid: (ceil(n/128), ceil(m/128), batches); group: 256,
    // launch bounds SpecializationWgmma; sm_90a only.
    public static void GemmHalfWgmmaKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c, LabGemmArgs lab)
    {
        var g = lab.G;
        var ring = SharedMemory.Allocate<U4>(WgmmaSharedBytes / 16);   // the kernel's only shared allocation
        int t = Group.IdxX, warpgroup = t >> 7;
        int m0 = Grid.IdxY * Tile128, n0 = Grid.IdxX * Tile128;
        int shared = SharedBase();   // added to the offsets cp.async and the descriptors get (0 on the simulator)
        var halves = ring.Cast<ushort>();
        int leading = lab.WgmmaOffsetsSwapped == 0 ? WgmmaLeadingBytes : WgmmaStrideBytes;   // the descriptors' byte offsets
        int stride = lab.WgmmaOffsetsSwapped == 0 ? WgmmaStrideBytes : WgmmaLeadingBytes;

        for (int batch = Grid.IdxZ; batch < g.Batch; batch += Grid.DimZ)
        {
            var ch = WgmmaChunks.For(g, batch, t, m0, n0, shared);
            int cBase = batch * g.StrideC;
            var low = default(WgmmaAcc); var high = default(WgmmaAcc);   // columns 0..63 and 64..127 of the tile
            CopyWgmmaStage(a, b, ring, g, ch, 0, 0);   // slices 0 and 1 into stages 0 and 1: a commit group each
            CommitCopies();
            if (TileK < g.K) CopyWgmmaStage(a, b, ring, g, ch, TileK, WgmmaStageBytes);
            CommitCopies();

            int read = 0;   // the stage (byte offset) that holds slice k0
            for (int k0 = 0; k0 < g.K; k0 += TileK)
            {
                WaitForAllButNewestCopies();
                if (CudaAsm.IsSupported) CudaAsm.Emit("fence.proxy.async.shared::cta;");   // the copies, visible to wgmma
                Group.Barrier();
                // slice k0 + 64 goes into the stage slice k0 - 32 was read from
                int write = read == 0 ? 2 * WgmmaStageBytes : read - WgmmaStageBytes;
                if (k0 + 2 * TileK < g.K) CopyWgmmaStage(a, b, ring, g, ch, k0 + 2 * TileK, write);
                CommitCopies();
                // warpgroup w: op(A) rows 64w.. (8 core rows of 512 bytes on), op(B) rows 0..63 and 64..127;
                // the slice's second k16 step starts 2 core matrices (256 bytes) on
                uint aTile = (uint)(shared + read + warpgroup * 8 * WgmmaStrideBytes), bTile = (uint)(shared + read + WgmmaOperandBytes);
                ulong a0 = WgmmaDescriptor(aTile, leading, stride), a1 = WgmmaDescriptor(aTile + 256, leading, stride);
                low.Multiply(halves, shared, a0, WgmmaDescriptor(bTile, leading, stride), a1, WgmmaDescriptor(bTile + 256, leading, stride), t);
                high.Multiply(halves, shared, a0, WgmmaDescriptor(bTile + 4096, leading, stride), a1,
                              WgmmaDescriptor(bTile + 4096 + 256, leading, stride), t);
                read = read == 2 * WgmmaStageBytes ? 0 : read + WgmmaStageBytes;
            }

            int r = m0 + 64 * warpgroup + 16 * ((t >> 5) & 3) + ((t & 31) >> 2), col = n0 + 2 * (t & 3);
            low.Store(c, cBase, g, r, col);
            high.Store(c, cBase, g, r, col + 64);
            Group.Barrier();   // the next batch's first slices overwrite stages still being read
        }
    }

    /// <summary>Where this thread's chunks of a slice come from and go: chunks q = t and t + 256 of each operand,
    /// row 8 (q >> 5) + (q &amp; 7) of the tile (and 64 rows further), k chunk (q >> 3) &amp; 3, landing at byte 16 q
    /// of the operand's tile (and 4 KB further).</summary>
    private struct WgmmaChunks
    {
        /// <summary>The first chunk's element at the slice starting at k = 0, in op(A) and op(B).</summary>
        public int AFirst, BFirst;
        /// <summary>Its row of op(A) (m) and of op(B) (n), and its first k within a slice.</summary>
        public int ARow, BRow, K;
        /// <summary>Its byte in a ring stage's op(A) tile, SharedBase included.</summary>
        public int At;
        /// <summary>Whether the group's 128 rows of each operand lie inside the matrix.</summary>
        public bool AInside, BInside;

        public static WgmmaChunks For(GemmArgs g, int batch, int t, int m0, int n0, int shared)
        {
            int row = ((t >> 5) << 3) | (t & 7), k = 8 * ((t >> 3) & 3);
            return new WgmmaChunks
            {
                ARow = m0 + row, BRow = n0 + row, K = k, At = shared + 16 * t,
                AFirst = batch * g.StrideA + (m0 + row) * g.Lda + k, BFirst = batch * g.StrideB + (n0 + row) * g.Ldb + k,
                AInside = m0 + Tile128 <= g.M, BInside = n0 + Tile128 <= g.N,
            };
        }
    }

    /// <summary>Both operands' chunks of the slice at <paramref name="k0"/> by cp.async into the ring stage at
    /// byte <paramref name="stage"/>.</summary>
    private static void CopyWgmmaStage(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<U4> ring, GemmArgs g, WgmmaChunks ch, int k0, int stage)
    {
        bool wholeK = k0 + TileK <= g.K;
        CopyWgmmaSlice(a, ring, g.AddressA, ch.AFirst + k0, g.Lda, ch.At + stage, ch.ARow, g.M, k0 + ch.K, g.K, wholeK && ch.AInside);
        CopyWgmmaSlice(b, ring, g.AddressB, ch.BFirst + k0, g.Ldb, ch.At + stage + WgmmaOperandBytes, ch.BRow, g.N, k0 + ch.K, g.K, wholeK && ch.BInside);
    }

    /// <summary>This thread's two chunks of an operand's slice (rows <paramref name="outer"/> and outer + 64,
    /// halves k .. k + 7 from <paramref name="element"/>) by cp.async to byte <paramref name="at"/> and at + 4 KB
    /// (SharedBase included); what lies past the matrix (outerLimit x kLimit) is the copy's zero fill.
    /// <paramref name="whole"/>: the operand's slice lies inside the matrix (group-uniform): no checks.</summary>
    private static void CopyWgmmaSlice(ArrayView<ushort> v, ArrayView<U4> ring, long address, int element, int ld, int at,
                                       int outer, int outerLimit, int k, int kLimit, bool whole)
    {
        if (whole)
        {
            CopyChunkAsync(v, ring, address, element, at, 8);
            CopyChunkAsync(v, ring, address, element + 64 * ld, at + 4096, 8);
            return;
        }
        int along = Clamp8(kLimit - k);
        CopyChunkAsync(v, ring, address, element, at, outer < outerLimit ? along : 0);
        CopyChunkAsync(v, ring, address, element + 64 * ld, at + 4096, outer + 64 < outerLimit ? along : 0);
    }

    /// <summary>A thread's 32 accumulators of an m64n64 wgmma: n8 block i in F{i} (C0, C1: row 16w + lane/4,
    /// columns 8i + 2 (lane mod 4) and + 1; C2, C3: 8 rows further).</summary>
    private struct WgmmaAcc
    {
        public Frag4 F0, F1, F2, F3, F4, F5, F6, F7;

        /// <summary>D += A0 B0 + A1 B1 (each A 64 x 16, B 16 x 64) from the descriptors' shared-memory matrices:
        /// one asm block of wgmma.fence, the two wgmma, commit and wait, so that no other instruction writes
        /// the accumulators while the wgmma run (ptxas would serialize them).</summary>
        public void Multiply(ArrayView<ushort> halves, int shared, ulong descA0, ulong descB0, ulong descA1, ulong descB1, int t)
        {
            if (!CudaAsm.IsSupported)
            {
                this = EmulatedWgmma(EmulatedWgmma(this, halves, shared, descA0, descB0, t), halves, shared, descA1, descB1, t);
                return;
            }
            Ref<float> d00 = F0.C0, d01 = F0.C1, d02 = F0.C2, d03 = F0.C3, d10 = F1.C0, d11 = F1.C1, d12 = F1.C2, d13 = F1.C3;
            Ref<float> d20 = F2.C0, d21 = F2.C1, d22 = F2.C2, d23 = F2.C3, d30 = F3.C0, d31 = F3.C1, d32 = F3.C2, d33 = F3.C3;
            Ref<float> d40 = F4.C0, d41 = F4.C1, d42 = F4.C2, d43 = F4.C3, d50 = F5.C0, d51 = F5.C1, d52 = F5.C2, d53 = F5.C3;
            Ref<float> d60 = F6.C0, d61 = F6.C1, d62 = F6.C2, d63 = F6.C3, d70 = F7.C0, d71 = F7.C1, d72 = F7.C2, d73 = F7.C3;
            Input<ulong> a0 = descA0, b0 = descB0, a1 = descA1, b1 = descB1;
            CudaAsm.EmitRef(WgmmaPair, ref d00, ref d01, ref d02, ref d03, ref d10, ref d11, ref d12, ref d13,
                            ref d20, ref d21, ref d22, ref d23, ref d30, ref d31, ref d32, ref d33,
                            ref d40, ref d41, ref d42, ref d43, ref d50, ref d51, ref d52, ref d53,
                            ref d60, ref d61, ref d62, ref d63, ref d70, ref d71, ref d72, ref d73, ref a0, ref b0, ref a1, ref b1);
            F0 = new Frag4 { C0 = d00.Value, C1 = d01.Value, C2 = d02.Value, C3 = d03.Value };
            F1 = new Frag4 { C0 = d10.Value, C1 = d11.Value, C2 = d12.Value, C3 = d13.Value };
            F2 = new Frag4 { C0 = d20.Value, C1 = d21.Value, C2 = d22.Value, C3 = d23.Value };
            F3 = new Frag4 { C0 = d30.Value, C1 = d31.Value, C2 = d32.Value, C3 = d33.Value };
            F4 = new Frag4 { C0 = d40.Value, C1 = d41.Value, C2 = d42.Value, C3 = d43.Value };
            F5 = new Frag4 { C0 = d50.Value, C1 = d51.Value, C2 = d52.Value, C3 = d53.Value };
            F6 = new Frag4 { C0 = d60.Value, C1 = d61.Value, C2 = d62.Value, C3 = d63.Value };
            F7 = new Frag4 { C0 = d70.Value, C1 = d71.Value, C2 = d72.Value, C3 = d73.Value };
        }

        public void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col)
        {
            StoreTile(c, cBase, g, row, col, ref F0, ref F1, ref F2, ref F3);
            StoreTile(c, cBase, g, row, col + 32, ref F4, ref F5, ref F6, ref F7);
        }
    }

    /// <summary>Two m64n64k16 wgmma on the same accumulators (%0..%31; descriptors %32, %33 then %34, %35), fenced,
    /// committed and waited for in one block.</summary>
    private const string WgmmaPair =
        "{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.fence.sync.aligned; " +
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " +
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0; " +
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " +
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %34, %35, p, 1, 1, 0, 0; " +
        "wgmma.commit_group.sync.aligned; wgmma.wait_group.sync.aligned 0; }";

    /// <summary>What one m64n64k16 wgmma leaves in thread <paramref name="t"/>'s accumulators, where PTX cannot
    /// run: each element A(r, k) read at start + (r / 8) SBO + (k / 8) LBO + 16 (r mod 8) + 2 (k mod 8) of the
    /// descriptor (the probe's reading), rows of B likewise by n. By value and out of line, so that no
    /// accumulator's address is taken on the GPU path (it would keep them in local memory).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WgmmaAcc EmulatedWgmma(WgmmaAcc acc, ArrayView<ushort> halves, int shared, ulong descA, ulong descB, int t)
    {
        int r0 = 16 * ((t >> 5) & 3) + ((t & 31) >> 2), c0 = 2 * (t & 3);
        acc.F0 = EmulatedBlock(acc.F0, halves, shared, descA, descB, r0, c0);
        acc.F1 = EmulatedBlock(acc.F1, halves, shared, descA, descB, r0, c0 + 8);
        acc.F2 = EmulatedBlock(acc.F2, halves, shared, descA, descB, r0, c0 + 16);
        acc.F3 = EmulatedBlock(acc.F3, halves, shared, descA, descB, r0, c0 + 24);
        acc.F4 = EmulatedBlock(acc.F4, halves, shared, descA, descB, r0, c0 + 32);
        acc.F5 = EmulatedBlock(acc.F5, halves, shared, descA, descB, r0, c0 + 40);
        acc.F6 = EmulatedBlock(acc.F6, halves, shared, descA, descB, r0, c0 + 48);
        acc.F7 = EmulatedBlock(acc.F7, halves, shared, descA, descB, r0, c0 + 56);
        return acc;
    }

    private static Frag4 EmulatedBlock(Frag4 f, ArrayView<ushort> halves, int shared, ulong descA, ulong descB, int row, int col)
    {
        f.C0 += EmulatedDot(halves, shared, descA, row, descB, col);
        f.C1 += EmulatedDot(halves, shared, descA, row, descB, col + 1);
        f.C2 += EmulatedDot(halves, shared, descA, row + 8, descB, col);
        f.C3 += EmulatedDot(halves, shared, descA, row + 8, descB, col + 1);
        return f;
    }

    /// <summary>Sum over k 0..15 of A(row, k) B(col, k), both read through their descriptors.</summary>
    private static float EmulatedDot(ArrayView<ushort> halves, int shared, ulong descA, int row, ulong descB, int col)
    {
        float sum = 0f;
        for (int k = 0; k < 16; k++)
            sum += HalfBits.ToFloat(halves[DescribedByte(descA, shared, row, k) >> 1]) * HalfBits.ToFloat(halves[DescribedByte(descB, shared, col, k) >> 1]);
        return sum;
    }

    /// <summary>The byte (from the ring's start) of element (row, k) of a K-major matrix without swizzle, by its descriptor.</summary>
    private static int DescribedByte(ulong desc, int shared, int row, int k)
    {
        int start = (int)(desc & 0x3FFFu) << 4, leading = (int)((desc >> 16) & 0x3FFFu) << 4, stride = (int)((desc >> 32) & 0x3FFFu) << 4;
        return start - shared + (row >> 3) * stride + (k >> 3) * leading + 16 * (row & 7) + 2 * (k & 7);
    }
}
