// GPU softmax / log-softmax and losses against float64: rows narrower and wider than a warp, more
// rows than warps in the launch, extreme logits, label smoothing, out-of-range labels (NaN, since a
// kernel cannot throw), in-place softmax, and every backward against central differences.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Loss_SoftmaxAndLogSoftmax(GpuBackend gpu)
    {
        foreach (var (rows, cols) in new[] { (7, 10), (3, 70), (2, 1) })
        foreach (bool log in new[] { false, true })
        {
            int len = rows * cols;
            var x = G.Rand(51, len, -4f, 4f);
            x[0] = 1000f; if (len > 2) x[len - 1] = -1000f;   // extreme logits stay finite
            var gy = G.Rand(52, len);
            double[] Ref(double[] v)
            {
                var y = new double[len];
                for (int r = 0; r < rows; r++)
                {
                    double max = v.Skip(r * cols).Take(cols).Max(), s = 0;
                    for (int c = 0; c < cols; c++) s += Math.Exp(v[r * cols + c] - max);
                    for (int c = 0; c < cols; c++)
                        y[r * cols + c] = log ? v[r * cols + c] - max - Math.Log(s) : Math.Exp(v[r * cols + c] - max) / s;
                }
                return y;
            }
            string what = $"{(log ? "log_softmax" : "softmax")} ({rows},{cols})";
            var xd = x.Select(v => (double)v).ToArray();
            var sx = G.Up(gpu, x); var sy = G.Out(gpu, len);
            gpu.Softmax(sx, sy, rows, cols, log);
            G.Close(Ref(xd), G.Down(gpu, sy), 1e-5, what);
            var sgx = G.Out(gpu, len);
            gpu.SoftmaxBackward(sy, G.Up(gpu, gy), sgx, rows, cols, log);
            G.Close(CentralDifferences(xd, v => Dot(Ref(v), gy)), G.Down(gpu, sgx), 1e-4, what + " backward");
            gpu.Softmax(sx, sx, rows, cols, log);   // in place
            G.Close(Ref(xd), G.Down(gpu, sx), 1e-5, what + " in place");
        }
    }

    public static void Loss_CrossEntropyWithSmoothing(GpuBackend gpu)
    {
        foreach (var (rows, classes) in new[] { (7, 10), (3, 40) })
        foreach (float eps in new[] { 0f, 0.1f })
        {
            var x = G.Rand(53, rows * classes, -3f, 3f);
            x[1] = 80f;
            var labels = Enumerable.Range(0, rows).Select(r => (r * 7 + 3) % classes).ToArray();
            var gl = G.Rand(54, rows);
            double[] Ref(double[] v)
            {
                var loss = new double[rows];
                for (int r = 0; r < rows; r++)
                {
                    double max = v.Skip(r * classes).Take(classes).Max(), s = 0;
                    for (int c = 0; c < classes; c++) s += Math.Exp(v[r * classes + c] - max);
                    double lse = max + Math.Log(s), mean = 0;
                    for (int c = 0; c < classes; c++) mean += (lse - v[r * classes + c]) / classes;
                    loss[r] = (1 - eps) * (lse - v[r * classes + labels[r]]) + eps * mean;
                }
                return loss;
            }
            string what = $"cross entropy ({rows},{classes}) eps={eps}";
            var xd = x.Select(v => (double)v).ToArray();
            var sx = G.Up(gpu, x); var sl = G.Up(gpu, labels);
            var sloss = G.Out(gpu, rows);
            gpu.CrossEntropyForward(sx, sl, sloss, rows, classes, eps);
            G.Close(Ref(xd), G.Down(gpu, sloss), 1e-5, what);
            var sgx = G.Out(gpu, rows * classes);
            gpu.CrossEntropyBackward(sx, sl, G.Up(gpu, gl), sgx, rows, classes, eps);
            G.Close(CentralDifferences(xd, v => Dot(Ref(v), gl)), G.Down(gpu, sgx), 1e-4, what + " backward");
        }
        // a label out of range gives NaN for its row only
        var bad = G.Up(gpu, new[] { 1, 10, -1 });
        var logits = G.Up(gpu, G.Rand(55, 30));
        var losses = G.Out(gpu, 3);
        gpu.CrossEntropyForward(logits, bad, losses, 3, 10, 0f);
        var l = G.Down(gpu, losses);
        Assert.True(float.IsFinite(l[0]) && float.IsNaN(l[1]) && float.IsNaN(l[2]), string.Join(", ", l));
        var g = G.Out(gpu, 30);
        gpu.CrossEntropyBackward(logits, bad, G.Up(gpu, new[] { 1f, 1f, 1f }), g, 3, 10, 0f);
        var gv = G.Down(gpu, g);
        Assert.All(gv.Take(10), v => Assert.True(float.IsFinite(v)));
        Assert.All(gv.Skip(10), v => Assert.True(float.IsNaN(v)));
    }

    public static void Loss_BinaryCrossEntropyWithLogits(GpuBackend gpu)
    {
        const int n = 77;
        var x = G.Rand(56, n, -6f, 6f);
        x[0] = 100f; x[1] = -100f; x[2] = 0f; x[3] = 1e-6f;
        var t = G.Rand(57, n, 0f, 1f);
        var gl = G.Rand(58, n);
        var loss = x.Select((v, i) => Math.Max(v, 0) - (double)v * t[i] + Math.Log(1 + Math.Exp(-Math.Abs((double)v)))).ToArray();
        var sx = G.Up(gpu, x); var st = G.Up(gpu, t); var sgl = G.Up(gpu, gl);
        var sloss = G.Out(gpu, n);
        gpu.BceWithLogitsForward(sx, st, sloss, n);
        G.Close(loss, G.Down(gpu, sloss), 1e-6, "bce");
        var sgx = G.Out(gpu, n); var sgt = G.Out(gpu, n);
        gpu.BceWithLogitsBackward(sx, st, sgl, sgx, sgt, n);
        G.Close(x.Select((v, i) => gl[i] * (1 / (1 + Math.Exp(-(double)v)) - t[i])).ToArray(), G.Down(gpu, sgx), 1e-6, "bce gx");
        G.Close(x.Select((v, i) => -(double)gl[i] * v).ToArray(), G.Down(gpu, sgt), 1e-6, "bce gt");
        var sgx2 = G.Out(gpu, n);
        gpu.BceWithLogitsBackward(sx, st, sgl, sgx2, null, n);
        G.Same(G.Down(gpu, sgx), G.Down(gpu, sgx2), "bce gx without gt");
    }

    private static double Dot(double[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Gradient of f at v by central differences (v is restored).</summary>
    private static double[] CentralDifferences(double[] v, Func<double[], double> f, double h = 1e-5)
    {
        var g = new double[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            double keep = v[i];
            v[i] = keep + h; double plus = f(v);
            v[i] = keep - h; double minus = f(v);
            v[i] = keep;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }
}
