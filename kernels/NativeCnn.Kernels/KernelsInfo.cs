// ILGPU kernels for the GPU backend, one file per op family. The GPU issue fills this project;
// until then it holds only this marker so the layout of the solution is in place.
namespace NativeCnn.Kernels;

public static class KernelsInfo
{
    public const string Families = "Elementwise, Reduce, Gemm, GemmHalf, Conv, Pool, BatchNorm, Loss, Optim, Augment";
}
