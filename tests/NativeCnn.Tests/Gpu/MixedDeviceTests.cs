// Inputs on different devices are a clear error in every op family: binary ops, matmul/linear, conv,
// batch norm, pooling, softmax/reductions/dropout (through a gradient from elsewhere), losses, the
// fused optimizer steps, concat and copies, and gradient accumulation. Each case mixes a CPU tensor
// with one on the simulator (each way round where both orders reach different code) and expects a
// NativeCnnException naming the op and both devices, never an internal error from a backend.
using NativeCnn.Backends;
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class MixedDeviceTests
{
    private static readonly Device Sim = Devices.Simulator();

    private static Tensor Cpu(params int[] shape) => Tensor.FromArray(G.Rand(shape.Length * 7 + shape.Sum(), (int)Shape.Numel(shape)), shape);
    private static Tensor OnSim(params int[] shape) => Cpu(shape).To(Sim);

    /// <summary>The call must throw NativeCnnException naming <paramref name="op"/> and both devices.</summary>
    private static void Refused(string op, Action call)
    {
        var e = Assert.Throws<NativeCnnException>(call);
        Assert.Contains(op, e.Message);
        Assert.Contains("one device", e.Message);
        Assert.Contains("cpu", e.Message);
        Assert.Contains(Sim.ToString(), e.Message);
    }

    [Fact]
    public void BinaryOps()
    {
        Refused("add", () => _ = Cpu(2, 3) + OnSim(2, 3));
        Refused("sub", () => _ = OnSim(2, 3) - Cpu(3));          // broadcast too
        Refused("mul", () => _ = Cpu(2, 3) * OnSim(1));
        Refused("div", () => _ = OnSim(2, 3) / Cpu(2, 3));
    }

    [Fact]
    public void MatMulAndLinear()
    {
        Refused("MatMul", () => Cpu(2, 3).MatMul(OnSim(3, 4)));
        Refused("MatMul", () => OnSim(2, 2, 3).MatMul(Cpu(2, 3, 4)));
        Refused("Linear", () => F.Linear(OnSim(2, 3), Cpu(4, 3), null));
        Refused("Linear", () => F.Linear(OnSim(2, 3), OnSim(4, 3), Cpu(4)));
    }

    [Fact]
    public void Conv()
    {
        Refused("Conv2d", () => F.Conv2d(Cpu(1, 2, 5, 5), OnSim(3, 2, 3, 3)));
        Refused("Conv2d", () => F.Conv2d(OnSim(1, 2, 5, 5), OnSim(3, 2, 3, 3), Cpu(3)));
    }

    [Fact]
    public void BatchNormLeavesRunningStatisticsUntouched()
    {
        var mean = Tensor.Zeros(new[] { 3 }, DType.Float32, Sim);
        var var = Tensor.Ones(new[] { 3 }, DType.Float32, Sim);
        Refused("BatchNorm", () => F.BatchNorm(Cpu(4, 3), mean, var, null, null, training: true));
        Refused("BatchNorm", () => F.BatchNorm(OnSim(4, 3, 2, 2), mean, var, Cpu(3), OnSim(3), training: true));
        Refused("BatchNorm", () => F.BatchNorm(OnSim(4, 3), Cpu(3), Tensor.Ones(new[] { 3 }, DType.Float32), null, null, training: false));
        Assert.Equal(new[] { 0f, 0f, 0f }, mean.ToArray());
        Assert.Equal(new[] { 1f, 1f, 1f }, var.ToArray());
    }

    [Fact]
    public void PoolSoftmaxReduceAndDropoutThroughAGradientFromAnotherDevice()
    {
        // single-input ops: the only way to mix devices is the gradient handed to Backward
        void BackwardWithCpuGradient(string what, Func<Tensor, Tensor> op)
        {
            var x = OnSim(1, 2, 4, 4);
            x.RequiresGrad = true;
            var y = op(x);
            Refused("Backward", () => y.Backward(Tensor.Ones(y.ShapeArray, DType.Float32)));
            Assert.True(x.Grad is null, $"{what}: a gradient was written despite the error");
        }
        BackwardWithCpuGradient("max_pool2d", x => F.MaxPool2d(x, 2));
        BackwardWithCpuGradient("avg_pool2d", x => F.AvgPool2d(x, 2));
        BackwardWithCpuGradient("adaptive_avg_pool2d", x => F.AdaptiveAvgPool2d(x, 1, 1));
        BackwardWithCpuGradient("adaptive_max_pool2d", x => F.AdaptiveMaxPool2d(x, 1, 1));
        BackwardWithCpuGradient("softmax", x => F.Softmax(x, 1));
        BackwardWithCpuGradient("sum", x => x.Sum(1));
        BackwardWithCpuGradient("dropout", x => F.Dropout(x, 0.5f, training: true, new Rng(1)));
    }

    [Fact]
    public void Losses()
    {
        Refused("CrossEntropy", () => F.CrossEntropy(OnSim(2, 3), Tensor.FromArray(new[] { 0, 2 }, new[] { 2 })));
        Refused("CrossEntropy", () => F.CrossEntropy(Cpu(2, 3), Tensor.FromArray(new[] { 0, 2 }, new[] { 2 }).To(Sim)));
        Refused("BinaryCrossEntropyWithLogits", () => F.BinaryCrossEntropyWithLogits(OnSim(2, 3), Cpu(2, 3)));
        Refused("MseLoss", () => F.MseLoss(Cpu(2, 3), OnSim(2, 3)));
    }

    [Fact]
    public void OptimizerStepsLeaveTheParameterUntouched()
    {
        var p = OnSim(2, 3);
        var before = p.ToArray();
        Refused("SgdStep", () => OptimOps.SgdStep(p, Cpu(2, 3), null, 0.1f, 0f, 0f, 0f, false, true));
        Refused("SgdStep", () => OptimOps.SgdStep(p, OnSim(2, 3), Tensor.Zeros(new[] { 2, 3 }, DType.Float32), 0.1f, 0.9f, 0f, 0f, false, true));
        Refused("AdamStep", () => OptimOps.AdamStep(p, Cpu(2, 3), OnSim(2, 3), OnSim(2, 3), 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, true, 1));
        Refused("AdamStep", () => OptimOps.AdamStep(p, OnSim(2, 3), OnSim(2, 3), Tensor.Zeros(new[] { 2, 3 }, DType.Float32), 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, 1));
        Assert.Equal(before, p.ToArray());

        // through the optimizers: a gradient set by hand on the CPU for a parameter on the simulator
        var q = OnSim(3);
        q.RequiresGrad = true;
        q.Grad = Cpu(3);
        Refused("SgdStep", () => new SGD(new[] { q }, lr: 0.1f).Step());
        Refused("AdamStep", () => new AdamW(new[] { q }).Step());
    }

    [Fact]
    public void ConcatAndCopies()
    {
        Refused("Concat", () => Tensor.Concat(new[] { OnSim(2, 3), Cpu(2, 3) }, 0));
        Refused("Concat", () => Tensor.Concat(new[] { Cpu(2, 3), Cpu(2, 1), OnSim(2, 2) }, 1));
        var dst = OnSim(2, 3);
        Refused("CopyFrom", () => dst.CopyFrom(Cpu(2, 3)));
        Refused("AddInPlace", () => dst.AddInPlace(Cpu(2, 3)));
    }

    [Fact]
    public void GradientAccumulationIntoAGradOnAnotherDevice()
    {
        var w = OnSim(3);
        w.RequiresGrad = true;
        w.Grad = Cpu(3);
        var before = w.Grad.ToArray();
        Refused("Backward", () => (w * 2f).Sum().Backward());
        Assert.Equal(before, w.Grad.ToArray());
    }
}
