// The tensor-core float16 GEMM over many random shapes on ILGPU's simulator, where each mma is
// emulated with warp shuffles: minutes, so it runs only when asked (NATIVECNN_SLOW_SIMULATOR_TESTS=1).
// On CUDA the suite's GemmHalf_TensorCoreKernel case runs 40 random shapes on the real instruction.
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class GemmHalfSlowTests
{
    [SlowSimulatorFact]
    public void TensorCoreKernelOnTheSimulatorOverManyShapes() => GpuCases.GemmHalfTensorCoreManyShapes(G.Simulator, count: 12);
}
