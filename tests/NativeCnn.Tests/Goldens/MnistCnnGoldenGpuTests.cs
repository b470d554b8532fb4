// The PyTorch goldens of mnist_cnn (MnistCnnGoldenTests: same checks, same tolerances) on the GPU
// backend: over ILGPU's CPU simulator always, on CUDA where a usable device exists (skipped with the
// reason elsewhere). The model is loaded on the CPU, moved with Module.To(device), and fed the golden
// batch moved with Tensor.To(device); nothing is read back to the host except to compare.
// ILGPU's simulator runs each group's threads as OS threads meeting at System.Threading barriers, so
// one forward + backward of batch 8 takes 16 s on 2 cores inside the suite (about 30 s alone, with
// the kernels' first compilation): the simulator runs that and the optimizers alone (with torch's
// gradients, about 1 s); the 5-step runs (90 s for SGD, 115 s for AdamW there) run on CUDA, and on
// the simulator only when NATIVECNN_SLOW_SIMULATOR_TESTS=1 (skipped, saying so, otherwise).
using NativeCnn.Tests.Gpu;
using Xunit;

namespace NativeCnn.Tests.Goldens;

[Collection("Gpu")]
public class MnistCnnGoldenGpuTests
{
    [Fact]
    public void ForwardAndBackwardMatchTorchOnTheSimulator() => MnistCnnGoldenTests.ForwardAndBackward(Devices.Simulator());

    [SlowSimulatorFact]
    public void SgdStepsMatchTorchOnTheSimulator() => MnistCnnGoldenTests.SgdSteps(Devices.Simulator(), memoryScope: true);

    [SlowSimulatorFact]
    public void AdamWStepsMatchTorchOnTheSimulator() => MnistCnnGoldenTests.AdamWSteps(Devices.Simulator(), memoryScope: true);

    [Fact]
    public void OptimizersWithTorchGradientsMatchTorchOnTheSimulator()
    {
        MnistCnnGoldenTests.SgdFixedGradients(Devices.Simulator());
        MnistCnnGoldenTests.AdamWFixedGradients(Devices.Simulator());
    }

    [CudaFact]
    public void ForwardAndBackwardMatchTorchOnCuda() => MnistCnnGoldenTests.ForwardAndBackward(Devices.Cuda());

    [CudaFact]
    public void SgdStepsMatchTorchOnCuda()
    {
        MnistCnnGoldenTests.SgdSteps(Devices.Cuda(), memoryScope: false);
        MnistCnnGoldenTests.SgdSteps(Devices.Cuda(), memoryScope: true);
    }

    [CudaFact]
    public void AdamWStepsMatchTorchOnCuda()
    {
        MnistCnnGoldenTests.AdamWSteps(Devices.Cuda(), memoryScope: false);
        MnistCnnGoldenTests.AdamWSteps(Devices.Cuda(), memoryScope: true);
    }

    [CudaFact]
    public void OptimizersWithTorchGradientsMatchTorchOnCuda()
    {
        MnistCnnGoldenTests.SgdFixedGradients(Devices.Cuda());
        MnistCnnGoldenTests.AdamWFixedGradients(Devices.Cuda());
    }
}
