// SGEMM micro-kernels: C[MR x NR] = alpha * Apanel * Bpanel + beta * C over kc steps, with the tile
// of C held in registers. Packed layouts: a[p * MR + r] (one column of the A panel per step) and
// b[p * NR + j] (one row of the B panel per step). Kernels always compute a whole tile; the driver
// routes edge tiles through a scratch tile. beta == 0 stores without reading C.
// Why these shapes: 8x32 on AVX-512 uses 16 accumulators (2 FMA pipes x 4-cycle latency needs at
// least 8 in flight) plus 2 B vectors and a broadcast, well inside the 32 zmm registers, and MR = 8
// matches the 8x8 transposes used in packing. 6x16 is the classic AVX2 shape for 16 ymm registers.
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
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
            a += 6;
            b += 16;
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool read = beta != 0;
        Row256(c, c00, c01, va, vb, read); c += ldc;
        Row256(c, c10, c11, va, vb, read); c += ldc;
        Row256(c, c20, c21, va, vb, read); c += ldc;
        Row256(c, c30, c31, va, vb, read); c += ldc;
        Row256(c, c40, c41, va, vb, read); c += ldc;
        Row256(c, c50, c51, va, vb, read);
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

    /// <summary>Portable fallback for hardware without Vector256 FMA: the same packed layout, plain
    /// float arithmetic with the 4x8 tile in a local buffer.</summary>
    private static void KernelScalar4x8(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        const int MR = 4, NR = 8;
        float* acc = stackalloc float[MR * NR];
        for (int i = 0; i < MR * NR; i++) acc[i] = 0;
        for (int p = 0; p < kc; p++)
        {
            for (int r = 0; r < MR; r++)
            {
                float ar = a[r];
                float* row = acc + r * NR;
                for (int j = 0; j < NR; j++) row[j] += ar * b[j];
            }
            a += MR;
            b += NR;
        }
        for (int r = 0; r < MR; r++)
        {
            float* d = c + (long)r * ldc;
            float* row = acc + r * NR;
            if (beta == 0) for (int j = 0; j < NR; j++) d[j] = alpha * row[j];
            else for (int j = 0; j < NR; j++) d[j] = alpha * row[j] + beta * d[j];
        }
    }
}
