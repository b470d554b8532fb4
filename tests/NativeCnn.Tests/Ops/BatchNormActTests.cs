// The fused batch norm (F.BatchNormAct: relu(batch_norm(x) + residual) in one op) against the same
// ops composed (F.BatchNorm, +, Relu) on the CPU backend and on the GPU backend over ILGPU's simulator:
// output, running statistics and every gradient (x, residual, weight, bias) bitwise equal in float32;
// in float16 (float16 activations, float32 statistics) bitwise equal to the composed float16 graph
// on the GPU, and within float16 rounding (2^-10 relative, 1e-3 absolute on gradients summed in float32
// after a float16 round) on the CPU. Also: a ResNet block and the mnist_cnn Sequential use it.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Models;
using NativeCnn.Nn;
using Xunit;

namespace NativeCnn.Tests.Ops;

[Collection("Gpu")]
public class BatchNormActTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (string device in new[] { "cpu", "simulator" })
        foreach (bool half in new[] { false, true })
        foreach (var (residual, relu) in new[] { (false, true), (true, true), (true, false) })
            yield return new object[] { device, half, residual, relu };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedEqualsComposed(string device, bool half, bool residual, bool relu)
    {
        var dev = device == "cpu" ? Device.Cpu : Devices.Simulator();
        var dtype = half ? DType.Float16 : DType.Float32;
        int[] shape = { 3, 4, 5, 3 };
        var rng = new Rng(5);
        var x0 = Tensor.Randn(shape, rng).To(dtype).To(dev);
        var r0 = Tensor.Randn(shape, rng).To(dtype).To(dev);
        var gy = Tensor.Randn(shape, rng).To(dtype).To(dev);
        var w0 = Tensor.Randn(new[] { 4 }, rng).To(dev);
        var b0 = Tensor.Randn(new[] { 4 }, rng).To(dev);

        (float[] Y, float[] Mean, float[] Var, float[] Gx, float[]? Gr, float[] Gw, float[] Gb) Run(bool fused)
        {
            var x = x0.Clone(); x.RequiresGrad = true;
            var r = r0.Clone(); r.RequiresGrad = true;
            var w = w0.Clone(); w.RequiresGrad = true;
            var b = b0.Clone(); b.RequiresGrad = true;
            var mean = Tensor.Zeros(new[] { 4 }, DType.Float32, dev);
            var variance = Tensor.Ones(new[] { 4 }, DType.Float32, dev);
            Tensor y;
            if (fused) y = F.BatchNormAct(x, residual ? r : null, relu, mean, variance, w, b);
            else
            {
                y = F.BatchNorm(x, mean, variance, w, b, training: true);
                if (residual) y = y + r;
                if (relu) y = y.Relu();
            }
            Assert.Equal(dtype, y.DType);
            y.Backward(gy);
            return (y.ToArray(), mean.ToArray(), variance.ToArray(), x.Grad!.ToArray(), residual ? r.Grad!.ToArray() : null, w.Grad!.ToArray(), b.Grad!.ToArray());
        }

        var f = Run(fused: true);
        var u = Run(fused: false);
        string what = $"{device} {dtype} residual={residual} relu={relu}";
        if (relu) Assert.Contains(f.Y, v => v == 0f);   // the ReLU clipped something (the mask is exercised)
        Same(u.Y, f.Y, what + " y");
        Same(u.Mean, f.Mean, what + " running mean");
        Same(u.Var, f.Var, what + " running var");
        if (residual) Same(u.Gr!, f.Gr!, what + " residual grad");
        if (!half || device == "simulator")
        {
            Same(u.Gx, f.Gx, what + " x grad");
            Same(u.Gw, f.Gw, what + " weight grad");
            Same(u.Gb, f.Gb, what + " bias grad");
        }
        else
        {
            Close(u.Gx, f.Gx, 1e-3, what + " x grad");
            Close(u.Gw, f.Gw, 1e-3, what + " weight grad");
            Close(u.Gb, f.Gb, 1e-3, what + " bias grad");
        }
    }

    [Fact]
    public void ResNetBlockAndMnistCnnRunTheFusedOp()
    {
        // A block's output equals its layers composed by hand (the unfused formula), bitwise, on the CPU.
        var block = new BasicBlock(4, 8, stride: 2, rng: new Rng(1));
        var x = Tensor.Randn(new[] { 2, 4, 6, 6 }, new Rng(2));
        var y = block.Forward(x).ToArray();
        // the same block again (fresh running statistics) composed the unfused way
        var again = new BasicBlock(4, 8, stride: 2, rng: new Rng(1));
        var z = again.Bn1.Forward(again.Conv1.Forward(x)).Relu();
        z = again.Bn2.Forward(again.Conv2.Forward(z));
        var expected = (z + again.Downsample!.Forward(x)).Relu().ToArray();
        Same(expected, y, "BasicBlock");
        // the running statistics moved once per batch norm, as composed
        Same(again.Bn2.RunningMean!.ToArray(), block.Bn2.RunningMean!.ToArray(), "bn2 running mean");
        Assert.Equal(1f, block.Bn1.NumBatchesTracked!.ToArray()[0]);
        // the Sequential fuses BatchNorm2d + ReLU: its graph has batch_norm_act nodes and no relu ones
        var model = SimpleCnn.MnistCnn(10, new Rng(3));
        var out1 = model.Forward(Tensor.Randn(new[] { 2, 1, 28, 28 }, new Rng(4)));
        Assert.Equal("batch_norm_act", FindNode(out1, "batch_norm_act"));
        Assert.Null(FindNode(out1, "relu"));
    }

    private static string? FindNode(Tensor t, string name)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Tensor>();
        stack.Push(t);
        while (stack.Count > 0)
        {
            var u = stack.Pop();
            if (u.GradFn is null || !seen.Add(u)) continue;
            if (u.GradFn.Name == name) return name;
            foreach (var i in u.GradFn.Inputs) if (i is not null) stack.Push(i);
        }
        return null;
    }

    private static void Same(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, composed {expected[i]} (bitwise)");
    }

    private static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i} is {actual[i]}, composed {expected[i]} (tolerance {tol})");
    }
}
