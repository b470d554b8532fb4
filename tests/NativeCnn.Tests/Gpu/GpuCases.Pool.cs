// GPU pooling against float64 references written here with PyTorch's rules: max (padding never
// wins, first of equal values, NaN wins), average with and without counting padding, adaptive
// average and max over overlapping windows, and every backward (overlapping windows add up; the
// adaptive max backward goes through MaxPool2dBackward with no window, as Ops does).
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    private static PoolGeometry Pool(int n, int c, int h, int w, int k, int stride, int pad, bool countPad = true) =>
        new(n, c, h, w, (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1, k, k, stride, stride, pad, pad, countPad);

    public static void Pool_MaxForwardBackward(GpuBackend gpu)
    {
        foreach (var g in new[] { Pool(2, 2, 7, 6, 3, 2, 1), Pool(1, 3, 4, 4, 2, 2, 0), Pool(1, 2, 5, 4, 3, 1, 1) })
        {
            int xl = g.N * g.C * g.H * g.W, yl = g.N * g.C * g.P * g.Q;
            // values on a coarse grid: many ties
            var x = G.Rand(21, xl).Select(v => MathF.Round(v * 3f)).ToArray();
            x[5] = float.NaN;
            var gy = G.Rand(22, yl);
            var (ey, ei) = MaxRef(x, g.N * g.C, g.H, g.W, g.P, g.Q, (p, len) => p * g.StrideH - g.PadH, (p, len) => p * g.StrideH - g.PadH + g.R,
                                  (q, len) => q * g.StrideW - g.PadW, (q, len) => q * g.StrideW - g.PadW + g.S);
            var sx = G.Up(gpu, x);
            var sy = G.Out(gpu, yl); var si = G.Out(gpu, yl, DType.Int32);
            gpu.MaxPool2dForward(sx, sy, si, g);
            G.Same(ey, G.Down(gpu, sy), $"max pool {g}");
            Assert.Equal(ei, G.DownInt(gpu, si));
            var sgx = G.Out(gpu, xl);
            gpu.MaxPool2dBackward(G.Up(gpu, gy), si, sgx, g);
            G.Close(ScatterRef(gy, ei, g.N * g.C, g.H * g.W, g.P * g.Q), G.Down(gpu, sgx), 1e-6, $"max pool backward {g}");
        }
    }

    public static void Pool_AverageForwardBackward(GpuBackend gpu)
    {
        foreach (var g in new[] { Pool(2, 2, 7, 6, 3, 2, 1, true), Pool(2, 2, 7, 6, 3, 2, 1, false), Pool(1, 1, 5, 5, 2, 1, 0) })
        {
            int xl = g.N * g.C * g.H * g.W, yl = g.N * g.C * g.P * g.Q, hw = g.H * g.W, pq = g.P * g.Q;
            var x = G.Rand(23, xl); var gy = G.Rand(24, yl);
            var y = new double[yl]; var gx = new double[xl];
            for (int plane = 0; plane < g.N * g.C; plane++)
            for (int p = 0; p < g.P; p++)
            for (int q = 0; q < g.Q; q++)
            {
                int h0 = p * g.StrideH - g.PadH, w0 = q * g.StrideW - g.PadW;
                int h1 = Math.Min(h0 + g.R, g.H + g.PadH), w1 = Math.Min(w0 + g.S, g.W + g.PadW);
                int padded = (h1 - h0) * (w1 - w0);
                int hs = Math.Max(h0, 0), ws = Math.Max(w0, 0), he = Math.Min(h1, g.H), we = Math.Min(w1, g.W);
                double div = g.CountIncludePad ? padded : (he - hs) * (we - ws);
                int yi = plane * pq + p * g.Q + q;
                for (int h = hs; h < he; h++)
                for (int w = ws; w < we; w++)
                {
                    y[yi] += x[plane * hw + h * g.W + w] / div;
                    gx[plane * hw + h * g.W + w] += gy[yi] / div;
                }
            }
            var sy = G.Out(gpu, yl); var sgx = G.Out(gpu, xl);
            gpu.AvgPool2dForward(G.Up(gpu, x), sy, g);
            gpu.AvgPool2dBackward(G.Up(gpu, gy), sgx, g);
            G.Close(y, G.Down(gpu, sy), 1e-6, $"avg pool {g}");
            G.Close(gx, G.Down(gpu, sgx), 1e-6, $"avg pool backward {g}");
        }
    }

    public static void Pool_AdaptiveAverageAndMax(GpuBackend gpu)
    {
        foreach (var (n, c, h, w, p, q) in new[] { (2, 2, 7, 5, 3, 2), (1, 3, 4, 6, 1, 1), (1, 1, 3, 3, 5, 4) })
        {
            int xl = n * c * h * w, yl = n * c * p * q, hw = h * w, pq = p * q;
            var x = G.Rand(25, xl).Select(v => MathF.Round(v * 4f) / 4f).ToArray();
            var gy = G.Rand(26, yl);
            int S(int i, int len, int outs) => (int)((long)i * len / outs);
            int E(int i, int len, int outs) => (int)(((long)(i + 1) * len + outs - 1) / outs);
            var y = new double[yl]; var gx = new double[xl];
            for (int plane = 0; plane < n * c; plane++)
            for (int i = 0; i < p; i++)
            for (int j = 0; j < q; j++)
            {
                int hs = S(i, h, p), he = E(i, h, p), ws = S(j, w, q), we = E(j, w, q);
                double count = (he - hs) * (we - ws);
                for (int a = hs; a < he; a++)
                for (int b = ws; b < we; b++)
                {
                    y[plane * pq + i * q + j] += x[plane * hw + a * w + b] / count;
                    gx[plane * hw + a * w + b] += gy[plane * pq + i * q + j] / count;
                }
            }
            string what = $"adaptive ({n},{c},{h},{w}) -> ({p},{q})";
            var sx = G.Up(gpu, x); var sgy = G.Up(gpu, gy);
            var sy = G.Out(gpu, yl); var sgx = G.Out(gpu, xl);
            gpu.AdaptiveAvgPool2dForward(sx, sy, n, c, h, w, p, q);
            gpu.AdaptiveAvgPool2dBackward(sgy, sgx, n, c, h, w, p, q);
            G.Close(y, G.Down(gpu, sy), 1e-6, what + " avg");
            G.Close(gx, G.Down(gpu, sgx), 1e-6, what + " avg backward");

            var (my, mi) = MaxRef(x, n * c, h, w, p, q, (i, len) => S(i, len, p), (i, len) => E(i, len, p), (j, len) => S(j, len, q), (j, len) => E(j, len, q));
            var smy = G.Out(gpu, yl); var smi = G.Out(gpu, yl, DType.Int32);
            gpu.AdaptiveMaxPool2dForward(sx, smy, smi, n, c, h, w, p, q);
            G.Same(my, G.Down(gpu, smy), what + " max");
            Assert.Equal(mi, G.DownInt(gpu, smi));
            var smgx = G.Out(gpu, xl);
            gpu.MaxPool2dBackward(sgy, smi, smgx, new PoolGeometry(n, c, h, w, p, q, 0, 0, 1, 1, 0, 0, true));
            G.Close(ScatterRef(gy, mi, n * c, hw, pq), G.Down(gpu, smgx), 1e-6, what + " max backward");
        }
    }

    /// <summary>Max over windows [h0, h1) x [w0, w1) clipped to the plane, PyTorch's rule.</summary>
    private static (float[] Values, int[] Indices) MaxRef(float[] x, int planes, int H, int W, int P, int Q,
        Func<int, int, int> h0, Func<int, int, int> h1, Func<int, int, int> w0, Func<int, int, int> w1)
    {
        var y = new float[planes * P * Q]; var idx = new int[y.Length];
        for (int plane = 0; plane < planes; plane++)
        for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q++)
        {
            int hs = Math.Max(h0(p, H), 0), he = Math.Min(h1(p, H), H), ws = Math.Max(w0(q, W), 0), we = Math.Min(w1(q, W), W);
            float best = float.NegativeInfinity; int arg = hs * W + ws;
            for (int h = hs; h < he; h++)
            for (int w = ws; w < we; w++)
            {
                float v = x[plane * H * W + h * W + w];
                if (v > best || float.IsNaN(v)) { best = v; arg = h * W + w; }
            }
            y[(plane * P + p) * Q + q] = best; idx[(plane * P + p) * Q + q] = arg;
        }
        return (y, idx);
    }

    private static double[] ScatterRef(float[] gy, int[] idx, int planes, int hw, int pq)
    {
        var gx = new double[planes * hw];
        for (int plane = 0; plane < planes; plane++)
            for (int j = 0; j < pq; j++) gx[plane * hw + idx[plane * pq + j]] += gy[plane * pq + j];
        return gx;
    }
}
