// The float64 references the CPU convolution tests check against: the direct convolution (no bias)
// and the gradients of sum(y * gy) with respect to its input and its weights, at any stride, padding
// and dilation; and a scope that runs a body on a given number of CPU threads.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Tests.Support;

internal static class ConvReference
{
    /// <summary>y = conv(x, w), gx = dL/dx and gw = dL/dw for L = sum(y * gy), in float64 (NCHW, w as K x C x R x S).</summary>
    public static (double[] Y, double[] Gx, double[] Gw) Float64(ConvGeometry g, double[] x, double[] w, double[] gy)
    {
        var y = new double[g.N * g.K * g.P * g.Q];
        var gx = new double[g.N * g.C * g.H * g.W];
        var gw = new double[g.K * g.Crs];
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        for (int p = 0; p < g.P; p++)
        for (int q = 0; q < g.Q; q++)
        {
            int yi = ((n * g.K + k) * g.P + p) * g.Q + q;
            double sum = 0, up = gy[yi];
            for (int c = 0; c < g.C; c++)
            for (int r = 0; r < g.R; r++)
            for (int s = 0; s < g.S; s++)
            {
                int ih = p * g.StrideH - g.PadH + r * g.DilationH, iw = q * g.StrideW - g.PadW + s * g.DilationW;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                int xi = ((n * g.C + c) * g.H + ih) * g.W + iw, wi = ((k * g.C + c) * g.R + r) * g.S + s;
                sum += x[xi] * w[wi];
                gx[xi] += up * w[wi];
                gw[wi] += up * x[xi];
            }
            y[yi] = sum;
        }
        return (y, gx, gw);
    }

    /// <summary>As above, from float32 inputs (each widened exactly).</summary>
    public static (double[] Y, double[] Gx, double[] Gw) Float64(ConvGeometry g, float[] x, float[] w, float[] gy) =>
        Float64(g, Widen(x), Widen(w), Widen(gy));

    private static double[] Widen(float[] v) => Array.ConvertAll(v, f => (double)f);
}

/// <summary>Runs a body with the CPU backend's loops and GEMM on a given number of threads, then restores them.</summary>
internal static class CpuThreads
{
    public static void With(int threads, Action body)
    {
        int savedLoop = CpuParallel.MaxThreads, savedGemm = CpuGemm.MaxThreads;
        CpuParallel.MaxThreads = CpuGemm.MaxThreads = threads;
        try { body(); }
        finally
        {
            CpuParallel.MaxThreads = savedLoop;
            CpuGemm.MaxThreads = savedGemm;
        }
    }
}
