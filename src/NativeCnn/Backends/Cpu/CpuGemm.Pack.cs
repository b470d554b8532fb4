// SGEMM packing: copies a block of op(A) into MR-row panels laid out a[p * MR + r] and a block of
// op(B) into NR-column panels laid out b[p * NR + j], zero-padding rows/columns past the matrix edge
// so the micro-kernels always run whole tiles. Two of the four layouts are plain row copies
// (op(A) = A^T, op(B) = B); the other two are transposes, done 8x8 at a time in AVX registers
// because a scalar transpose would cost as much as the multiply for the large-k conv shapes.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal static unsafe partial class CpuGemm
{
    /// <summary>dst[p * mr + r] = op(A)[i0 + r, pc + p] for p &lt; kc, r &lt; mr (0 where r &gt;= rows).</summary>
    private static void PackA(bool transA, float* a, int lda, int i0, int rows, int pc, int kc, int mr, float* dst)
    {
        if (transA)
        {
            // op(A)[i, p] = A[p, i]: each step's mr values are contiguous in A.
            float* src = a + (long)pc * lda + i0;
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
        for (int r = 0; r < mr; r++) Prefetch(rowsSrc + (long)(mr + r) * lda, kc);
        int done = 0;
        if (mr == 8 && rows == 8 && Avx.IsSupported)
        {
            for (; done + 8 <= kc; done += 8)
                Transpose8x8(rowsSrc + done, lda, dst + done * 8, 8);
        }
        for (int r = 0; r < mr; r++)
        {
            float* s = rowsSrc + (long)r * lda;
            if (r < rows) for (int p = done; p < kc; p++) dst[p * mr + r] = s[p];
            else for (int p = done; p < kc; p++) dst[p * mr + r] = 0;
        }
    }

    /// <summary>For each panel q: dst[q * kc * nr + p * nr + j] = op(B)[pc + p, j0 + q * nr + j] for
    /// p &lt; kc, j &lt; nr (0 past column j0 + nc).</summary>
    private static void PackB(bool transB, float* b, int ldb, int j0, int nc, int pc, int kc, int nr, float* dst)
    {
        int panels = (nc + nr - 1) / nr;
        int full = nc / nr;
        long panelSize = (long)kc * nr;
        if (!transB)
        {
            // op(B)[p, j] = B[p, j]: walk B row by row (one long sequential read per row) and deal
            // each row out to the panels, asking for the row 4 steps ahead as we go.
            for (int p = 0; p < kc; p++)
            {
                float* s = b + (long)(pc + p) * ldb + j0;
                float* ahead = s + 4L * ldb;
                float* d = dst + p * nr;
                for (int q = 0; q < full; q++)
                {
                    Prefetch(ahead + q * nr, nr);
                    CopySmall(s + q * nr, d + q * panelSize, nr);
                }
                if (full < panels)
                {
                    int cols = nc - full * nr;
                    float* ds = d + full * panelSize, ss = s + full * nr;
                    for (int j = 0; j < cols; j++) ds[j] = ss[j];
                    for (int j = cols; j < nr; j++) ds[j] = 0;
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
            if (cols == nr && nr % 8 == 0 && Avx.IsSupported)
            {
                done = kc & ~7;
                for (int cb = 0; cb < nr; cb += 8)
                    for (int p = 0; p < done; p += 8)
                        Transpose8x8(rows0 + (long)cb * ldb + p, ldb, d + p * nr + cb, nr);
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
    private static void Prefetch(float* s, int count)
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
    private static void Transpose8x8(float* src, int lds, float* dst, int ldd)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2L * lds);
        var r3 = Avx.LoadVector256(src + 3L * lds);
        var r4 = Avx.LoadVector256(src + 4L * lds);
        var r5 = Avx.LoadVector256(src + 5L * lds);
        var r6 = Avx.LoadVector256(src + 6L * lds);
        var r7 = Avx.LoadVector256(src + 7L * lds);

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
