// Module.To(device): parameters and buffers move in place (the same tensor objects, as torch's
// module.to), stay persistent leaves across MemoryScopes, keep their values and gradients, and a model
// moved to the simulator computes what it computes on the CPU. A device that is not available fails
// before anything moved.
using NativeCnn.Backends;
using NativeCnn.Nn;
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class ModuleToDeviceTests
{
    private static Sequential Small(int seed) =>
        new(new Conv2d(1, 2, 3, padding: 1, rng: new Rng((ulong)seed)), new BatchNorm2d(2), new ReLU(), new Flatten(), new Linear(2 * 4 * 4, 3, rng: new Rng((ulong)seed + 1)));

    [Fact]
    public void ParametersAndBuffersMoveInPlaceAndStayPersistentLeaves()
    {
        var sim = Devices.Simulator();
        var model = Small(1);
        var before = model.StateDict().ToDictionary(e => e.Key, e => e.Value.ToArray());
        var parameters = model.Parameters().ToList();
        var buffers = model.NamedBuffers().Select(b => b.Value).ToList();
        // a gradient made on the CPU must travel with its parameter
        parameters[0].Grad = Tensor.Full(parameters[0].ShapeArray, 0.25f).Keep();

        Assert.Same(model, model.To(sim));
        Assert.Equal(sim, model.Device);
        Assert.Equal(parameters, model.Parameters());                        // the same objects
        Assert.Equal(buffers, model.NamedBuffers().Select(b => b.Value));
        foreach (var (name, t) in model.NamedParameters().Concat(model.NamedBuffers()))
        {
            Assert.Equal(sim, t.Device);
            Assert.True(t.IsLeaf && t.Storage.IsPersistent && t.IsDense, $"{name}: leaf {t.IsLeaf}, persistent {t.Storage.IsPersistent}, dense {t.IsDense}");
            Assert.Equal(before[name], t.ToArray());
        }
        Assert.All(parameters, p => Assert.True(p.RequiresGrad));
        Assert.Equal(DType.Int32, model.StateDict()["1.num_batches_tracked"].DType);
        Assert.Equal(sim, parameters[0].Grad!.Device);
        Assert.True(parameters[0].Grad!.Storage.IsPersistent);
        Assert.All(parameters[0].Grad!.ToArray(), v => Assert.Equal(0.25f, v));

        // a scoped training step leaves every parameter, gradient and buffer readable afterwards
        var x = Tensor.FromArray(G.Rand(3, 2 * 16), new[] { 2, 1, 4, 4 }).To(sim);
        var labels = Tensor.FromArray(new[] { 2, 0 }, new[] { 2 }).To(sim);
        var opt = new SGD(model.Parameters(), lr: 0.1f, momentum: 0.9f);
        using (MemoryScope.Begin())
        {
            opt.ZeroGrad();
            var loss = F.CrossEntropy(model.Forward(x), labels);
            loss.Backward();
            opt.Step();
        }
        foreach (var (name, t) in model.NamedParameters().Concat(model.NamedBuffers()))
            Assert.True(t.ToArray().All(float.IsFinite), $"{name} is unreadable or not finite after a scoped step");
        Assert.Equal(new[] { 1f }, model.StateDict()["1.num_batches_tracked"].ToArray());
        Assert.NotEqual(before["4.weight"], model.StateDict()["4.weight"].ToArray());   // the step changed it

        // and back: the same objects on the CPU with the values they had on the simulator
        var onSim = model.StateDict().ToDictionary(e => e.Key, e => e.Value.ToArray());
        model.To(Device.Cpu);
        Assert.Equal(parameters, model.Parameters());
        foreach (var (name, t) in model.StateDict())
        {
            Assert.Equal(Device.Cpu, t.Device);
            Assert.Equal(onSim[name], t.ToArray());
        }
    }

    [Fact]
    public void AMovedModelComputesWhatItComputesOnTheCpu()
    {
        var sim = Devices.Simulator();
        var x = G.Rand(5, 3 * 16);
        var labels = new[] { 0, 2, 1 };
        (float Loss, float[][] Grads, float[][] State) Run(Device device)
        {
            var model = Small(7).To(device);
            var loss = F.CrossEntropy(model.Forward(Tensor.FromArray(x, new[] { 3, 1, 4, 4 }).To(device)), Tensor.FromArray(labels, new[] { 3 }).To(device));
            loss.Backward();
            Assert.All(model.Parameters(), p => Assert.Equal(device, p.Grad!.Device));
            return (loss.Item(), model.Parameters().Select(p => p.Grad!.ToArray()).ToArray(),
                    model.StateDict().Values.Select(t => t.ToArray()).ToArray());
        }
        var cpu = Run(Device.Cpu);
        var gpu = Run(sim);
        G.Close(new[] { cpu.Loss }, new[] { gpu.Loss }, 1e-5, "loss");
        for (int k = 0; k < cpu.Grads.Length; k++) G.Close(cpu.Grads[k], gpu.Grads[k], 1e-4, $"gradient {k}");
        for (int k = 0; k < cpu.State.Length; k++) G.Close(cpu.State[k], gpu.State[k], 1e-5, $"state entry {k}");
    }

    [Fact]
    public void AnUnavailableDeviceFailsBeforeAnythingMoved()
    {
        var model = Small(2);
        var missing = new Device(DeviceKind.Cuda, 57);
        var e = Assert.Throws<NativeCnnException>(() => model.To(missing));
        Assert.Contains("cuda:57", e.Message);
        Assert.All(model.StateDict().Values, t => Assert.Equal(Device.Cpu, t.Device));
    }

    [Fact]
    public void AnOptimizerWhoseStateStayedBehindFailsWithADeviceError()
    {
        var sim = Devices.Simulator();
        var model = Small(3);
        var opt = new SGD(model.Parameters(), lr: 0.1f, momentum: 0.9f);
        var x = Tensor.FromArray(G.Rand(4, 16), new[] { 1, 1, 4, 4 });
        F.CrossEntropy(model.Forward(x), Tensor.FromArray(new[] { 1 }, new[] { 1 })).Backward();
        opt.Step();                         // momentum buffers made on the CPU
        model.To(sim);
        var e = Assert.Throws<NativeCnnException>(() => opt.Step());
        Assert.Contains("one device", e.Message);
    }
}
