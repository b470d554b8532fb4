// The naive SGEMM, the first rung of the GPU kernel lab's GEMM ladder (a lab kernel: the engine never
// uses it): one thread per element of C, reading a row of A and a column of B straight from global memory.
// Against it the tiled kernel's gain is measured. Row-major C (m, n) = A (m, k) B (k, n).
// Must hold: any m, n, k (threads outside C return).
using ILGPU;

namespace NativeCnn.GpuLab.Kernels;

internal static class GemmNaiveKernels
{
    public const int GroupX = 16, GroupY = 16;

    // grid: (ceil(n/16), ceil(m/16)), group: (16, 16); thread x walks columns, so a warp reads B coalesced
    public static void GemmNaiveKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k)
    {
        int col = Grid.IdxX * GroupX + Group.IdxX;
        int row = Grid.IdxY * GroupY + Group.IdxY;
        if (row >= m || col >= n) return;
        float sum = 0f;
        for (int p = 0; p < k; p++) sum += a[row * k + p] * b[p * n + col];
        c[row * n + col] = sum;
    }
}
