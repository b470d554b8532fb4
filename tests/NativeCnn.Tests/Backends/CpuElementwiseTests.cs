// The CPU backend's vectorised maps and reductions against plain scalar loops written here. Lengths
// are chosen to hit the Vector512/Vector256 bodies, the scalar tails and the multi-threaded chunks;
// vector and scalar forms perform the same IEEE operations, so maps must match bit for bit.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using Xunit;

namespace NativeCnn.Tests.Backends;

public class CpuElementwiseTests
{
    private static readonly CpuBackend B = CpuBackend.Instance;

    /// <summary>Random values with NaN, infinities, signed zeros and exact ties sprinkled in.</summary>
    private static float[] Values(int n, int seed, float scale = 3f)
    {
        var r = new Random(seed);
        var v = new float[n];
        float[] special = { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 0.5f, -0.5f, 1f };
        for (int i = 0; i < n; i++) v[i] = i % 13 == 5 ? special[i / 13 % special.Length] : (float)(r.NextDouble() * 2 - 1) * scale;
        return v;
    }

    private static float[] Host(Storage s, int n)
    {
        var v = new float[n];
        B.ToHost(s, 0, v);
        return v;
    }

    private static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i])
                && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }

    public static TheoryData<UnaryOp, int> UnaryCases()
    {
        var data = new TheoryData<UnaryOp, int>();
        foreach (var op in new[] { UnaryOp.Affine, UnaryOp.Relu, UnaryOp.Clamp, UnaryOp.Sqrt, UnaryOp.Exp, UnaryOp.Sigmoid })
            foreach (var n in new[] { 1, 15, 16, 37, 140_001 })
                data.Add(op, n);
        return data;
    }

    [Theory]
    [MemberData(nameof(UnaryCases))]
    public void UnaryMatchesScalarLoop(UnaryOp op, int n)
    {
        const float a = -0.25f, b = 0.75f;
        Func<float, float> f = op switch
        {
            UnaryOp.Affine => x => a * x + b,
            UnaryOp.Relu => x => float.IsNaN(x) ? x : x > 0 ? x : 0f,
            UnaryOp.Clamp => x => float.IsNaN(x) ? x : x < a ? a : x > b ? b : x,
            UnaryOp.Sqrt => MathF.Sqrt,
            UnaryOp.Exp => MathF.Exp,
            _ => x => 1f / (1f + MathF.Exp(-x)),
        };
        var x = Values(n, 1);
        var y = B.Allocate(DType.Float32, n);
        B.Unary(op, B.FromHost(x), y, n, a, b);
        AssertBitsEqual(x.Select(f).ToArray(), Host(y, n), op.ToString());
    }

    [Theory]
    [InlineData(UnaryOp.Affine)] [InlineData(UnaryOp.Exp)] [InlineData(UnaryOp.Log)] [InlineData(UnaryOp.Sqrt)]
    [InlineData(UnaryOp.Relu)] [InlineData(UnaryOp.Sigmoid)] [InlineData(UnaryOp.Tanh)] [InlineData(UnaryOp.Clamp)]
    public void UnaryBackwardMatchesScalarLoop(UnaryOp op)
    {
        const float a = -0.25f, b = 0.75f;
        foreach (int n in new[] { 7, 16, 45, 140_001 })
        {
            var x = Values(n, 2);
            var y = Values(n, 3);
            var g = Values(n, 4);
            Func<float, float, float, float> f = op switch
            {
                UnaryOp.Affine => (_, _, gi) => gi * a,
                UnaryOp.Exp => (_, yi, gi) => gi * yi,
                UnaryOp.Log => (xi, _, gi) => gi / xi,
                UnaryOp.Sqrt => (_, yi, gi) => gi * 0.5f / yi,
                UnaryOp.Relu => (xi, _, gi) => xi > 0 ? gi : 0f,
                UnaryOp.Sigmoid => (_, yi, gi) => gi * yi * (1 - yi),
                UnaryOp.Tanh => (_, yi, gi) => gi * (1 - yi * yi),
                _ => (xi, _, gi) => xi >= a && xi <= b ? gi : 0f,
            };
            var expected = new float[n];
            for (int i = 0; i < n; i++) expected[i] = f(x[i], y[i], g[i]);
            var gx = B.Allocate(DType.Float32, n);
            B.UnaryBackward(op, B.FromHost(x), B.FromHost(y), B.FromHost(g), gx, n, a, b);
            AssertBitsEqual(expected, Host(gx, n), $"{op} backward, n={n}");
        }
    }

    [Fact]
    public void ReluKeepsNaNAndZeroesNegativeZero()
    {
        // 16 copies reach the vector body, the 17th the scalar tail
        var x = Enumerable.Repeat(new[] { float.NaN, -0f, -1f, 2f }, 17).SelectMany(v => v).ToArray();
        var y = B.Allocate(DType.Float32, x.Length);
        B.Unary(UnaryOp.Relu, B.FromHost(x), y, x.Length, 0, 0);
        var v = Host(y, x.Length);
        for (int i = 0; i < v.Length; i += 4)
        {
            Assert.True(float.IsNaN(v[i]));
            Assert.Equal(0, BitConverter.SingleToInt32Bits(v[i + 1]));
            Assert.Equal(0f, v[i + 2]);
            Assert.Equal(2f, v[i + 3]);
        }
    }

    public static TheoryData<string> BinaryLayouts() => new() { "same", "offsets", "scalarB", "scalarA", "row", "column", "bias4d", "transposed", "rank0", "unitDims" };

    [Theory]
    [MemberData(nameof(BinaryLayouts))]
    public void BinaryMatchesIndexArithmetic(string layout)
    {
        // each layout: output shape, a's offset/strides/storage length, b's
        (int[] shape, int ao, int[] sa, int an, int bo, int[] sb, int bn) = layout switch
        {
            "same" => (new[] { 300, 531 }, 0, new[] { 531, 1 }, 300 * 531, 0, new[] { 531, 1 }, 300 * 531),
            "offsets" => (new[] { 5, 37 }, 3, new[] { 37, 1 }, 5 * 37 + 3, 11, new[] { 37, 1 }, 5 * 37 + 11),
            "scalarB" => (new[] { 9, 41 }, 0, new[] { 41, 1 }, 9 * 41, 2, new[] { 0, 0 }, 3),
            "scalarA" => (new[] { 1000, 150 }, 1, new[] { 0, 0 }, 2, 0, new[] { 150, 1 }, 150_000),
            "row" => (new[] { 33, 70 }, 0, new[] { 70, 1 }, 33 * 70, 0, new[] { 0, 1 }, 70),
            "column" => (new[] { 33, 70 }, 0, new[] { 70, 1 }, 33 * 70, 0, new[] { 1, 0 }, 33),
            "bias4d" => (new[] { 3, 5, 7, 9 }, 0, new[] { 315, 63, 9, 1 }, 945, 0, new[] { 0, 1, 0, 0 }, 5),
            "transposed" => (new[] { 17, 23 }, 0, new[] { 1, 17 }, 17 * 23, 0, new[] { 23, 1 }, 17 * 23),
            "rank0" => (Array.Empty<int>(), 1, Array.Empty<int>(), 2, 0, Array.Empty<int>(), 1),
            _ => (new[] { 1, 4, 1, 19 }, 0, new[] { 99, 19, 5, 1 }, 76, 0, new[] { 7, 0, 3, 1 }, 19),
        };
        int total = (int)Shape.Numel(shape);
        var av = Values(an, 5);
        var bv = Values(bn, 6, scale: 2f);
        foreach (var op in new[] { BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div })
        {
            Func<float, float, float> f = op switch { BinaryOp.Add => (p, q) => p + q, BinaryOp.Sub => (p, q) => p - q, BinaryOp.Mul => (p, q) => p * q, _ => (p, q) => p / q };
            var expected = new float[total];
            var idx = new int[shape.Length];
            for (int i = 0; i < total; i++)
            {
                int rem = i, pa = ao, pb = bo;
                for (int k = shape.Length - 1; k >= 0; k--)
                {
                    int j = rem % shape[k];
                    rem /= shape[k];
                    pa += j * sa[k];
                    pb += j * sb[k];
                }
                expected[i] = f(av[pa], bv[pb]);
            }
            var y = B.Allocate(DType.Float32, total);
            B.Binary(op, B.FromHost(av), ao, sa, B.FromHost(bv), bo, sb, y, shape);
            AssertBitsEqual(expected, Host(y, total), $"{op} {layout}");
        }
    }

    [Fact]
    public void BinaryOutputMayAliasLeftInput()
    {
        // gradient accumulation adds in place: y is a
        var a = Values(1000, 7);
        var b = Values(1000, 8);
        var sa = B.FromHost(a);
        B.Binary(BinaryOp.Add, sa, 0, new[] { 1 }, B.FromHost(b), 0, new[] { 1 }, sa, new[] { 1000 });
        AssertBitsEqual(a.Zip(b, (p, q) => p + q).ToArray(), Host(sa, 1000), "in-place add");
    }

    [Theory]
    [InlineData(3, 1, 1)] [InlineData(4, 31, 1)] [InlineData(2, 1000, 1)] [InlineData(1, 300_000, 1)] [InlineData(3, 0, 1)]
    [InlineData(3, 5, 2)] [InlineData(2, 9, 7)] [InlineData(3, 4, 255)] [InlineData(2, 3, 256)] [InlineData(2, 6, 600)] [InlineData(1, 2000, 70)]
    public void ReduceMatchesDoubleSum(int outer, int n, int inner)
    {
        var x = Values(outer * n * inner, 9).Select(v => float.IsFinite(v) ? v : 0.25f).ToArray();
        var xs = B.FromHost(x);
        foreach (var op in new[] { ReduceOp.Sum, ReduceOp.Mean })
        {
            var expected = new double[outer * inner];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    double s = 0;
                    for (int k = 0; k < n; k++) s += x[(o * n + k) * inner + i];
                    expected[o * inner + i] = op == ReduceOp.Mean ? s / n : s;
                }
            var y = B.Allocate(DType.Float32, outer * inner);
            B.Reduce(op, xs, y, outer, n, inner);
            var actual = Host(y, outer * inner);
            for (int j = 0; j < expected.Length; j++)
            {
                // both sums are in double: only the final rounding to float may differ
                if (double.IsNaN(expected[j])) { Assert.True(float.IsNaN(actual[j]), $"{op} element {j}"); continue; }
                Assert.True(Math.Abs(actual[j] - expected[j]) <= 1e-7 * (1 + Math.Abs(expected[j])),
                    $"{op} ({outer}, {n}, {inner}) element {j}: {actual[j]} vs {expected[j]}");
            }
        }
    }

    [Fact]
    public void ReduceOfLongSumIsExactToFloatPrecision()
    {
        // 1 + 2^-24 repeated: float accumulation would stall at 2^24, double does not
        int n = 1 << 20;
        var x = Enumerable.Repeat(1f, n).ToArray();
        x[0] = 1 << 24;
        var y = B.Allocate(DType.Float32, 1);
        B.Reduce(ReduceOp.Sum, B.FromHost(x), y, 1, n, 1);
        Assert.Equal((float)((1 << 24) + (n - 1.0)), Host(y, 1)[0]);
    }

    [Fact]
    public void CopiesMergeContiguousDimensionsAndMoveEveryElement()
    {
        // a dense copy above the parallel threshold (one run split over the cores), a copy of every
        // other row (the inner two dimensions merge, the outer stays strided), and a transposed one
        const int a = 5, b = 300, c = 130;
        var src = Values(a * b * c, 7);
        var s = B.FromHost(src);
        var whole = new float[a * b * c];
        var dst = B.FromHost(whole);
        B.Copy(s, 0, new[] { b * c, c, 1 }, dst, 0, new[] { b * c, c, 1 }, new[] { a, b, c });
        AssertBitsEqual(src, Host(dst, a * b * c), "dense copy");

        var rows = B.FromHost(new float[a * (b / 2) * c]);
        B.Copy(s, c, new[] { b * c, 2 * c, 1 }, rows, 0, new[] { (b / 2) * c, c, 1 }, new[] { a, b / 2, c });
        var expected = new float[a * (b / 2) * c];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b / 2; j++)
                for (int k = 0; k < c; k++) expected[(i * (b / 2) + j) * c + k] = src[i * b * c + (2 * j + 1) * c + k];
        AssertBitsEqual(expected, Host(rows, expected.Length), "every other row");

        var t = B.FromHost(new float[b * c]);
        B.Copy(s, 0, new[] { 1, c }, t, 0, new[] { b, 1 }, new[] { c, b });
        var transposed = new float[b * c];
        for (int k = 0; k < c; k++)
            for (int j = 0; j < b; j++) transposed[k * b + j] = src[j * c + k];
        AssertBitsEqual(transposed, Host(t, b * c), "transposed");
    }
}
