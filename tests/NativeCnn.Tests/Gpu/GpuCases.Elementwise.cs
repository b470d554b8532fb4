// GPU elementwise maps and reductions against the CPU backend: every unary op forward and backward,
// binary ops dense, broadcast and offset, sum/mean/max over each axis position through both the
// thread-per-output and the group-per-output kernels, ties and NaN in arg-max.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Elementwise_UnaryForwardAndBackward(GpuBackend gpu)
    {
        const int n = 37;
        foreach (var op in Enum.GetValues<UnaryOp>())
        {
            bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Pow;
            var x = G.Rand(10 + (int)op, n, positive ? 0.2f : -2f, 2f);
            if (!positive) { x[0] = 0f; x[1] = -0.5f; x[2] = 0.7f; }   // relu at 0, clamp bounds
            if (op != UnaryOp.Clamp) x[3] = float.NaN;                   // NaN propagates (relu keeps it, as torch)
            float a = op switch { UnaryOp.Affine => 3f, UnaryOp.Pow => 2.5f, UnaryOp.Clamp => -0.5f, _ => 0f };
            float b = op switch { UnaryOp.Affine => -1f, UnaryOp.Clamp => 0.7f, _ => 0f };
            var gy = G.Rand(99, n);
            Both.Agree(gpu, $"unary {op}", new[] { x, gy }, new[] { n, n, n }, (be, i, o) =>
            {
                be.Unary(op, i[0], o[0], n, a, b);
                be.UnaryBackward(op, i[0], o[0], i[1], o[1], n, a, b);
                be.UnaryBackward(op, i[0], o[0], i[1], i[1], n, a, b);   // gx aliasing gy
                be.Copy(i[1], 0, new[] { 1 }, o[2], 0, new[] { 1 }, new[] { n });
            }, tol: 2e-6);
        }
        // in place: y aliases x
        Both.Agree(gpu, "unary in place", new[] { G.Rand(3, 20) }, new[] { 20 }, (be, i, o) =>
        {
            be.Unary(UnaryOp.Exp, i[0], i[0], 20, 0, 0);
            be.Copy(i[0], 0, new[] { 1 }, o[0], 0, new[] { 1 }, new[] { 20 });
        }, tol: 2e-6);
    }

    public static void Elementwise_BinaryDenseBroadcastAndOffset(GpuBackend gpu)
    {
        var a = G.Rand(4, 60, 0.5f, 2f);
        var b = G.Rand(5, 60, 0.5f, 2f);
        foreach (var op in Enum.GetValues<BinaryOp>())
        {
            // dense, same shape
            Both.Agree(gpu, $"{op} dense", new[] { a, b }, new[] { 60 }, (be, i, o) =>
                be.Binary(op, i[0], 0, new[] { 20, 5, 1 }, i[1], 0, new[] { 20, 5, 1 }, o[0], new[] { 3, 4, 5 }));
            // (3,4,5) op (1,4,1): the second operand broadcast with stride 0
            Both.Agree(gpu, $"{op} broadcast", new[] { a, b }, new[] { 60 }, (be, i, o) =>
                be.Binary(op, i[0], 0, new[] { 20, 5, 1 }, i[1], 3, new[] { 0, 1, 0 }, o[0], new[] { 3, 4, 5 }));
            // (3,1,5) op (1,4,1) -> (3,4,5), both broadcast; first operand at an offset
            Both.Agree(gpu, $"{op} outer broadcast", new[] { a, b }, new[] { 60 }, (be, i, o) =>
                be.Binary(op, i[0], 7, new[] { 5, 0, 1 }, i[1], 0, new[] { 0, 1, 0 }, o[0], new[] { 3, 4, 5 }));
            // a transposed view (4,3) of a dense (3,4), with a scalar
            Both.Agree(gpu, $"{op} transposed and scalar", new[] { a, b }, new[] { 12 }, (be, i, o) =>
                be.Binary(op, i[0], 2, new[] { 1, 4 }, i[1], 11, new[] { 0, 0 }, o[0], new[] { 4, 3 }));
            // dense operands at offsets (the flat kernel on sub-views)
            Both.Agree(gpu, $"{op} dense offsets", new[] { a, b }, new[] { 25 }, (be, i, o) =>
                be.Binary(op, i[0], 5, new[] { 1 }, i[1], 30, new[] { 1 }, o[0], new[] { 25 }));
        }
        // nine dimensions that cannot merge (one operand's axes reversed): the walk splits into host slices
        int[] shape9 = Enumerable.Repeat(2, 9).ToArray();
        int[] rev = Enumerable.Range(0, 9).Select(d => 1 << d).ToArray();
        int[] dense = Enumerable.Range(0, 9).Select(d => 1 << (8 - d)).ToArray();
        var a9 = G.Rand(6, 512); var b9 = G.Rand(7, 512);
        Both.Agree(gpu, "add over nine dimensions", new[] { a9, b9 }, new[] { 512 }, (be, i, o) =>
            be.Binary(BinaryOp.Add, i[0], 0, rev, i[1], 0, dense, o[0], shape9));
        // rank 0
        Both.Agree(gpu, "scalar op scalar", new[] { a, b }, new[] { 1 }, (be, i, o) =>
            be.Binary(BinaryOp.Mul, i[0], 1, Array.Empty<int>(), i[1], 2, Array.Empty<int>(), o[0], Array.Empty<int>()));
    }

    public static void Reduce_SumAndMeanBothKernels(GpuBackend gpu)
    {
        // (outer, n, inner): short rows take one thread per output, long rows one group per output, and
        // a few outputs over very long rows segments of their own (uneven last segment; inner > 1)
        Assert.Equal(1, GpuBackend.Segments(4, 2 * GpuBackend.MinSegment - 1, 132));
        Assert.Equal(2, GpuBackend.Segments(4, 2 * GpuBackend.MinSegment, 132));
        Assert.Equal(264, GpuBackend.Segments(4, 1 << 26, 132));
        Assert.Equal(1, GpuBackend.Segments(2048, 1 << 20, 132));
        foreach (var (outer, n, inner) in new[] { (2, 5, 3), (1, 7, 1), (4, 1, 6), (1, 300, 1), (3, 200, 2), (2, 1000, 1),
                                                  (1, 5 * GpuBackend.MinSegment + 3, 1), (2, 2 * GpuBackend.MinSegment + 1, 3) })
        {
            var x = G.Rand(outer * 31 + n, outer * n * inner);
            foreach (var op in new[] { ReduceOp.Sum, ReduceOp.Mean })
                Both.Agree(gpu, $"{op} ({outer},{n},{inner})", new[] { x }, new[] { outer * inner },
                    (be, i, o) => be.Reduce(op, i[0], o[0], outer, n, inner), tol: 1e-5);
        }
    }

    public static void Reduce_MaxTiesNaNAndBackward(GpuBackend gpu)
    {
        foreach (var (outer, n, inner) in new[] { (2, 5, 3), (1, 300, 1), (2, 150, 2) })
        {
            int total = outer * n * inner;
            // few distinct values: many ties; the first index must win
            var x = G.Rand(total, total).Select(v => MathF.Round(v * 2f)).ToArray();
            var gy = G.Rand(7, outer * inner);
            var (cpu, g) = Both.Run(gpu, new[] { x, gy }, new[] { outer * inner, outer * inner, total }, (be, i, o) =>
            {
                be.ReduceMax(i[0], o[0], o[1], outer, n, inner);
                be.ReduceMaxBackward(i[1], o[1], o[2], outer, n, inner);
            }, new[] { DType.Float32, DType.Int32, DType.Float32 });
            G.Same(cpu[0], g[0], $"max values ({outer},{n},{inner})");
            G.Same(cpu[1], g[1], $"max indices ({outer},{n},{inner})");
            G.Same(cpu[2], g[2], $"max backward ({outer},{n},{inner})");

            // NaN wins (its first occurrence), in row 0
            var xn = (float[])x.Clone();
            xn[2 * inner] = float.NaN;
            xn[(n - 1) * inner] = float.NaN;
            var (cn, gn) = Both.Run(gpu, new[] { xn }, new[] { outer * inner, outer * inner }, (be, i, o) =>
                be.ReduceMax(i[0], o[0], o[1], outer, n, inner), new[] { DType.Float32, DType.Int32 });
            Assert.Equal(2f, gn[1][0]);
            G.Same(cn[1], gn[1], $"max indices with NaN ({outer},{n},{inner})");
        }
    }
}
