// SGEMM micro-kernels: C[MR x NR] = alpha * Apanel * Bpanel + beta * C over kc steps, with the tile
// of C held in registers. Packed layouts: a[p * MR + r] (one column of the A panel per step) and
// b[p * NR + j] (one row of the B panel per step). Kernels always compute a whole tile; the driver
// routes edge tiles through a scratch tile, except the 256-bit path's last panel of 1-4 rows, which
// runs a 4- or 2-row kernel in place. beta == 0 stores without reading C.
// Why these shapes: 8x32 on AVX-512 uses 16 accumulators (2 FMA pipes x 4-cycle latency needs at
// least 8 in flight) plus 2 B vectors and a broadcast, well inside the 32 zmm registers, and MR = 8
// matches the 8x8 transposes used in packing. 6x16 is the classic AVX2 shape for 16 ymm registers,
// and 6x8 the same for 128-bit vectors. The 6x16 loop takes two depth steps per iteration and gets
// alpha/beta through memory so its 15 vectors stay in ymm0-15 (measured: 98 -> 111-116 GFLOP/s, Zen 4).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

internal static unsafe partial class CpuGemm
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8;
            b += 32;
        }
        var va = Vector512.Create(alpha);
        if (beta == 0)
        {
            (c00 * va).Store(c); (c01 * va).Store(c + 16); c += ldc;
            (c10 * va).Store(c); (c11 * va).Store(c + 16); c += ldc;
            (c20 * va).Store(c); (c21 * va).Store(c + 16); c += ldc;
            (c30 * va).Store(c); (c31 * va).Store(c + 16); c += ldc;
            (c40 * va).Store(c); (c41 * va).Store(c + 16); c += ldc;
            (c50 * va).Store(c); (c51 * va).Store(c + 16); c += ldc;
            (c60 * va).Store(c); (c61 * va).Store(c + 16); c += ldc;
            (c70 * va).Store(c); (c71 * va).Store(c + 16);
        }
        else
        {
            var vb = Vector512.Create(beta);
            Row512(c, c00, c01, va, vb); c += ldc;
            Row512(c, c10, c11, va, vb); c += ldc;
            Row512(c, c20, c21, va, vb); c += ldc;
            Row512(c, c30, c31, va, vb); c += ldc;
            Row512(c, c40, c41, va, vb); c += ldc;
            Row512(c, c50, c51, va, vb); c += ldc;
            Row512(c, c60, c61, va, vb); c += ldc;
            Row512(c, c70, c71, va, vb);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row512(float* c, Vector512<float> x0, Vector512<float> x1, Vector512<float> alpha, Vector512<float> beta)
    {
        Vector512.FusedMultiplyAdd(x0, alpha, Vector512.Load(c) * beta).Store(c);
        Vector512.FusedMultiplyAdd(x1, alpha, Vector512.Load(c + 16) * beta).Store(c + 16);
    }

    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        // alpha and beta reach the loop in memory, not in xmm0/xmm1: held in registers they pushed
        // the loop's broadcast to ymm16 (an EVEX encoding) and it ran 10-15% slower on Zen 4 (scratch
        // harness); the 15 vectors then fit ymm0-15, as on an AVX2-only CPU, which has no ymm16.
        float* scale = stackalloc float[2];
        scale[0] = alpha;
        scale[1] = beta;
        Kernel6x16(kc, a, b, c, ldc, scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float* scale)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        // Two depth steps per iteration: the single-step loop ran at 98 GFLOP/s of a 118 peak on Zen 4
        // (loop overhead on 12 FMAs), two steps at 109-116 (scratch harness, steady-state JIT).
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            Step6x16(a, b, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            Step6x16(a + 6, b + 16, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
            a += 12;
            b += 32;
        }
        if (p < kc)
            Step6x16(a, b, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41, ref c50, ref c51);
        var va = Vector256.Create(scale[0]);
        var vb = Vector256.Create(scale[1]);
        bool read = scale[1] != 0;
        Row256(c, c00, c01, va, vb, read); c += ldc;
        Row256(c, c10, c11, va, vb, read); c += ldc;
        Row256(c, c20, c21, va, vb, read); c += ldc;
        Row256(c, c30, c31, va, vb, read); c += ldc;
        Row256(c, c40, c41, va, vb, read); c += ldc;
        Row256(c, c50, c51, va, vb, read);
    }

    /// <summary>One depth step of the 6x16 tile: 2 B vectors, 6 broadcasts, 12 FMAs (15 of the 16 ymm
    /// registers an AVX2-only CPU has).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step6x16(float* a, float* b,
                                 ref Vector256<float> c00, ref Vector256<float> c01, ref Vector256<float> c10, ref Vector256<float> c11,
                                 ref Vector256<float> c20, ref Vector256<float> c21, ref Vector256<float> c30, ref Vector256<float> c31,
                                 ref Vector256<float> c40, ref Vector256<float> c41, ref Vector256<float> c50, ref Vector256<float> c51)
    {
        var b0 = Vector256.Load(b);
        var b1 = Vector256.Load(b + 8);
        Vector256<float> x;
        x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
        x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
        x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
        x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
        x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
        x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row256(float* c, Vector256<float> x0, Vector256<float> x1, Vector256<float> alpha, Vector256<float> beta, bool read)
    {
        if (read)
        {
            Vector256.FusedMultiplyAdd(x0, alpha, Vector256.Load(c) * beta).Store(c);
            Vector256.FusedMultiplyAdd(x1, alpha, Vector256.Load(c + 8) * beta).Store(c + 8);
        }
        else
        {
            (x0 * alpha).Store(c);
            (x1 * alpha).Store(c + 8);
        }
    }

    /// <summary>The first <paramref name="rows"/> (1-4) rows of a 6x16 tile, for the 256-bit path's last
    /// panel where M is not a multiple of 6 (M = 64: 10 panels and 4 rows; 128: 21 and 2; 32: 5 and 2),
    /// written in place: a whole 6-row tile through the scratch tile computed 36 rows for M = 32.
    /// <paramref name="a"/> is the panel packed 6 rows wide (a[p * 6 + r]).</summary>
    internal static void KernelRows6x16(int rows, int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00, c01, c10, c11, c20 = default, c21 = default, c30 = default, c31 = default;
        // packed B: depth step p's 16 floats at b + 16p, through the shared row kernels' offset table
        fixed (int* steps = s_packedSteps16)
        {
            if (rows > 2) Rows4x16(kc, a, b, b + 8, steps, out c00, out c01, out c10, out c11, out c20, out c21, out c30, out c31);
            else Rows2x16(kc, a, b, b + 8, steps, out c00, out c01, out c10, out c11);
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool read = beta != 0;
        Row256(c, c00, c01, va, vb, read);
        if (rows > 1) Row256(c + ldc, c10, c11, va, vb, read);
        if (rows > 2) Row256(c + 2L * ldc, c20, c21, va, vb, read);
        if (rows > 3) Row256(c + 3L * ldc, c30, c31, va, vb, read);
    }

    /// <summary>Offsets 16p for p below KC: packed B's depth steps, for the row kernels below.</summary>
    private static readonly int[] s_packedSteps16 = Enumerable.Range(0, KC).Select(p => 16 * p).ToArray();

    /// <summary>Four rows of a 6-row panel (a[p * 6 + r]) by 16 columns, B's depth step p the 8 floats at
    /// b0 + off[p] then the 8 at b1 + off[p] (the GEMM's packed B, or the direct convolution's padded image
    /// through its offset table, CpuConv.Direct.cs): 8 accumulators, enough to cover the FMA latency.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Rows4x16(int kc, float* a, float* b0, float* b1, int* off, out Vector256<float> c00, out Vector256<float> c01,
                                  out Vector256<float> c10, out Vector256<float> c11, out Vector256<float> c20,
                                  out Vector256<float> c21, out Vector256<float> c30, out Vector256<float> c31)
    {
        Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector256<float> s20 = default, s21 = default, s30 = default, s31 = default;
        for (int* end = off + kc; off < end; off++, a += 6)
        {
            nint o = *off;
            var x0 = Vector256.Load(b0 + o);
            var x1 = Vector256.Load(b1 + o);
            Vector256<float> x;
            x = Vector256.Create(a[0]); s00 = Vector256.FusedMultiplyAdd(x, x0, s00); s01 = Vector256.FusedMultiplyAdd(x, x1, s01);
            x = Vector256.Create(a[1]); s10 = Vector256.FusedMultiplyAdd(x, x0, s10); s11 = Vector256.FusedMultiplyAdd(x, x1, s11);
            x = Vector256.Create(a[2]); s20 = Vector256.FusedMultiplyAdd(x, x0, s20); s21 = Vector256.FusedMultiplyAdd(x, x1, s21);
            x = Vector256.Create(a[3]); s30 = Vector256.FusedMultiplyAdd(x, x0, s30); s31 = Vector256.FusedMultiplyAdd(x, x1, s31);
        }
        c00 = s00; c01 = s01; c10 = s10; c11 = s11; c20 = s20; c21 = s21; c30 = s30; c31 = s31;
    }

    /// <summary>Two rows, B as Rows4x16's, even and odd depth steps in separate accumulators (8 in flight,
    /// not 4, against the FMA latency), summed at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void Rows2x16(int kc, float* a, float* b0, float* b1, int* off, out Vector256<float> c00, out Vector256<float> c01,
                                  out Vector256<float> c10, out Vector256<float> c11)
    {
        Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector256<float> t00 = default, t01 = default, t10 = default, t11 = default;
        int* end = off + kc;
        for (; off + 1 < end; off += 2, a += 12)
        {
            nint o = off[0], o1 = off[1];
            var x0 = Vector256.Load(b0 + o);
            var x1 = Vector256.Load(b1 + o);
            var y0 = Vector256.Load(b0 + o1);
            var y1 = Vector256.Load(b1 + o1);
            Vector256<float> x;
            x = Vector256.Create(a[0]); s00 = Vector256.FusedMultiplyAdd(x, x0, s00); s01 = Vector256.FusedMultiplyAdd(x, x1, s01);
            x = Vector256.Create(a[1]); s10 = Vector256.FusedMultiplyAdd(x, x0, s10); s11 = Vector256.FusedMultiplyAdd(x, x1, s11);
            x = Vector256.Create(a[6]); t00 = Vector256.FusedMultiplyAdd(x, y0, t00); t01 = Vector256.FusedMultiplyAdd(x, y1, t01);
            x = Vector256.Create(a[7]); t10 = Vector256.FusedMultiplyAdd(x, y0, t10); t11 = Vector256.FusedMultiplyAdd(x, y1, t11);
        }
        if (off < end)
        {
            nint o = *off;
            var x0 = Vector256.Load(b0 + o);
            var x1 = Vector256.Load(b1 + o);
            Vector256<float> x;
            x = Vector256.Create(a[0]); s00 = Vector256.FusedMultiplyAdd(x, x0, s00); s01 = Vector256.FusedMultiplyAdd(x, x1, s01);
            x = Vector256.Create(a[1]); s10 = Vector256.FusedMultiplyAdd(x, x0, s10); s11 = Vector256.FusedMultiplyAdd(x, x1, s11);
        }
        c00 = s00 + t00; c01 = s01 + t01; c10 = s10 + t10; c11 = s11 + t11;
    }

    /// <summary>Portable fallback (no AVX2/FMA: e.g. ARM64, where Vector128 is NEON): 12 Vector128
    /// accumulators fit the 16 registers of SSE as well as NEON's 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x8(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector128<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector128<float> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            Vector128<float> x;
            x = Vector128.Create(a[0]); c00 = Vector128.MultiplyAddEstimate(x, b0, c00); c01 = Vector128.MultiplyAddEstimate(x, b1, c01);
            x = Vector128.Create(a[1]); c10 = Vector128.MultiplyAddEstimate(x, b0, c10); c11 = Vector128.MultiplyAddEstimate(x, b1, c11);
            x = Vector128.Create(a[2]); c20 = Vector128.MultiplyAddEstimate(x, b0, c20); c21 = Vector128.MultiplyAddEstimate(x, b1, c21);
            x = Vector128.Create(a[3]); c30 = Vector128.MultiplyAddEstimate(x, b0, c30); c31 = Vector128.MultiplyAddEstimate(x, b1, c31);
            x = Vector128.Create(a[4]); c40 = Vector128.MultiplyAddEstimate(x, b0, c40); c41 = Vector128.MultiplyAddEstimate(x, b1, c41);
            x = Vector128.Create(a[5]); c50 = Vector128.MultiplyAddEstimate(x, b0, c50); c51 = Vector128.MultiplyAddEstimate(x, b1, c51);
            a += 6;
            b += 8;
        }
        var va = Vector128.Create(alpha);
        var vb = Vector128.Create(beta);
        bool read = beta != 0;
        Row128(c, c00, c01, va, vb, read); c += ldc;
        Row128(c, c10, c11, va, vb, read); c += ldc;
        Row128(c, c20, c21, va, vb, read); c += ldc;
        Row128(c, c30, c31, va, vb, read); c += ldc;
        Row128(c, c40, c41, va, vb, read); c += ldc;
        Row128(c, c50, c51, va, vb, read);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row128(float* c, Vector128<float> x0, Vector128<float> x1, Vector128<float> alpha, Vector128<float> beta, bool read)
    {
        if (read)
        {
            Vector128.MultiplyAddEstimate(x0, alpha, Vector128.Load(c) * beta).Store(c);
            Vector128.MultiplyAddEstimate(x1, alpha, Vector128.Load(c + 4) * beta).Store(c + 4);
        }
        else
        {
            (x0 * alpha).Store(c);
            (x1 * alpha).Store(c + 4);
        }
    }
}
