// GPU dropout and fused optimizer steps: the dropout mask is exactly the engine's counter-based draw
// (NativeCnn.Rng), so CPU and GPU drop the same elements; SGD (momentum, dampening, nesterov, weight
// decay, first step) and Adam / AdamW over several steps against PyTorch's formulas in float64.
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Optim_DropoutMaskIsTheEnginesDraw(GpuBackend gpu)
    {
        foreach (float p in new[] { 0.3f, 0f, 0.9f })
        {
            const int n = 150;
            const ulong seed = 0xC0FFEEUL;
            var x = G.Rand(61, n);
            float scale = 1f / (1f - p);
            var mask = Enumerable.Range(0, n).Select(i => Rng.Uniform(seed, i) >= p ? scale : 0f).ToArray();
            var sy = G.Out(gpu, n); var sm = G.Out(gpu, n);
            gpu.DropoutForward(G.Up(gpu, x), sy, sm, n, p, seed);
            G.Same(mask, G.Down(gpu, sm), $"dropout mask p={p}");
            G.Same(x.Select((v, i) => v * mask[i]).ToArray(), G.Down(gpu, sy), $"dropout output p={p}");
        }
    }

    public static void Optim_SgdSteps(GpuBackend gpu)
    {
        foreach (var (momentum, dampening, wd, nesterov) in new[] { (0f, 0f, 0f, false), (0.9f, 0f, 1e-2f, false), (0.9f, 0.1f, 0f, true), (0.5f, 0.2f, 5e-3f, false) })
        {
            const int n = 70;
            const float lr = 0.05f;
            var p = G.Rand(62, n); var bufInit = G.Out(gpu, n);
            double[] pd = p.Select(v => (double)v).ToArray(), buf = new double[n];
            var sp = G.Up(gpu, p);
            for (int step = 0; step < 3; step++)
            {
                var grad = G.Rand(63 + step, n);
                for (int i = 0; i < n; i++)
                {
                    double g = grad[i] + wd * pd[i];
                    if (momentum != 0)
                    {
                        buf[i] = step == 0 ? g : momentum * buf[i] + (1 - dampening) * g;
                        g = nesterov ? g + momentum * buf[i] : buf[i];
                    }
                    pd[i] -= lr * g;
                }
                gpu.SgdStep(sp, G.Up(gpu, grad), momentum != 0 ? bufInit : null, n, lr, momentum, dampening, wd, nesterov, step == 0);
            }
            string what = $"sgd momentum={momentum} dampening={dampening} wd={wd} nesterov={nesterov}";
            G.Close(pd, G.Down(gpu, sp), 1e-6, what + " param");
            if (momentum != 0) G.Close(buf, G.Down(gpu, bufInit), 1e-6, what + " momentum buffer");
        }
    }

    public static void Optim_AdamAndAdamWSteps(GpuBackend gpu)
    {
        foreach (var (wd, decoupled) in new[] { (0f, false), (1e-2f, false), (1e-2f, true) })
        {
            const int n = 70;
            const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
            var p = G.Rand(64, n);
            double[] pd = p.Select(v => (double)v).ToArray(), m = new double[n], v2 = new double[n];
            var sp = G.Up(gpu, p); var sm = G.Up(gpu, new float[n]); var sv = G.Up(gpu, new float[n]);
            for (int step = 1; step <= 3; step++)
            {
                var grad = G.Rand(65 + step, n);
                double bc1 = 1 - Math.Pow(b1, step), bc2 = 1 - Math.Pow(b2, step);
                for (int i = 0; i < n; i++)
                {
                    double g = grad[i] + (decoupled ? 0 : wd * pd[i]);
                    if (decoupled) pd[i] *= 1 - lr * wd;
                    m[i] = b1 * m[i] + (1 - b1) * g;
                    v2[i] = b2 * v2[i] + (1 - b2) * g * g;
                    pd[i] -= lr / bc1 * m[i] / (Math.Sqrt(v2[i]) / Math.Sqrt(bc2) + eps);
                }
                gpu.AdamStep(sp, G.Up(gpu, grad), sm, sv, n, lr, b1, b2, eps, wd, decoupled, step);
            }
            string what = $"adam wd={wd} decoupled={decoupled}";
            G.Close(pd, G.Down(gpu, sp), 1e-5, what + " param");
            G.Close(m, G.Down(gpu, sm), 1e-6, what + " m");
            G.Close(v2, G.Down(gpu, sv), 1e-6, what + " v");
        }
    }
}
