// The same primitive calls on the CPU backend and on the GPU backend, same inputs, outputs compared:
// the cross-check for the families whose main GPU tests use float64 references (GEMM, conv,
// pooling, batch norm, softmax and losses, dropout and optimizer steps).
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    private static void CopyOut(IBackend b, Storage src, Storage dst, int n) =>
        b.Copy(src, 0, new[] { 1 }, dst, 0, new[] { 1 }, new[] { n });

    public static void AgreeWithCpu_GemmAndConv(GpuBackend gpu)
    {
        var a = G.Rand(71, 40 * 30); var bm = G.Rand(72, 30 * 50); var c = G.Rand(73, 40 * 50);
        foreach (var (ta, tb) in new[] { (false, false), (true, true) })
            Both.Agree(gpu, $"gemm ta={ta} tb={tb}", new[] { a, bm, c }, new[] { 40 * 50 }, (be, i, o) =>
            {
                CopyOut(be, i[2], o[0], 40 * 50);
                be.Gemm(ta, tb, 40, 50, 30, 0.5f, i[0], 0, ta ? 40 : 30, i[1], 0, tb ? 30 : 50, 0.25f, o[0], 0, 50);
            });

        var g = new ConvGeometry(2, 3, 6, 5, 4, 3, 3, 2, 1, 1, 1, 1, 1);
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.Crs, yl = g.N * g.K * g.P * g.Q;
        Both.Agree(gpu, $"conv {g}", new[] { G.Rand(74, xl), G.Rand(75, wl), G.Rand(76, g.K), G.Rand(77, yl) },
            new[] { yl, xl, wl, g.K }, (be, i, o) =>
            {
                be.Conv2dForward(i[0], i[1], i[2], o[0], g);
                be.Conv2dBackwardData(i[3], i[1], o[1], g);
                be.Conv2dBackwardWeight(i[0], i[3], o[2], o[3], g);
            });
    }

    public static void AgreeWithCpu_Pooling(GpuBackend gpu)
    {
        var g = Pool(2, 3, 7, 6, 3, 2, 1, countPad: false);
        int xl = g.N * g.C * g.H * g.W, yl = g.N * g.C * g.P * g.Q;
        var x = G.Rand(78, xl).Select(v => MathF.Round(v * 3f)).ToArray();
        var types = new[] { DType.Float32, DType.Int32, DType.Float32, DType.Float32, DType.Float32 };
        Both.Agree(gpu, $"pooling {g}", new[] { x, G.Rand(79, yl) }, new[] { yl, yl, xl, yl, xl }, (be, i, o) =>
        {
            be.MaxPool2dForward(i[0], o[0], o[1], g);
            be.MaxPool2dBackward(i[1], o[1], o[2], g);
            be.AvgPool2dForward(i[0], o[3], g);
            be.AvgPool2dBackward(i[1], o[4], g);
        }, tol: 1e-6, outputTypes: types);
        int p = 3, q = 2, al = g.N * g.C * p * q;
        Both.Agree(gpu, "adaptive pooling", new[] { x, G.Rand(80, al) }, new[] { al, xl, al, al, xl }, (be, i, o) =>
        {
            be.AdaptiveAvgPool2dForward(i[0], o[0], g.N, g.C, g.H, g.W, p, q);
            be.AdaptiveAvgPool2dBackward(i[1], o[1], g.N, g.C, g.H, g.W, p, q);
            be.AdaptiveMaxPool2dForward(i[0], o[2], o[3], g.N, g.C, g.H, g.W, p, q);
            be.MaxPool2dBackward(i[1], o[3], o[4], new PoolGeometry(g.N, g.C, g.H, g.W, p, q, 0, 0, 1, 1, 0, 0, true));
        }, tol: 1e-6, outputTypes: new[] { DType.Float32, DType.Float32, DType.Float32, DType.Int32, DType.Float32 });
    }

    public static void AgreeWithCpu_BatchNorm(GpuBackend gpu)
    {
        // the second shape's channels are long enough to be cut into segments (two on the simulator)
        Assert.True(GpuBackend.Segments(3, 4 * 2500, 1) > 1);
        foreach (var (n, c, hw) in new[] { (3, 4, 70), (4, 3, 2500) })
        {
            int len = n * c * hw;
            var x = G.Rand(81, len).Select(v => 5f + 2f * v).ToArray();
            Both.Agree(gpu, $"batch norm ({n},{c},{hw})", new[] { x, G.Rand(82, c, 0.5f, 1.5f), G.Rand(83, c), G.Rand(84, c), G.Rand(85, c, 0.5f, 2f), G.Rand(86, len) },
                new[] { len, c, c, c, c, len, len, c, c }, (be, i, o) =>
                {
                    // running stats are updated in place: copy them to outputs first
                    CopyOut(be, i[3], o[3], c);
                    CopyOut(be, i[4], o[4], c);
                    be.BatchNormForwardTraining(i[0], i[1], i[2], o[0], o[1], o[2], o[3], o[4], n, c, hw, 0.1f, 1e-5f);
                    be.BatchNormForwardInference(i[0], i[1], i[2], o[3], o[4], o[5], n, c, hw, 1e-5f);
                    be.BatchNormBackward(i[0], i[5], i[1], o[1], o[2], o[6], o[7], o[8], n, c, hw);
                }, tol: 2e-5);
        }
    }

    public static void AgreeWithCpu_SoftmaxAndLosses(GpuBackend gpu)
    {
        const int rows = 6, cols = 37;
        var x = G.Rand(87, rows * cols, -5f, 5f);
        var labels = Enumerable.Range(0, rows).Select(r => (float)(r * 5 % cols)).ToArray();
        Both.Agree(gpu, "softmax and losses", new[] { x, G.Rand(88, rows * cols), G.Rand(89, rows), labels, G.Rand(90, rows * cols, 0f, 1f) },
            new[] { rows * cols, rows * cols, rows * cols, rows * cols, rows, rows * cols, rows * cols, rows * cols, rows * cols }, (be, i, o) =>
            {
                var lab = be.Allocate(DType.Int32, rows);
                be.Cast(i[3], lab);
                be.Softmax(i[0], o[0], rows, cols, false);
                be.SoftmaxBackward(o[0], i[1], o[1], rows, cols, false);
                be.Softmax(i[0], o[2], rows, cols, true);
                be.SoftmaxBackward(o[2], i[1], o[3], rows, cols, true);
                be.CrossEntropyForward(i[0], lab, o[4], rows, cols, 0.1f);
                be.CrossEntropyBackward(i[0], lab, i[2], o[5], rows, cols, 0.1f);
                be.BceWithLogitsForward(i[0], i[4], o[6], rows * cols);
                be.BceWithLogitsBackward(i[0], i[4], i[1], o[7], o[8], rows * cols);
            }, tol: 2e-6);
    }

    public static void AgreeWithCpu_DropoutAndOptimizers(GpuBackend gpu)
    {
        const int n = 90;
        Both.Agree(gpu, "dropout and optimizer steps", new[] { G.Rand(91, n), G.Rand(92, n), G.Rand(93, n) },
            new[] { n, n, n, n, n, n, n }, (be, i, o) =>
            {
                be.DropoutForward(i[0], o[0], o[1], n, 0.25f, 99UL);
                CopyOut(be, i[0], o[2], n);
                be.Fill(o[3], 0f);
                be.SgdStep(o[2], i[1], o[3], n, 0.1f, 0.9f, 0.1f, 1e-3f, true, true);
                be.SgdStep(o[2], i[2], o[3], n, 0.1f, 0.9f, 0.1f, 1e-3f, true, false);
                CopyOut(be, i[0], o[4], n);
                be.Fill(o[5], 0f); be.Fill(o[6], 0f);
                be.AdamStep(o[4], i[1], o[5], o[6], n, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true, 1);
                be.AdamStep(o[4], i[2], o[5], o[6], n, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true, 2);
            }, tol: 1e-6);
    }
}
