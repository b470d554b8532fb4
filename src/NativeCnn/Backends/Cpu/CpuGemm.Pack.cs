// SGEMM packing: copies a block of op(A) into MR-row panels laid out a[p * MR + r] and a block of
// op(B) into NR-column panels laid out b[p * NR + j], zero-padding rows/columns past the matrix edge
// so the micro-kernels always run whole tiles. Two of the four layouts are plain row copies
// (op(A) = A^T, op(B) = B); the other two are transposes, done 8x8 at a time in AVX registers
// because a scalar transpose would cost as much as the multiply for the large-k conv shapes.
// The layout contract for anything that writes packed panels (PackB here, implicit packing of a
// convolution's B): for a kc-deep block, panel q holds columns [q * NR, q * NR + NR) as
// b[q * kc * NR + p * NR + j], zeros past the block's last column; A panels are a[p * MR + r].
// MR and NR per kernel are defined in one place, CpuGemm.TileOf: AVX-512 8 x 32, AVX2 6 x 16,
// portable 6 x 8. A block is at most KC deep and NC columns wide (CpuGemm.cs).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal static unsafe partial class CpuGemm
{
    /// <summary>dst[p * mr + r] = op(A)[i0 + r, pc + p] for p &lt; kc, r &lt; mr (0 where r &gt;= rows).</summary>
    internal static void PackA(bool transA, float* a, int lda, int i0, int rows, int pc, int kc, int mr, float* dst)
    {
        if (transA)
        {
            // op(A)[i, p] = A[p, i]: each step's mr values are contiguous in A.
            float* src = a + (long)pc * lda + i0;
            if (rows == mr && mr % 8 != 0 && mr < 16 && Avx.IsSupported)
            {
                // mr = 6 or 12: the last 8 of each step's values by a masked load (never reads past
                // the row) and an 8-wide store that spills into the next step, rewritten by it.
                var mask = TailMask(mr % 8);
                for (int p = 0; p < kc; p++)
                {
                    float* s = src + (long)p * lda;
                    float* d = dst + p * mr;
                    if (mr > 8) Avx.Store(d, Avx.LoadVector256(s));
                    Avx.Store(d + mr / 8 * 8, Avx.MaskLoad(s + mr / 8 * 8, mask));
                }
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                float* s = src + (long)p * lda;
                float* d = dst + p * mr;
                if (rows == mr) CopySmall(s, d, mr);
                else
                {
                    for (int r = 0; r < rows; r++) d[r] = s[r];
                    for (int r = rows; r < mr; r++) d[r] = 0;
                }
            }
            return;
        }

        // op(A)[i, p] = A[i, p]: rows are contiguous along p, the panel wants them interleaved.
        float* rowsSrc = a + (long)i0 * lda + pc;
        for (int r = 0; r < rows; r++) Prefetch(rowsSrc + (long)(mr + r) * lda, kc);
        int done = 0;
        if (Avx.IsSupported)
        {
            // 8x8 transposes of up to 8 rows (missing rows read as zeros), stored 8 wide at stride
            // mr: where a group has fewer than 8 of the panel's rows (mr = 6, 12; edges) the store
            // spills into the next step, and the next store (or the lower group, done after)
            // rewrites it. The scalar loop below finishes the last kc % 8 steps.
            done = kc & ~7;
            for (int r0 = (mr - 1) / 8 * 8; r0 >= 0; r0 -= 8)
            {
                int groupRows = Math.Clamp(rows - r0, 0, 8);
                for (int p = 0; p < done; p += 8)
                    TransposeRows(rowsSrc + (long)r0 * lda + p, lda, groupRows, dst + p * mr + r0, mr);
            }
        }
        for (int r = 0; r < mr; r++)
        {
            float* s = rowsSrc + (long)r * lda;
            if (r < rows) for (int p = done; p < kc; p++) dst[p * mr + r] = s[p];
            else for (int p = done; p < kc; p++) dst[p * mr + r] = 0;
        }
    }

    /// <summary>Lanes [0, count) set, for masked loads of a row's last count floats.</summary>
    private static Vector256<float> TailMask(int count) =>
        Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();

    /// <summary>dst[q * ldd + r] = src[r * lds + q] for q &lt; 8, r &lt; 8, reading only rows r &lt;
    /// <paramref name="rows"/> (the others are zeros). Each dst row is one 8-wide store, in order
    /// of q, so with ldd &lt; 8 a row's spill past ldd is rewritten by the next one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TransposeRows(float* src, int lds, int rows, float* dst, int ldd)
    {
        if (rows == 8) { Transpose8x8(src, lds, dst, ldd); return; }
        var z = Vector256<float>.Zero;
        var r0 = rows > 0 ? Avx.LoadVector256(src) : z;
        var r1 = rows > 1 ? Avx.LoadVector256(src + lds) : z;
        var r2 = rows > 2 ? Avx.LoadVector256(src + 2L * lds) : z;
        var r3 = rows > 3 ? Avx.LoadVector256(src + 3L * lds) : z;
        var r4 = rows > 4 ? Avx.LoadVector256(src + 4L * lds) : z;
        var r5 = rows > 5 ? Avx.LoadVector256(src + 5L * lds) : z;
        var r6 = rows > 6 ? Avx.LoadVector256(src + 6L * lds) : z;
        Transpose8x8Registers(r0, r1, r2, r3, r4, r5, r6, z, dst, ldd);
    }

    /// <summary>Rows of B copied to every panel per pass of the plain (op(B) = B) packing.</summary>
    private const int BRowGroup = 4;

    /// <summary>For each panel q: dst[q * kc * nr + p * nr + j] = op(B)[pc + p, j0 + q * nr + j] for
    /// p &lt; kc, j &lt; nr (0 past column j0 + nc).</summary>
    private static void PackB(bool transB, float* b, int ldb, int j0, int nc, int pc, int kc, int nr, float* dst)
    {
        int panels = (nc + nr - 1) / nr;
        int full = nc / nr;
        long panelSize = (long)kc * nr;
        if (!transB)
        {
            // op(B)[p, j] = B[p, j]: four rows of B at a time, dealt out to every panel. Each panel
            // then gets 4 x nr contiguous floats per visit; dealing one row at a time to all panels
            // (16 write streams a panel apart, which alias in L1) ran 1.3-2x slower (measured, Zen 4).
            for (int p0 = 0; p0 < kc; p0 += BRowGroup)
            {
                int pe = Math.Min(kc, p0 + BRowGroup);
                float* s0 = b + (long)(pc + p0) * ldb + j0;
                for (int q = 0; q < full; q++)
                {
                    float* s = s0 + q * nr, d = dst + q * panelSize + p0 * nr;
                    for (int p = p0; p < pe; p++, s += ldb, d += nr) CopySmall(s, d, nr);
                }
                if (full < panels)
                {
                    int cols = nc - full * nr;
                    float* s = s0 + full * nr, d = dst + full * panelSize + p0 * nr;
                    for (int p = p0; p < pe; p++, s += ldb, d += nr)
                    {
                        for (int j = 0; j < cols; j++) d[j] = s[j];
                        for (int j = cols; j < nr; j++) d[j] = 0;
                    }
                }
            }
            return;
        }

        // op(B)[p, j] = B[j, p]: columns of a panel are rows of B, contiguous along p. Eight rows
        // at a time are transposed along their whole depth: eight streams, which the hardware
        // prefetcher follows (all nr rows at once are too many; software prefetch did not help).
        for (int q = 0; q < panels; q++)
        {
            int jq = j0 + q * nr;
            int cols = Math.Min(nr, nc - q * nr);
            float* d = dst + q * panelSize;
            float* rows0 = b + (long)jq * ldb + pc;
            int done = 0;
            if (nr % 8 == 0 && Avx.IsSupported)
            {
                // Missing columns of an edge panel (rows of B past the matrix) transpose as zeros.
                done = kc & ~7;
                for (int cb = 0; cb < nr; cb += 8)
                {
                    int groupRows = Math.Clamp(cols - cb, 0, 8);
                    for (int p = 0; p < done; p += 8)
                        TransposeRows(rows0 + (long)cb * ldb + p, ldb, groupRows, d + p * nr + cb, nr);
                }
            }
            for (int j = 0; j < nr; j++)
            {
                float* s = rows0 + (long)j * ldb;
                if (j < cols) for (int p = done; p < kc; p++) d[p * nr + j] = s[p];
                else for (int p = done; p < kc; p++) d[p * nr + j] = 0;
            }
        }
    }

    /// <summary>Asks for the cache lines of s[0..count) ahead of use (no-op where unsupported).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Prefetch(float* s, int count)
    {
        if (!Sse.IsSupported) return;
        for (int i = 0; i < count; i += 16) Sse.Prefetch0(s + i);
    }

    /// <summary>d[0..count) = s[0..count) for the panel widths (8, 16, 32 floats) without a memmove call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopySmall(float* s, float* d, int count)
    {
        if (count == 32 && Vector512.IsHardwareAccelerated)
        {
            Vector512.Store(Vector512.Load(s), d);
            Vector512.Store(Vector512.Load(s + 16), d + 16);
        }
        else if (count % 8 == 0 && Vector256.IsHardwareAccelerated)
        {
            for (int i = 0; i < count; i += 8) Vector256.Store(Vector256.Load(s + i), d + i);
        }
        else
        {
            for (int i = 0; i < count; i++) d[i] = s[i];
        }
    }

    /// <summary>dst[q * ldd + r] = src[r * lds + q] for an 8x8 block: rows of src become columns.
    /// The classic unpack / shuffle / lane-permute sequence (24 shuffles per 64 floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(float* src, int lds, float* dst, int ldd)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2L * lds);
        var r3 = Avx.LoadVector256(src + 3L * lds);
        var r4 = Avx.LoadVector256(src + 4L * lds);
        var r5 = Avx.LoadVector256(src + 5L * lds);
        var r6 = Avx.LoadVector256(src + 6L * lds);
        var r7 = Avx.LoadVector256(src + 7L * lds);

        Transpose8x8Registers(r0, r1, r2, r3, r4, r5, r6, r7, dst, ldd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8Registers(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
                                              Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
                                              float* dst, int ldd)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);

        var s0 = Avx.Shuffle(t0, t2, 0x44);
        var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44);
        var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44);
        var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44);
        var s7 = Avx.Shuffle(t5, t7, 0xEE);

        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2L * ldd, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3L * ldd, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4L * ldd, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5L * ldd, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6L * ldd, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7L * ldd, Avx.Permute2x128(s3, s7, 0x31));
    }
}
