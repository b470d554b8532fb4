// The CPU's fused batch norm (BatchNormActForwardTraining / BatchNormActBackward in float32, whose
// residual add, ReLU and ReLU mask ride inside the batch norm's own passes) against the plain batch
// norm composed with those steps written here, bitwise, on every CPU path, on rows with a vector
// body and a tail (hw 35), whole vectors (64), and single elements (1).
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using Xunit;

namespace NativeCnn.Tests.Backends;

public class CpuBatchNormActPathTests
{
    private static readonly CpuBackend B = CpuBackend.Instance;

    public static TheoryData<string> Paths() => CpuPathTests.Paths();

    private static float[] Rand(int n, int seed, float offset = 0f)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) + offset).ToArray();
    }

    private static float[] Host(Storage s, int n) { var v = new float[n]; B.ToHost(s, 0, v); return v; }

    private static void Same(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]}, composed {expected[i]} (bitwise)");
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void FusedBatchNormEqualsComposedOnEveryPath(string path) => CpuPathTests.OnPath(path, () =>
    {
        int seed = 0;
        foreach (int hw in new[] { 35, 64, 1 })
            foreach (var (residual, relu) in new[] { (false, true), (true, true), (true, false), (false, false) })
            {
                int n = 3, c = 4, total = n * c * hw;
                string what = $"{path} hw {hw} residual={residual} relu={relu}";
                var x = Rand(total, ++seed, 5f);   // an offset: the mean's hi/lo split matters
                var r = Rand(total, ++seed);
                var gy = Rand(total, ++seed);
                var gamma = B.FromHost(Rand(c, ++seed));
                var beta = B.FromHost(Rand(c, ++seed));

                // fused
                Storage yF = B.FromHost(new float[total]), meanF = B.FromHost(new float[c]), invF = B.FromHost(new float[c]);
                Storage rmF = B.FromHost(new float[c]), rvF = B.FromHost(Enumerable.Repeat(1f, c).ToArray());
                B.BatchNormActForwardTraining(B.FromHost(x), residual ? B.FromHost(r) : null, gamma, beta, yF, meanF, invF, rmF, rvF, n, c, hw, 0.1f, 1e-5f, relu);
                Storage gxF = B.FromHost(new float[total]), grF = B.FromHost(new float[total]), ggF = B.FromHost(new float[c]), gbF = B.FromHost(new float[c]);
                B.BatchNormActBackward(B.FromHost(x), yF, B.FromHost(gy), gamma, meanF, invF, gxF, residual ? grF : null, ggF, gbF, n, c, hw, relu);

                // composed: batch norm, then the residual add and ReLU here; the mask here, then its backward
                Storage z = B.FromHost(new float[total]), mean = B.FromHost(new float[c]), inv = B.FromHost(new float[c]);
                Storage rm = B.FromHost(new float[c]), rv = B.FromHost(Enumerable.Repeat(1f, c).ToArray());
                B.BatchNormForwardTraining(B.FromHost(x), gamma, beta, z, mean, inv, rm, rv, n, c, hw, 0.1f, 1e-5f);
                var y = Host(z, total);
                for (int i = 0; i < total; i++)
                {
                    float v = residual ? y[i] + r[i] : y[i];
                    y[i] = relu && v <= 0 ? 0f : v;
                }
                var g = new float[total];
                for (int i = 0; i < total; i++) g[i] = relu ? (y[i] > 0 ? gy[i] : 0f) : gy[i];
                Storage gx = B.FromHost(new float[total]), gg = B.FromHost(new float[c]), gb = B.FromHost(new float[c]);
                B.BatchNormBackward(B.FromHost(x), B.FromHost(g), gamma, mean, inv, gx, gg, gb, n, c, hw);

                if (relu) Assert.Contains(0f, y);   // the ReLU clipped something
                Same(y, Host(yF, total), what + " y");
                Same(Host(mean, c), Host(meanF, c), what + " mean");
                Same(Host(inv, c), Host(invF, c), what + " inv std");
                Same(Host(rm, c), Host(rmF, c), what + " running mean");
                Same(Host(rv, c), Host(rvF, c), what + " running var");
                Same(Host(gx, total), Host(gxF, total), what + " x grad");
                if (residual) Same(g, Host(grF, total), what + " residual grad");
                Same(Host(gg, c), Host(ggF, c), what + " gamma grad");
                Same(Host(gb, c), Host(gbF, c), what + " beta grad");
            }
    });
}
