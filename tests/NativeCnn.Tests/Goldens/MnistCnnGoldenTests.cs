// Golden tests against PyTorch 1.13 on the CPU backend: the checks (and their tolerances) are in
// MnistCnnGolden.Checks.cs; the same checks on the GPU backend are in MnistCnnGoldenGpuTests.cs.
using NativeCnn.Models;
using Xunit;

namespace NativeCnn.Tests.Goldens;

public partial class MnistCnnGoldenTests
{
    [Fact]
    public void StateDictHasTorchNamesAndShapes()
    {
        var g = Golden();
        var torchState = InitialState(g);
        var ours = SimpleCnn.MnistCnn().StateDict();
        Assert.Equal(torchState.Keys.OrderBy(k => k, StringComparer.Ordinal), ours.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, t) in torchState)
            Assert.True(t.Shape.SequenceEqual(ours[name].Shape),
                $"{name}: torch shape {Shape.Format(t.ShapeArray)}, ours {Shape.Format(ours[name].ShapeArray)}");
        // After loading, every tensor holds torch's values exactly (float32 in, float32 out).
        var model = TorchInitialisedModel(g);
        foreach (var (name, t) in model.StateDict())
            Assert.Equal(torchState[name].ToArray(), t.ToArray());
    }

    [Fact]
    public void ForwardAndBackwardMatchTorch() => ForwardAndBackward(Device.Cpu);

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // each step inside a MemoryScope, as the training loop runs it: pooled buffers must not leak values
    public void SgdStepsMatchTorch(bool memoryScope) => SgdSteps(Device.Cpu, memoryScope);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdamWStepsMatchTorch(bool memoryScope) => AdamWSteps(Device.Cpu, memoryScope);

    [Fact]
    public void SgdUpdatesMatchTorchWithFixedGradients() => SgdFixedGradients(Device.Cpu);

    [Fact]
    public void AdamWUpdatesMatchTorchWithFixedGradients() => AdamWFixedGradients(Device.Cpu);
}
