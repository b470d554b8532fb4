// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                     Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
                     float beta, Storage c, int cOffset, int ldc,
                     int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0) => throw new NotImplementedException();
}
