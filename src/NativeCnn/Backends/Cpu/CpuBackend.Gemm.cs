// CPU matrix multiply: the IBackend.Gemm adapter. It checks every index the call can touch against
// the buffers (the packed SGEMM in CpuGemm*.cs works on raw pointers, so a bad offset or leading
// dimension must fail here, never corrupt memory), then runs the kernel of the CPU path in use (CpuInfo.cs).
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                     Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
                     float beta, Storage c, int cOffset, int ldc,
                     int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        using var _ = Time((m, n, k, transA, transB, batch), static s => $"gemm {s.m}x{s.n}x{s.k}{(s.transA ? " tA" : "")}{(s.transB ? " tB" : "")}{(s.batch > 1 ? $" batch {s.batch}" : "")}");
        if (GemmWidened(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc, batch, strideA, strideB, strideC)) return;   // float16 A or B: CpuBackend.Half.cs
        CheckGemmArguments(transA, transB, m, n, k, a.Length, aOffset, lda, b.Length, bOffset, ldb,
                           c.Length, cOffset, ldc, batch, strideA, strideB, strideC);
        CpuGemm.Run(CpuGemm.ForPath(CpuInfo.Path), transA, transB, m, n, k, alpha, F(a), aOffset, lda, F(b), bOffset, ldb,
                    beta, F(c), cOffset, ldc, batch, strideA, strideB, strideC);
    }

    /// <summary>Backend misuse (a bug in an op, not a user error): sizes, leading dimensions and
    /// the furthest element each operand reaches must fit its buffer.</summary>
    internal static void CheckGemmArguments(bool transA, bool transB, int m, int n, int k,
                                            int aLength, int aOffset, int lda, int bLength, int bOffset, int ldb,
                                            int cLength, int cOffset, int ldc, int batch, int strideA, int strideB, int strideC)
    {
        if (m < 0 || n < 0 || k < 0 || batch < 0)
            throw new ArgumentException($"Gemm: sizes must be >= 0, got m={m}, n={n}, k={k}, batch={batch}");
        if (strideA < 0 || strideB < 0 || strideC < 0)
            throw new ArgumentException($"Gemm: batch strides must be >= 0, got {strideA}, {strideB}, {strideC}");
        if (batch > 1 && m > 0 && n > 0 && strideC < (long)(m - 1) * ldc + n)
            throw new ArgumentException($"Gemm: strideC {strideC} makes the batch's C matrices ({m} x {n}, ld {ldc}) overlap");
        // Stored shapes (row-major): A is (m, k), or (k, m) when transposed; likewise B.
        CheckOperand("A", transA ? k : m, transA ? m : k, lda, aOffset, strideA, aLength, batch);
        CheckOperand("B", transB ? n : k, transB ? k : n, ldb, bOffset, strideB, bLength, batch);
        CheckOperand("C", m, n, ldc, cOffset, strideC, cLength, batch);
    }

    private static void CheckOperand(string name, int rows, int cols, int ld, int offset, int stride, int length, int batch)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"Gemm: leading dimension of {name} is {ld}, must be at least {Math.Max(1, cols)} (its row length)");
        if (rows == 0 || cols == 0 || batch == 0) return;
        long last = (long)offset + (long)(batch - 1) * stride + (long)(rows - 1) * ld + cols - 1;
        if (offset < 0 || last >= length)
            throw new ArgumentException(
                $"Gemm: {name} ({rows} x {cols}, ld {ld}, offset {offset}, batch {batch}, stride {stride}) reaches element {last}, but its buffer has {length}");
    }
}
