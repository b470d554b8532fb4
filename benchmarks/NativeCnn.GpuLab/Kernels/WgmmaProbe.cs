// A probe of Hopper's warpgroup mma (wgmma, sm_90a only), the float16 GEMM's next rung
// (benchmarks/results/fp16-gemm-notes.md): one m64n8k16 product, float16 A (64 x 16) and B (16 x 8)
// read from shared memory through matrix descriptors, float32 D in registers. It settles on a GPU what
// the PTX ISA's prose leaves to interpretation and no simulator can check:
//   - how a descriptor's two byte offsets walk the 8x8 core matrices (8 rows of 16 bytes, each 128
//     contiguous bytes) of a K-major operand without swizzle: the reading here is that the leading
//     byte offset (LBO) steps to the core matrix next along k and the stride byte offset (SBO) to the
//     next 8 rows along m (or n). The host places A's core matrix (i along m, j along k) at byte
//     256 i + 128 j and B's (j along k) at 4096 + 128 j, and launches with (LBO, SBO) = (128, 256) and
//     with the two swapped: exactly one of them can give the product;
//   - which thread holds which element of D: read here as warp w of the group holding rows 16w..16w+15
//     like an m16n8 mma.sync accumulator (d0, d1: row 16w + lane/4, columns 2(lane mod 4) and + 1; d2,
//     d3: the same 8 rows further down);
//   - for the record, B MN-major (n contiguous, wgmma's transpose flag set): B's core matrix j (8 k rows
//     of 16 bytes of n) at 4096 + 128 j, and which of the two offsets then steps along k (the GEMM does
//     not depend on it: it copies such operands K-major; reading them in place would save the copy).
// The data make every element of D name its place: A[r][0] = r, A[r][1] = 1, B[0][c] = 8,
// B[1][c] = c + 1, zeros elsewhere, so D[r][c] = 8r + c + 1 (exact in float16 and float32).
// Shared memory written by threads must be fenced into the async proxy wgmma reads through
// (fence.proxy.async.shared::cta) before the barrier. The kernel needs `.target sm_90a`, which ILGPU
// cannot write: the host's PTX pass sets it (PtxTarget.cs). Where PTX cannot run it does nothing: there
// is nothing to emulate that would not be this file's own reading again.
using ILGPU;
using ILGPU.Runtime.Cuda;

using NativeCnn.Kernels;
using static NativeCnn.Kernels.GemmHalfKernels;

namespace NativeCnn.GpuLab.Kernels;

internal static partial class LabWgmmaKernels
{
    /// <summary>Where the probe puts B's core matrices in its shared buffer (A's take the first 2 KB).</summary>
    public const int WgmmaProbeBOffset = 4096;
    /// <summary>The probe's shared buffer: 8 KB, so that a descriptor read with either candidate offsets stays inside.</summary>
    public const int WgmmaProbeSharedBytes = 8192;
    public const int WgmmaProbeThreads = 128;

    /// <summary>The byte offset of A[m][k] (64 x 16, K-major) in the probe's buffer: core matrix (m/8, k/8) at
    /// 256 (m/8) + 128 (k/8), row m mod 8 at 16 (m mod 8), element k mod 8 at 2 (k mod 8).</summary>
    public static int WgmmaProbeAOffset(int m, int k) => 256 * (m >> 3) + 128 * (k >> 3) + 16 * (m & 7) + 2 * (k & 7);

    /// <summary>The byte offset of B[k][n] (16 x 8) in the probe's buffer: stored K-major (n rows of k), or with
    /// <paramref name="mnMajor"/> as k rows of n.</summary>
    public static int WgmmaProbeBOffsetOf(int k, int n, bool mnMajor = false) =>
        WgmmaProbeBOffset + 128 * (k >> 3) + (mnMajor ? 16 * (k & 7) + 2 * n : 16 * n + 2 * (k & 7));

    /// <summary>A shared-memory matrix descriptor without swizzle: start address, leading and stride byte
    /// offsets, each in 16-byte units (bits 0-13, 16-29, 32-45); base offset and swizzle mode 0.</summary>
    public static ulong WgmmaDescriptor(uint address, int leadingBytes, int strideBytes) =>
        ((address >> 4) & 0x3FFFu) | ((ulong)(((uint)leadingBytes >> 4) & 0x3FFFu) << 16) | ((ulong)(((uint)strideBytes >> 4) & 0x3FFFu) << 32);

    /// <summary>The probe's operands as float16 bits: A (64 x 16, row-major) with A[r][0] = r, A[r][1] = 1, and B
    /// (b[16 n + k] = B[k][n]) with B[0][n] = 8, B[1][n] = n + 1, zeros elsewhere: D[r][c] = 8 r + c + 1.</summary>
    public static (ushort[] A, ushort[] B) WgmmaProbeOperands()
    {
        var a = new ushort[64 * 16];
        var b = new ushort[8 * 16];
        for (int r = 0; r < 64; r++) { a[16 * r] = HalfBits.FromFloat(r); a[16 * r + 1] = HalfBits.FromFloat(1); }
        for (int c = 0; c < 8; c++) { b[16 * c] = HalfBits.FromFloat(8); b[16 * c + 1] = HalfBits.FromFloat(c + 1); }
        return (a, b);
    }

    /// <summary>The element of D the documented accumulator layout gives register <paramref name="j"/> of thread
    /// <paramref name="t"/>: row 16 (t / 32) + (t mod 32) / 4 (+ 8 for j &gt;= 2), column 2 (t mod 4) + (j mod 2).</summary>
    public static (int Row, int Col) WgmmaProbeDocumented(int t, int j) =>
        (16 * (t >> 5) + ((t & 31) >> 2) + (j >= 2 ? 8 : 0), 2 * (t & 3) + (j & 1));

    /// <summary>What output <paramref name="i"/> of the probe (register i mod 4 of thread i / 4) holds where the
    /// reading and the layout are as documented: D[row][col] = 8 row + col + 1.</summary>
    public static float WgmmaProbeExpected(int i)
    {
        var (row, col) = WgmmaProbeDocumented(i >> 2, i & 3);
        return 8 * row + col + 1;
    }

    /// <summary>The descriptors' byte offsets to try, and whether B is placed MN-major (wgmma's tnspB set).</summary>
    public struct WgmmaProbeArgs
    {
        public int LeadingA, StrideA, LeadingB, StrideB, MnMajorB;
    }

    // a: A (64 x 16) row-major float16 bits, b: B (b[n * 16 + k] = B[k][n], placed as p.MnMajorB says),
    // d: 4 floats per thread (d[4t + j] = register dj of thread t). group: 128 (one warpgroup), grid: 1;
    // sm_90a only.
    public static void WgmmaProbeKernel(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> d, WgmmaProbeArgs p)
    {
        var buffer = SharedMemory.Allocate<ushort>(WgmmaProbeSharedBytes / 2);   // the kernel's only shared allocation
        int t = Group.IdxX;
        for (int i = t; i < WgmmaProbeSharedBytes / 2; i += WgmmaProbeThreads) buffer[i] = 0;
        Group.Barrier();
        for (int i = t; i < 64 * 16; i += WgmmaProbeThreads) buffer[WgmmaProbeAOffset(i >> 4, i & 15) >> 1] = a[i];
        buffer[WgmmaProbeBOffsetOf(t & 15, t >> 4, p.MnMajorB != 0) >> 1] = b[t];   // 128 threads, 128 elements: t = 16 n + k
        if (!CudaAsm.IsSupported) return;

        CudaAsm.Emit("fence.proxy.async.shared::cta;");   // the stores above, visible to wgmma's reads
        Group.Barrier();
        uint shared = (uint)SharedBase();
        Ref<float> d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
        Input<ulong> descA = WgmmaDescriptor(shared, p.LeadingA, p.StrideA);
        Input<ulong> descB = WgmmaDescriptor(shared + WgmmaProbeBOffset, p.LeadingB, p.StrideB);
        // fence, wgmma, commit and wait in one block (as in GemmFp16Wgmma.cs), B's transpose flag last
        if (p.MnMajorB == 0)
            CudaAsm.EmitRef("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.fence.sync.aligned; " +
                            "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%0,%1,%2,%3}, %4, %5, p, 1, 1, 0, 0; " +
                            "wgmma.commit_group.sync.aligned; wgmma.wait_group.sync.aligned 0; }",
                            ref d0, ref d1, ref d2, ref d3, ref descA, ref descB);
        else
            CudaAsm.EmitRef("{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.fence.sync.aligned; " +
                            "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%0,%1,%2,%3}, %4, %5, p, 1, 1, 0, 1; " +
                            "wgmma.commit_group.sync.aligned; wgmma.wait_group.sync.aligned 0; }",
                            ref d0, ref d1, ref d2, ref d3, ref descA, ref descB);
        d[4 * t] = d0.Value; d[4 * t + 1] = d1.Value; d[4 * t + 2] = d2.Value; d[4 * t + 3] = d3.Value;
    }
}
