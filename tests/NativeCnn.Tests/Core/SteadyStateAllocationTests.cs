// Once warm, a training step allocates no new buffers: conv workspaces and optimizer state are reused.
// These tests count the bytes allocated on the calling thread, and the pools they check are shared by
// every thread of the backend, so they run in a collection of their own with nothing in parallel: a
// conv in another test could otherwise take the pooled workspace between two measured steps (CI saw
// exactly that once: a 1 MB workspace allocated again).
using NativeCnn.Backends;
using NativeCnn.Optim;
using Xunit;

namespace NativeCnn.Tests.Core;

/// <summary>Tests that measure allocations against the backend's shared pools run one at a time.</summary>
[CollectionDefinition("SteadyStateAllocation", DisableParallelization = true)]
public sealed class SteadyStateAllocationCollection { }

[Collection("SteadyStateAllocation")]
public class SteadyStateAllocationTests
{
    [Fact]
    public void WarmConvStepReusesItsWorkspaces()
    {
        // col here is 288 x 2048 floats (2.4 MB); after a warm-up call no workspace is allocated again
        var x = Tensor.Randn(new[] { 2, 32, 32, 32 }, new Rng(9));
        var w = Tensor.Randn(new[] { 32, 32, 3, 3 }, new Rng(10));
        x.RequiresGrad = true; w.RequiresGrad = true;
        void Step()
        {
            using var _ = MemoryScope.Begin();
            F.Conv2d(x, w, padding: 1).Sum().Backward();
        }
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // one new workspace would be at least 1 MB (they are rounded up to 1 MB)
        Assert.True(allocated < 1_000_000, $"a warm conv step allocated {allocated} bytes on the calling thread");
    }

    [Fact]
    public void OptimizerStepsAfterTheFirstAllocateNoParameterSizedBuffers()
    {
        const int n = 1 << 17; // 512 KiB per parameter
        var ps = Enumerable.Range(0, 3).Select(_ => Tensor.Zeros(new[] { n }, DType.Float32).Keep()).ToArray();
        foreach (var p in ps) { p.RequiresGrad = true; p.Grad = Tensor.Ones(new[] { n }, DType.Float32).Keep(); }
        foreach (Optimizer opt in new Optimizer[] { new SGD(ps, 0.1f, momentum: 0.9f, weightDecay: 1e-4f), new AdamW(ps, 1e-3f) })
        {
            opt.Step();
            opt.Step();
            long before = GC.GetAllocatedBytesForCurrentThread();
            opt.Step();
            opt.ZeroGrad();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 16 * 1024, $"{opt.Name}: a step allocated {allocated} bytes");
        }
        Assert.All(ps, p => Assert.All(p.Grad!.ToArray(), v => Assert.Equal(0f, v)));
    }
}
