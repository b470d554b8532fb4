// GPU GEMM launcher (kernel: kernels/NativeCnn.Kernels/Gemm.cs): one group of 128 threads per 64x64
// tile of C, batches along grid z (the kernel strides over batches beyond the grid limit).
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? _gemm;

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                     Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
                     float beta, Storage c, int cOffset, int ldc,
                     int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        if (m == 0 || n == 0 || batch == 0) return;
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc,
            TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            Batch = batch, StrideA = strideA, StrideB = strideB, StrideC = strideC,
            Alpha = alpha, Beta = beta,
        };
        if (a.DType == DType.Float16 || b.DType == DType.Float16) { GemmHalf(args, a, aOffset, b, bOffset, c, cOffset); return; }   // GpuBackend.Fp16.cs
        GemmViews(args, F(a).SubView(aOffset), F(b).SubView(bOffset), F(c).SubView(cOffset));
    }

    /// <summary>Launches the GEMM kernel on views that start at each operand's first element.</summary>
    private void GemmViews(GemmArgs args, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        if (args.M == 0 || args.N == 0 || args.Batch == 0) return;
        var grid = new Index3D(
            (args.N + GemmKernels.TileN - 1) / GemmKernels.TileN,
            (args.M + GemmKernels.TileM - 1) / GemmKernels.TileM,
            Math.Min(args.Batch, 65535));
        Load(ref _gemm, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmKernels.GemmForwardKernel))
            (new KernelConfig(grid, new Index3D(GemmKernels.GroupThreads, 1, 1)), a, b, c, args);
    }
}
