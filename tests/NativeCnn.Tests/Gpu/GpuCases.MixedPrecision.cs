// mnist_cnn in float16 (MixedPrecision.ModelToHalf: float16 except batch norm) through the public
// API on the GPU backend and on the CPU: float16 input, forward, float32 loss scaled at the logits,
// backward. The loss and every parameter gradient (float16 for convs and linear, float32 for batch
// norm) must agree. Tiny images: the simulator runs the four convs in seconds.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Models;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void MixedPrecision_MnistCnnHalfStepAgreesWithCpu(GpuBackend gpu)
    {
        var (lossCpu, gradsCpu) = HalfMnistStep(Device.Cpu, 256f);
        var (lossGpu, gradsGpu) = HalfMnistStep(gpu.Device, 256f);
        Assert.Equal(lossCpu, lossGpu, 1e-3);
        Assert.Equal(gradsCpu.Count, gradsGpu.Count);
        foreach (var (name, cpu) in gradsCpu)
        {
            var g = gradsGpu[name];
            // the same float32 sums in another order, then rounded to float16 (one ulp: 1e-3 relative)
            double scale = cpu.Max(v => Math.Abs((double)v)) + 1e-6;
            for (int i = 0; i < cpu.Length; i++)
                Assert.True(Math.Abs(cpu[i] - g[i]) <= 4e-3 * scale, $"{name}[{i}]: gpu {g[i]}, cpu {cpu[i]} (largest |grad| {scale})");
        }
        Assert.True(gradsCpu.Values.Any(v => v.Any(x => x != 0)), "the gradients are not all zero");

    }

    /// <summary>One forward and backward of a float16 mnist_cnn on 2 images of 6x6 pixels; returns the
    /// loss and the gradients (as float32 values) by parameter name.</summary>
    private static (float Loss, Dictionary<string, float[]> Grads) HalfMnistStep(Device device, float lossScale)
    {
        var model = SimpleCnn.MnistCnn(10, new Rng(5)).To(device);
        MixedPrecision.ModelToHalf(model);
        using (MemoryScope.Begin())
        {
            var x = Tensor.FromArray(G.Rand(61, 2 * 36), new[] { 2, 1, 6, 6 }).To(device).To(DType.Float16);
            var labels = Tensor.FromArray(new[] { 3, 7 }, new[] { 2 }).To(device);
            var logits = model.Forward(x);
            Assert.Equal(DType.Float16, logits.DType);
            var loss = F.CrossEntropy(logits.To(DType.Float32).ScaleGradient(lossScale), labels);
            loss.Backward();
            var grads = model.NamedParameters().ToDictionary(p => p.Name, p =>
            {
                Assert.Equal(p.Value.DType, p.Value.Grad!.DType);
                return p.Value.Grad.ToArray();
            });
            return (loss.Item(), grads);
        }
    }
}
