// The CPU max-pool's vector paths (CpuBackend.MaxPool.cs) on every CPU path against PyTorch's
// sequential window scan written here: values and indices must be identical, including NaN windows
// (a later NaN wins), ties (the first in row-major window order wins, also across columns of
// different rows), -inf inputs beside padding (padding never wins), row lengths that are not a
// multiple of the vector widths, shorter than a vector, and strides 1, 2 and 3.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using Xunit;

namespace NativeCnn.Tests.Backends;

public class CpuMaxPoolPathTests
{
    private static readonly CpuBackend B = CpuBackend.Instance;

    public static TheoryData<string> Paths() => CpuPathTests.Paths();

    /// <summary>PyTorch's scan: row-major over the window's in-bounds elements, take when v &gt; best or v is NaN.</summary>
    private static (float[] Y, int[] I) Reference(float[] x, PoolGeometry g)
    {
        var y = new float[g.N * g.C * g.P * g.Q];
        var ix = new int[y.Length];
        for (int pl = 0; pl < g.N * g.C; pl++)
            for (int p = 0; p < g.P; p++)
                for (int q = 0; q < g.Q; q++)
                {
                    int hs = Math.Max(p * g.StrideH - g.PadH, 0), he = Math.Min(p * g.StrideH - g.PadH + g.R, g.H);
                    int ws = Math.Max(q * g.StrideW - g.PadW, 0), we = Math.Min(q * g.StrideW - g.PadW + g.S, g.W);
                    float best = float.NegativeInfinity;
                    int arg = hs * g.W + ws;
                    for (int h = hs; h < he; h++)
                        for (int w = ws; w < we; w++)
                        {
                            float v = x[pl * g.H * g.W + h * g.W + w];
                            if (v > best || float.IsNaN(v)) { best = v; arg = h * g.W + w; }
                        }
                    y[(pl * g.P + p) * g.Q + q] = best;
                    ix[(pl * g.P + p) * g.Q + q] = arg;
                }
        return (y, ix);
    }

    /// <summary>Small integers (many exact ties, both zeros) with NaN, +inf and -inf sprinkled in.</summary>
    private static float[] Values(int n, int seed, double special)
    {
        var r = new Random(seed);
        float[] odd = { float.NaN, float.NegativeInfinity, float.PositiveInfinity, -0f };
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.NextDouble() < special ? odd[r.Next(odd.Length)] : r.Next(-3, 3);
        return v;
    }

    private static void Check(float[] x, PoolGeometry g, string what)
    {
        var (ey, ei) = Reference(x, g);
        var xs = B.FromHost(x);
        var ys = B.FromHost(new float[ey.Length]);
        var ids = B.FromHost(Enumerable.Repeat(-7, ey.Length).ToArray());
        B.MaxPool2dForward(xs, ys, ids, g);
        var y = new float[ey.Length];
        var ix = new int[ey.Length];
        B.ToHost(ys, 0, y);
        B.ToHost(ids, 0, ix);
        for (int k = 0; k < ey.Length; k++)
        {
            bool same = BitConverter.SingleToInt32Bits(ey[k]) == BitConverter.SingleToInt32Bits(y[k]) || (float.IsNaN(ey[k]) && float.IsNaN(y[k]));
            if (!same || ei[k] != ix[k])
                throw new Xunit.Sdk.XunitException($"{what}: output {k} is ({y[k]}, {ix[k]}), expected ({ey[k]}, {ei[k]})");
        }
    }

    private static PoolGeometry Geometry(int n, int c, int h, int w, int k, int s, int pad) =>
        new(n, c, h, w, (h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1, k, k, s, s, pad, pad, false);

    // (H, W, kernel, stride, pad): the resnet stem's 3x3/2/1 on rows longer and shorter than 8 and 16
    // lanes, with odd widths (tails), stride 1 (shifted loads), stride 3 (scalar horizontal pass),
    // even kernels, a kernel as wide as the input, and 1-pixel planes
    private static readonly (int H, int W, int K, int S, int P)[] Shapes =
    {
        (64, 64, 3, 2, 1), (28, 28, 3, 2, 1), (9, 37, 3, 2, 1), (7, 5, 3, 2, 1), (6, 17, 2, 2, 0), (5, 40, 3, 1, 1),
        (4, 9, 2, 1, 0), (11, 50, 3, 3, 1), (8, 33, 5, 2, 2), (3, 3, 3, 1, 0), (1, 1, 3, 2, 1), (2, 70, 1, 2, 0),
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void MaxPoolForwardMatchesTheScanOnEveryPath(string path) => CpuPathTests.OnPath(path, () =>
    {
        int seed = 0;
        foreach (var (h, w, k, s, p) in Shapes)
            foreach (double special in new[] { 0.0, 0.05, 0.5 })
                Check(Values(2 * 3 * h * w, ++seed, special), Geometry(2, 3, h, w, k, s, p), $"{path} {h}x{w} k{k} s{s} p{p} special {special}");
        // enough 64x64 planes for several parallel chunks (each with its own row buffers)
        Check(Values(4 * 4 * 64 * 64, ++seed, 0.01), Geometry(4, 4, 64, 64, 3, 2, 1), $"{path} 16 planes, parallel chunks");
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void MaxPoolEdgeCasesOnEveryPath(string path) => CpuPathTests.OnPath(path, () =>
    {
        // 4 rows x 40 columns, 3x3 windows, stride 2, pad 1: the 16- and 8-lane bodies and a tail
        var g = Geometry(1, 1, 4, 40, 3, 2, 1);
        float[] Plane(Func<int, int, float> f) { var v = new float[4 * 40]; for (int h = 0; h < 4; h++) for (int w = 0; w < 40; w++) v[h * 40 + w] = f(h, w); return v; }

        // all -inf: the first in-bounds element wins each window, never padding (index stays in the plane)
        Check(Plane((_, _) => float.NegativeInfinity), g, $"{path} all -inf");
        // a tie across rows and columns: row 0 column w+1 and row 1 column w - 1 hold the same max,
        // the row-major first (row 0) must win although its column comes later
        Check(Plane((h, w) => h == 0 && w % 4 == 3 ? 9 : h == 1 && w % 4 == 1 ? 9 : 0), g, $"{path} cross-row tie");
        // equal everywhere: the first element of each window
        Check(Plane((_, _) => 2.5f), g, $"{path} all equal");
        // two NaNs in one window (different rows and columns): the later one's index, and NaN beats +inf
        Check(Plane((h, w) => (h, w) is (1, 6) or (2, 5) ? float.NaN : w == 7 ? float.PositiveInfinity : h), g, $"{path} two NaNs");
        // +0 and -0 tie: the first wins, its sign kept
        Check(Plane((h, w) => (h + w) % 2 == 0 ? -0f : 0f), g, $"{path} signed zeros");
    });
}
