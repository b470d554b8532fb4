// A small CNN training step through the public API on the simulator and on the CPU: conv, batch
// norm, relu, max pool, a strided conv, global average pool, linear, cross-entropy, backward and an
// SGD step, inside a MemoryScope. Loss, every gradient, the running statistics and the updated
// parameters must agree, and a second scoped step must reuse the first step's device buffers.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class GpuTrainingStepTests
{
    private sealed class Model
    {
        public readonly Tensor W1, G1, B1, Rm1, Rv1, W2, G2, B2, Rm2, Rv2, Fc, FcB;

        public Model(Device device)
        {
            Tensor P(int seed, params int[] shape) => Tensor.FromArray(G.Rand(seed, (int)Shape.Numel(shape), -0.5f, 0.5f), shape).To(device).Detach().Keep();
            Tensor Const(float v, int n) => Tensor.Full(new[] { n }, v, DType.Float32, device).Keep();
            W1 = P(1, 4, 1, 3, 3); G1 = P(2, 4).Affine(1f, 1f).Detach().Keep(); B1 = P(3, 4); Rm1 = Const(0f, 4); Rv1 = Const(1f, 4);
            W2 = P(4, 6, 4, 3, 3); G2 = Const(1f, 6); B2 = Const(0f, 6); Rm2 = Const(0f, 6); Rv2 = Const(1f, 6);
            Fc = P(5, 3, 6); FcB = P(6, 3);
            foreach (var t in Parameters) t.RequiresGrad = true;
        }

        public Tensor[] Parameters => new[] { W1, G1, B1, W2, G2, B2, Fc, FcB };

        public Tensor Loss(Tensor x, Tensor labels)
        {
            var h = F.BatchNorm(F.Conv2d(x, W1, null, padding: 1), Rm1, Rv1, G1, B1, training: true).Relu();
            h = F.MaxPool2d(h, 2);
            h = F.BatchNorm(F.Conv2d(h, W2, null, stride: 2, padding: 1), Rm2, Rv2, G2, B2, training: true).Relu();
            h = F.AdaptiveAvgPool2d(h, 1, 1).Reshape(x.Shape[0], 6);
            return F.CrossEntropy(F.Linear(h, Fc, FcB), labels, labelSmoothing: 0.1f);
        }
    }

    [Fact]
    public void TrainingStepOnTheSimulatorMatchesTheCpu() => StepMatchesCpu(Devices.Simulator());

    [CudaFact]
    public void TrainingStepOnCudaMatchesTheCpu() => StepMatchesCpu(Devices.Cuda());

    private static void StepMatchesCpu(Device device)
    {
        var x = G.Rand(7, 3 * 1 * 8 * 8);
        var labels = new[] { 0, 2, 1 };
        (float Loss, float[][] Grads, float[][] After) Step(Device device)
        {
            var m = new Model(device);
            float loss;
            using (MemoryScope.Begin())
            {
                var l = m.Loss(Tensor.FromArray(x, new[] { 3, 1, 8, 8 }).To(device), Tensor.FromArray(labels, new[] { 3 }).To(device));
                l.Backward();
                loss = l.Item();
            }
            var grads = m.Parameters.Select(p => p.Grad!.ToArray()).Concat(new[] { m.Rm1.ToArray(), m.Rv1.ToArray(), m.Rm2.ToArray(), m.Rv2.ToArray() }).ToArray();
            using (new NativeCnn.Autograd.NoGrad())
                foreach (var p in m.Parameters) OptimOps.SgdStep(p, p.Grad!, null, 0.1f, 0f, 0f, 1e-3f, false, true);
            return (loss, grads, m.Parameters.Select(p => p.ToArray()).ToArray());
        }
        var cpu = Step(Device.Cpu);
        var gpu = Step(device);
        Assert.True(float.IsFinite(cpu.Loss) && cpu.Loss > 0);
        G.Close(new[] { cpu.Loss }, new[] { gpu.Loss }, 1e-5, "loss");
        for (int k = 0; k < cpu.Grads.Length; k++) G.Close(cpu.Grads[k], gpu.Grads[k], 1e-4, $"gradient / running stat {k}");
        for (int k = 0; k < cpu.After.Length; k++) G.Close(cpu.After[k], gpu.After[k], 1e-5, $"parameter {k} after the SGD step");
    }

    [Fact]
    public void ScopedStepsReuseDeviceBuffers()
    {
        var sim = Devices.Simulator();
        var backend = Devices.SimulatorBackend();
        var m = new Model(sim);
        var x = Tensor.FromArray(G.Rand(8, 2 * 64), new[] { 2, 1, 8, 8 });
        var labels = Tensor.FromArray(new[] { 1, 0 }, new[] { 2 });
        int Step()
        {
            using (MemoryScope.Begin())
            {
                var l = m.Loss(x.To(sim), labels.To(sim));
                l.Backward();
                _ = l.Item();
                foreach (var p in m.Parameters) p.Grad = null;
            }
            return backend.PooledBufferCount;
        }
        int afterFirst = Step();
        int afterSecond = Step();
        // every buffer of the second step came from the pool and went back to it: no new allocations
        Assert.True(afterFirst > 0);
        Assert.Equal(afterFirst, afterSecond);
    }
}
