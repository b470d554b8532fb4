// TEMPORARY simple SGEMM (correct, slow); replaced by the packed, register-blocked kernel.
namespace NativeCnn.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                     Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
                     float beta, Storage c, int cOffset, int ldc,
                     int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        var A = F(a); var B = F(b); var C = F(c);
        for (int bt = 0; bt < batch; bt++)
        {
            int ao = aOffset + bt * strideA, bo = bOffset + bt * strideB, co = cOffset + bt * strideC;
            For(m, 1, (r0, r1) =>
            {
                var row = new float[n];
                for (int i = r0; i < r1; i++)
                {
                    Array.Clear(row);
                    for (int p = 0; p < k; p++)
                    {
                        float av = transA ? A[ao + p * lda + i] : A[ao + i * lda + p];
                        if (av == 0) continue;
                        for (int j = 0; j < n; j++) row[j] += av * (transB ? B[bo + j * ldb + p] : B[bo + p * ldb + j]);
                    }
                    for (int j = 0; j < n; j++)
                        C[co + i * ldc + j] = alpha * row[j] + (beta == 0 ? 0 : beta * C[co + i * ldc + j]);
                }
            });
        }
    }
}
