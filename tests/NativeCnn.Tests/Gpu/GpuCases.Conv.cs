// GPU conv2d (forward, backward-data, backward-weight, bias) against a float64 direct convolution:
// asymmetric strides, padding and dilation, pointwise 1x1, strides larger than the kernel (pixels no
// window reads get zero gradient), and batches split into chunks of images.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Conv_GeneralGeometry(GpuBackend gpu) =>
        ConvCheck(gpu, new ConvGeometry(N: 2, C: 3, H: 7, W: 6, K: 4, R: 3, S: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilationH: 1, DilationW: 2));

    public static void Conv_PointwiseAndStridedOneByOne(GpuBackend gpu)
    {
        ConvCheck(gpu, new ConvGeometry(2, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1));
        ConvCheck(gpu, new ConvGeometry(2, 2, 5, 5, 3, 1, 1, 2, 2, 0, 0, 1, 1));
    }

    public static void Conv_BatchInChunks(GpuBackend gpu)
    {
        var g = new ConvGeometry(3, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1);
        long saved = gpu.ColumnBudget;
        bool implicitSaved = gpu.Options.ImplicitConv;
        try
        {
            gpu.Options.ImplicitConv = false;   // chunks of images exist only in the im2col path
            foreach (long images in new[] { 1L, 2L })
            {
                gpu.ColumnBudget = images * g.Crs * g.P * g.Q;
                ConvCheck(gpu, g);
            }
        }
        finally { gpu.ColumnBudget = saved; gpu.Options.ImplicitConv = implicitSaved; }
    }

    private static void ConvCheck(GpuBackend gpu, ConvGeometry g)
    {
        int P = g.P, Q = g.Q;
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.C * g.R * g.S, yl = g.N * g.K * P * Q;
        var x = G.Rand(11, xl); var w = G.Rand(12, wl); var bias = G.Rand(13, g.K); var gy = G.Rand(14, yl);

        // float64 direct convolution and its adjoints
        var y = new double[yl]; var gx = new double[xl]; var gw = new double[wl]; var gb = new double[g.K];
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q++)
        {
            int yi = ((n * g.K + k) * P + p) * Q + q;
            double s = bias[k];
            gb[k] += gy[yi];
            for (int c = 0; c < g.C; c++)
            for (int r = 0; r < g.R; r++)
            for (int t = 0; t < g.S; t++)
            {
                int h = p * g.StrideH - g.PadH + r * g.DilationH, ww = q * g.StrideW - g.PadW + t * g.DilationW;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                int xi = ((n * g.C + c) * g.H + h) * g.W + ww, wi = ((k * g.C + c) * g.R + r) * g.S + t;
                s += (double)x[xi] * w[wi];
                gx[xi] += (double)gy[yi] * w[wi];
                gw[wi] += (double)gy[yi] * x[xi];
            }
            y[yi] = s;
        }

        string what = $"conv {g}";
        var sx = G.Up(gpu, x); var sw = G.Up(gpu, w); var sb = G.Up(gpu, bias); var sgy = G.Up(gpu, gy);
        var sy = G.Out(gpu, yl);
        gpu.Conv2dForward(sx, sw, sb, sy, g);
        G.Close(y, G.Down(gpu, sy), 1e-5, what + " forward");
        var syNoBias = G.Out(gpu, yl);
        gpu.Conv2dForward(sx, sw, null, syNoBias, g);
        G.Close(y.Select((v, i) => v - bias[i / (P * Q) % g.K]).ToArray(), G.Down(gpu, syNoBias), 1e-5, what + " forward without bias");
        var sgx = G.Out(gpu, xl);
        gpu.Conv2dBackwardData(sgy, sw, sgx, g);
        G.Close(gx, G.Down(gpu, sgx), 1e-5, what + " backward data");
        var sgw = G.Out(gpu, wl); var sgb = G.Out(gpu, g.K);
        gpu.Conv2dBackwardWeight(sx, sgy, sgw, sgb, g);
        G.Close(gw, G.Down(gpu, sgw), 1e-5, what + " backward weight");
        G.Close(gb, G.Down(gpu, sgb), 1e-5, what + " backward bias");
    }
}
