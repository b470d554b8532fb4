// The op codes (kernels/NativeCnn.Kernels/OpCodes.cs) have one definition shared by the kernels and both
// backends; these tests hold its two promises. Every member is handled everywhere: each UnaryOp and
// BinaryOp gives the same values on the CPU backend and on the GPU kernels (simulator), none NaN on inputs
// where the function is finite. An unknown code never passes silently: both backends throw, and a kernel
// handed one directly writes NaN to every output element (on a GPU it also executes `trap`).
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class OpCodeTests
{
    private const UnaryOp BadUnary = (UnaryOp)99;
    private const BinaryOp BadBinary = (BinaryOp)99;

    [Fact]
    public void EveryCodeRunsTheSameOnBothBackends()
    {
        float[] x = { 0.25f, 0.5f, 1.5f, 2f, 3f, 0.75f, 1.25f, 0.1f };   // positive: log, sqrt and pow are finite
        float[] w = { 1f, -2f, 0.5f, 4f, -0.25f, 2f, 1f, -1f };
        int n = x.Length;
        foreach (var op in Enum.GetValues<UnaryOp>())
        {
            var (cpu, gpu) = Both.Run(G.Simulator, new[] { x }, new[] { n, n }, (b, i, o) =>
            {
                b.Unary(op, i[0], o[0], n, 0.5f, 1.75f);
                b.UnaryBackward(op, i[0], o[0], i[0], o[1], n, 0.5f, 1.75f);
            });
            Assert.All(cpu[0].Concat(cpu[1]), v => Assert.False(float.IsNaN(v), $"{op}: NaN on the CPU"));
            G.Close(cpu[0], gpu[0], 1e-6, $"{op} forward");
            G.Close(cpu[1], gpu[1], 1e-6, $"{op} backward");
        }
        foreach (var op in Enum.GetValues<BinaryOp>())
        {
            int[] unit = { 1 }, shape = { n };
            var (cpu, gpu) = Both.Run(G.Simulator, new[] { x, w }, new[] { n }, (b, i, o) => b.Binary(op, i[0], 0, unit, i[1], 0, unit, o[0], shape));
            Assert.All(cpu[0], v => Assert.False(float.IsNaN(v), $"{op}: NaN on the CPU"));
            G.Same(cpu[0], gpu[0], $"{op}");
        }
    }

    [Fact]
    public void BothBackendsRefuseAnUnknownCode()
    {
        foreach (IBackend b in new IBackend[] { G.Cpu, G.Simulator })
        {
            var x = G.Up(b, new[] { 1f, 2f });
            var y = G.Out(b, 2);
            int[] unit = { 1 }, shape = { 2 };
            Assert.Throws<ArgumentOutOfRangeException>(() => b.Unary(BadUnary, x, y, 2, 0f, 0f));
            Assert.Throws<ArgumentOutOfRangeException>(() => b.UnaryBackward(BadUnary, x, x, x, y, 2, 0f, 0f));
            Assert.Throws<ArgumentOutOfRangeException>(() => b.Binary(BadBinary, x, 0, unit, x, 0, unit, y, shape));
            Assert.Throws<ArgumentOutOfRangeException>(() => b.Reduce((ReduceOp)9, x, y, 1, 2, 1));
        }
    }

    [Fact]
    public void AKernelHandedAnUnknownCodeWritesNaNEverywhere()
    {
        var acc = G.Simulator.Accelerator;
        const int n = 300;   // more elements than the simulator's grid has threads: the grid-stride loop reaches all
        using var x = acc.Allocate1D(Enumerable.Range(0, n).Select(i => 1f + i).ToArray());
        using var y = acc.Allocate1D<float>(n);
        var config = new KernelConfig(2, 64);
        var unary = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>(ElementwiseKernels.UnaryForwardKernel);
        var unaryBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>(ElementwiseKernels.UnaryBackwardKernel);
        var dense = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, BinaryOp>(ElementwiseKernels.BinaryDenseForwardKernel);
        var strided = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, int, BinaryOp>(ElementwiseKernels.BinaryForwardKernel);
        var layout = new StridedLayout { Rank = 1 };
        layout.Set(0, n, 1, 1);
        foreach (var (what, launch) in new (string, Action)[]
                 {
                     ("UnaryForwardKernel", () => unary(config, x.View, y.View, n, BadUnary, 0f, 0f)),
                     ("UnaryBackwardKernel", () => unaryBackward(config, x.View, x.View, x.View, y.View, n, BadUnary, 0f, 0f)),
                     ("BinaryDenseForwardKernel", () => dense(config, x.View, x.View, y.View, n, BadBinary)),
                     ("BinaryForwardKernel", () => strided(config, x.View, x.View, y.View, layout, n, BadBinary)),
                 })
        {
            y.MemSetToZero();
            launch();
            acc.Synchronize();
            var got = y.GetAsArray1D();
            Assert.True(got.All(float.IsNaN), $"{what}: {got.Count(v => !float.IsNaN(v))} of {n} elements not NaN");
        }
    }
}
