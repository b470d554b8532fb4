// GPU batch norm against float64: training statistics (data far from zero, so a one-pass variance
// would fail), running-statistic updates with the unbiased variance, inference, optional gamma /
// beta / running stats, and the backward pass checked against central differences of the float64
// forward. Channels outnumber the simulator's groups and a channel outnumbers a group's threads.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void BatchNorm_TrainingInferenceAndRunningStats(GpuBackend gpu)
    {
        foreach (var (n, c, hw) in new[] { (3, 4, 5), (2, 3, 300), (4, 3, 2500) })   // the last in segments (as in AgreeWithCpu_BatchNorm)
        {
            int len = n * c * hw;
            var x = G.Rand(31, len).Select((v, i) => 100f + v + 0.5f * ((i / hw) % c)).ToArray();
            var gamma = G.Rand(32, c, 0.5f, 1.5f); var beta = G.Rand(33, c);
            var rm = G.Rand(34, c); var rv = G.Rand(35, c, 0.5f, 2f);
            const float momentum = 0.1f, eps = 1e-5f;
            var (mean, var, y) = BnRef(x, gamma, beta, n, c, hw, eps);
            int count = n * hw;
            var erm = rm.Select((v, ch) => momentum * mean[ch] + (1 - momentum) * (double)v).ToArray();
            var erv = rv.Select((v, ch) => momentum * var[ch] * count / (count - 1) + (1 - momentum) * (double)v).ToArray();

            string what = $"batch norm ({n},{c},{hw})";
            var sx = G.Up(gpu, x); var sg = G.Up(gpu, gamma); var sb = G.Up(gpu, beta);
            var srm = G.Up(gpu, rm); var srv = G.Up(gpu, rv);
            var sy = G.Out(gpu, len); var smean = G.Out(gpu, c); var sinv = G.Out(gpu, c);
            gpu.BatchNormForwardTraining(sx, sg, sb, sy, smean, sinv, srm, srv, n, c, hw, momentum, eps);
            G.Close(y, G.Down(gpu, sy), 1e-4, what + " y");
            G.Close(mean, G.Down(gpu, smean), 1e-6, what + " mean");
            G.Close(var.Select(v => 1 / Math.Sqrt(v + eps)).ToArray(), G.Down(gpu, sinv), 1e-4, what + " inv std");
            G.Close(erm, G.Down(gpu, srm), 1e-6, what + " running mean");
            G.Close(erv, G.Down(gpu, srv), 1e-4, what + " running var");

            // no affine parameters, no running statistics
            var (_, _, y0) = BnRef(x, null, null, n, c, hw, eps);
            var sy0 = G.Out(gpu, len);
            gpu.BatchNormForwardTraining(sx, null, null, sy0, G.Out(gpu, c), G.Out(gpu, c), null, null, n, c, hw, momentum, eps);
            G.Close(y0, G.Down(gpu, sy0), 1e-4, what + " y without gamma/beta");

            // inference with the (updated) running statistics
            var runMean = G.Down(gpu, srm); var runVar = G.Down(gpu, srv);
            var yi = new double[len];
            for (int e = 0; e < len; e++)
            {
                int ch = e / hw % c;
                yi[e] = (x[e] - (double)runMean[ch]) / Math.Sqrt(runVar[ch] + (double)eps) * gamma[ch] + beta[ch];
            }
            var syi = G.Out(gpu, len);
            gpu.BatchNormForwardInference(sx, sg, sb, srm, srv, syi, n, c, hw, eps);
            G.Close(yi, G.Down(gpu, syi), 1e-5, what + " inference");
        }
    }

    public static void BatchNorm_BackwardMatchesCentralDifferences(GpuBackend gpu)
    {
        foreach (var (n, c, hw) in new[] { (2, 3, 4), (2, 2, 150) })
        {
            int len = n * c * hw;
            var x = G.Rand(41, len, -2f, 3f); var gamma = G.Rand(42, c, 0.5f, 1.5f); var beta = G.Rand(43, c); var gy = G.Rand(44, len);
            const float eps = 1e-5f;
            double Loss(double[] xs, double[] gs, double[] bs)
            {
                var (_, _, yy) = BnRef(xs, gs, bs, n, c, hw, eps);
                double s = 0;
                for (int e = 0; e < len; e++) s += yy[e] * gy[e];
                return s;
            }
            double[] Numeric(double[] v, Func<double[], double> f)
            {
                var g = new double[v.Length];
                for (int i = 0; i < v.Length; i++)
                {
                    double keep = v[i];
                    v[i] = keep + 1e-5; double plus = f(v);
                    v[i] = keep - 1e-5; double minus = f(v);
                    v[i] = keep;
                    g[i] = (plus - minus) / 2e-5;
                }
                return g;
            }
            double[] xd = x.Select(v => (double)v).ToArray(), gd = gamma.Select(v => (double)v).ToArray(), bd = beta.Select(v => (double)v).ToArray();
            // central differences are O(len) forwards each: check every element of the small case, a sample of the big one
            var gxRef = len <= 100 ? Numeric(xd, v => Loss(v, gd, bd)) : null;
            var ggRef = Numeric(gd, v => Loss(xd, v, bd));
            var gbRef = Numeric(bd, v => Loss(xd, gd, v));

            string what = $"batch norm backward ({n},{c},{hw})";
            var sx = G.Up(gpu, x); var sg = G.Up(gpu, gamma); var sgy = G.Up(gpu, gy);
            var smean = G.Out(gpu, c); var sinv = G.Out(gpu, c);
            gpu.BatchNormForwardTraining(sx, sg, G.Up(gpu, beta), G.Out(gpu, len), smean, sinv, null, null, n, c, hw, 0.1f, eps);
            var sgx = G.Out(gpu, len); var sgg = G.Out(gpu, c); var sgb = G.Out(gpu, c);
            gpu.BatchNormBackward(sx, sgy, sg, smean, sinv, sgx, sgg, sgb, n, c, hw);
            var gx = G.Down(gpu, sgx);
            if (gxRef is not null) G.Close(gxRef, gx, 1e-4, what + " gx");
            else
            {
                // the input gradient of each channel sums to zero (mean subtraction) and is gamma*invStd*gy when gy is constant
                for (int ch = 0; ch < c; ch++)
                {
                    double s = 0;
                    for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) s += gx[(i * c + ch) * hw + j];
                    Assert.InRange(s, -1e-3, 1e-3);
                }
            }
            G.Close(ggRef, G.Down(gpu, sgg), 1e-4, what + " ggamma");
            G.Close(gbRef, G.Down(gpu, sgb), 1e-4, what + " gbeta");

            // only gx, no gamma
            var gxNoGamma = Numeric((double[])xd.Clone(), v => Loss(v, Enumerable.Repeat(1.0, c).ToArray(), bd));
            var sgx2 = G.Out(gpu, len);
            gpu.BatchNormBackward(sx, sgy, null, smean, sinv, sgx2, null, null, n, c, hw);
            if (len <= 100) G.Close(gxNoGamma, G.Down(gpu, sgx2), 1e-4, what + " gx without gamma");
        }
    }

    /// <summary>float64 training-mode batch norm: per-channel mean, biased variance, output.</summary>
    private static (double[] Mean, double[] Var, double[] Y) BnRef(IReadOnlyList<double> x, IReadOnlyList<double>? gamma, IReadOnlyList<double>? beta,
                                                                  int n, int c, int hw, double eps)
    {
        var mean = new double[c]; var var = new double[c]; var y = new double[x.Count];
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) s += x[(i * c + ch) * hw + j];
            mean[ch] = s / (n * hw);
            for (int i = 0; i < n; i++) for (int j = 0; j < hw; j++) { double d = x[(i * c + ch) * hw + j] - mean[ch]; s2 += d * d; }
            var[ch] = s2 / (n * hw);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < hw; j++)
                {
                    int e = (i * c + ch) * hw + j;
                    y[e] = (x[e] - mean[ch]) / Math.Sqrt(var[ch] + eps) * (gamma?[ch] ?? 1) + (beta?[ch] ?? 0);
                }
        }
        return (mean, var, y);
    }

    private static (double[] Mean, double[] Var, double[] Y) BnRef(float[] x, float[]? gamma, float[]? beta, int n, int c, int hw, double eps) =>
        BnRef(x.Select(v => (double)v).ToArray(), gamma?.Select(v => (double)v).ToArray(), beta?.Select(v => (double)v).ToArray(), n, c, hw, eps);
}
