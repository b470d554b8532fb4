// MemoryScope: buffers made in a scope go back to the pool and the next step reuses them, so a
// steady training loop allocates no new arrays; tensors from an ended scope fail loudly; Keep()
// and leaf gradients survive. Sizes are unusual primes, and the class runs in the non-parallel
// SteadyStateAllocation collection, so no other test rents the same pool bucket mid-measurement.
using NativeCnn.Autograd;
using NativeCnn.Backends;
using Xunit;

namespace NativeCnn.Tests.Core;

[Collection("SteadyStateAllocation")]
public class MemoryScopeTests
{
    [Fact]
    public void SteadyLoopAllocatesNoNewBuffersAfterTheFirstStep()
    {
        const int n = 1_000_003;                 // 4 MB per float buffer
        var w = Tensor.Randn(new[] { n }, new Rng(1));
        w.RequiresGrad = true;
        var x = Tensor.Randn(new[] { n }, new Rng(2));
        var target = Tensor.Randn(new[] { n }, new Rng(3));
        var losses = new List<float>();

        void Step()
        {
            using var scope = MemoryScope.Begin();
            var loss = F.MseLoss((x * w).Relu(), target);
            loss.Backward();
            losses.Add(loss.Item());
            using (new NoGrad()) w.AddInPlace(w.Grad! * -0.1f);
            w.Grad!.CopyFrom(Tensor.Scalar(0f));
        }

        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 9; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // nine steps of a dozen ops: tensors, graph nodes, closures and Parallel.For's task objects
        // are some tens of KB per step (about 300 KB in all when written); a single new buffer is 4 MB
        Assert.True(allocated < 2 * 1024 * 1024, $"9 scoped steps allocated {allocated} bytes");
        // and the steps really trained: the loss went down every time
        for (int i = 1; i < losses.Count; i++) Assert.True(losses[i] < losses[i - 1], $"step {i}: {losses[i]} >= {losses[i - 1]}");
    }

    [Fact]
    public void WithoutAScopeEachStepAllocatesFreshBuffers()
    {
        // the control for the test above: the same measurement sees new buffers when nothing pools them
        const int n = 250_009;
        var x = Tensor.Randn(new[] { n }, new Rng(4));
        _ = (x * x).Relu();
        long before = GC.GetAllocatedBytesForCurrentThread();
        _ = (x * x).Relu();
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before >= 2L * n * sizeof(float));
    }

    [Fact]
    public void ScopedBuffersAreReusedByTheNextScope()
    {
        const int n = 1_009;
        Tensor first;
        using (MemoryScope.Begin()) { first = Tensor.Full(new[] { n }, 3f); }
        Assert.True(first.Storage.IsReleased);
        var values = new float[n];
        long before = GC.GetAllocatedBytesForCurrentThread();
        using (MemoryScope.Begin())
        {
            // the pooled array comes back; Full must overwrite whatever it held
            var again = Tensor.Full(new[] { n }, 5f);
            again.Backend.ToHost(again.Storage, 0, values);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.All(values, v => Assert.Equal(5f, v));
        // a new array would be 4 KB; the storage, tensor and scope objects are a few hundred bytes
        Assert.True(allocated < n * sizeof(float) / 2, $"allocated {allocated} bytes");
    }

    [Fact]
    public void TensorFromEndedScopeThrowsAClearError()
    {
        Tensor y;
        using (MemoryScope.Begin()) { y = Tensor.Ones(7) * 2f; }
        var ex = Assert.Throws<InvalidOperationException>(() => y.ToArray());
        Assert.Contains("MemoryScope", ex.Message);
        Assert.Contains("Keep()", ex.Message);
        Assert.Throws<InvalidOperationException>(() => y.Sum().Item());
        Assert.Throws<InvalidOperationException>(() => (y + y).ToArray());
        Assert.Contains("released", y.ToString());
        // a view shares the released storage and fails the same way
        Assert.Throws<InvalidOperationException>(() => y.Reshape(7, 1).ToArray());
    }

    [Fact]
    public void KeptTensorsAndLeafGradsSurvive()
    {
        var w = Tensor.FromArray(new[] { 1f, 2f }, new[] { 2 }, requiresGrad: true);
        Tensor kept, view;
        using (MemoryScope.Begin())
        {
            kept = (w * 3f).Detach().Keep();
            view = kept.Reshape(2, 1);
            (w * w).Sum().Backward();
        }
        Assert.Equal(new[] { 3f, 6f }, kept.ToArray());
        Assert.Equal(new[] { 3f, 6f }, view.ToArray());
        Assert.Equal(new[] { 2f, 4f }, w.Grad!.ToArray());
        Assert.False(w.Grad.Storage.IsReleased);
    }

    [Fact]
    public void ScopesNestAndMustCloseInOrder()
    {
        var outside = Tensor.Ones(3);
        Tensor outer, inner;
        using (MemoryScope.Begin())
        {
            outer = outside * 2f;
            using (MemoryScope.Begin()) { inner = outside * 3f; }
            Assert.True(inner.Storage.IsReleased);
            Assert.Equal(new[] { 2f, 2f, 2f }, outer.ToArray());
        }
        Assert.True(outer.Storage.IsReleased);
        Assert.Equal(new[] { 1f, 1f, 1f }, outside.ToArray());

        var a = MemoryScope.Begin();
        var b = MemoryScope.Begin();
        Assert.Throws<InvalidOperationException>(() => a.Dispose());
        b.Dispose();
        a.Dispose();
    }
}
