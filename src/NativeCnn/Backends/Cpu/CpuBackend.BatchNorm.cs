// CPU batch norm over x: (N, C, HW): training forward (batch statistics, running-stat update),
// inference forward (running statistics) and backward, with PyTorch's semantics.
// Every pass walks the N*C rows of HW floats in memory order, split over threads, so the hardware
// prefetchers stream (walking one channel's N rows, 100 KB apart, was 2-4x slower); per-row partial
// results go to a small per-call buffer and are merged per channel in double.
// Must always hold: statistics are accurate to float precision whatever the data's offset: each row
// gets a two-pass mean and squared deviation (the row is in L1 for the second pass) and rows merge
// exactly (equal-size groups: total M2 = sum of row M2 + HW * sum of squared row-mean deviations).
// Training forward reads x from memory twice (statistics, then y). Running variance uses the
// unbiased estimate, normalisation the biased one, as in PyTorch. Every output is written ("=").
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Rows per parallel chunk: about ParallelThreshold elements each.</summary>
    private static int RowsPerChunk(int hw) => Math.Max(1, ParallelThreshold / Math.Max(1, hw));

    public void BatchNormForwardTraining(Storage x, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                         Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps)
    {
        using var _ = Time((n, c, hw), static s => $"bn_fwd {s.n}x{s.c}x{s.hw}");
        BatchNormTraining(F(x), gamma is null ? null : F(gamma), beta is null ? null : F(beta), F(y), F(saveMean), F(saveInvStd),
                          runningMean is null ? null : F(runningMean), runningVar is null ? null : F(runningVar), n, c, hw, momentum, eps, null, false);
    }

    /// <summary>The training forward over float32 arrays: statistics, then one pass that writes
    /// y = batchnorm(x), or relu(batchnorm(x) + residual) when given (BatchNormActForwardTraining).</summary>
    private static void BatchNormTraining(float[] xs, float[]? gs, float[]? bs, float[] ys, float[] sm, float[] si, float[]? rm, float[]? rv,
                                          int n, int c, int hw, float momentum, float eps, float[]? residual, bool relu)
    {
        int rows = n * c;
        var rowMean = ArrayPool<double>.Shared.Rent(rows);
        var rowM2 = ArrayPool<double>.Shared.Rent(rows);
        var coef = ArrayPool<float>.Shared.Rent(4 * c);   // per channel: mean hi, mean lo, scale, shift
        try
        {
            For(rows, RowsPerChunk(hw), (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    var row = xs.AsSpan(r * hw, hw);
                    // pass 1: an approximate mean; pass 2: deviations from it, whose sum corrects the
                    // mean's rounding (the "corrected two-pass" algorithm)
                    float approx = SumRow(row) / hw;
                    var (d, d2) = DeviationSumsRow(row, approx);
                    rowMean[r] = approx + d / hw;
                    rowM2[r] = d2 - d * d / hw;
                }
            });

            long count = (long)n * hw;
            for (int ch = 0; ch < c; ch++)
            {
                double mean = 0;
                for (int i = 0; i < n; i++) mean += rowMean[i * c + ch];
                mean /= n;
                double m2 = 0, spread = 0;
                for (int i = 0; i < n; i++)
                {
                    double dm = rowMean[i * c + ch] - mean;
                    m2 += rowM2[i * c + ch];
                    spread += dm * dm;
                }
                m2 += spread * hw;
                double invStd = 1.0 / Math.Sqrt(m2 / count + eps);
                sm[ch] = (float)mean;
                si[ch] = (float)invStd;
                // PyTorch does this update in double and stores float
                if (rm is not null) rm[ch] = (float)(momentum * mean + (1.0 - momentum) * rm[ch]);
                if (rv is not null) rv[ch] = (float)(momentum * (m2 / (count - 1)) + (1.0 - momentum) * rv[ch]);
                // the double mean as float hi + lo: x - hi is exact for x near the mean, so the
                // output keeps its precision even when |mean| >> std
                float hi = (float)mean;
                coef[4 * ch] = hi;
                coef[4 * ch + 1] = (float)(mean - hi);
                coef[4 * ch + 2] = (float)((gs is null ? 1.0 : gs[ch]) * invStd);
                coef[4 * ch + 3] = bs is null ? 0f : bs[ch];
            }

            For(rows, RowsPerChunk(hw), (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    int k = 4 * (r % c);
                    if (residual is null && !relu)
                        NormalizeRow(xs.AsSpan(r * hw, hw), ys.AsSpan(r * hw, hw), coef[k], coef[k + 1], coef[k + 2], coef[k + 3]);
                    else
                        NormalizeActRow(xs.AsSpan(r * hw, hw), residual is null ? default : residual.AsSpan(r * hw, hw), ys.AsSpan(r * hw, hw),
                                        coef[k], coef[k + 1], coef[k + 2], coef[k + 3], relu);
                }
            });
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rowMean);
            ArrayPool<double>.Shared.Return(rowM2);
            ArrayPool<float>.Shared.Return(coef);
        }
    }

    public void BatchNormForwardInference(Storage x, Storage? gamma, Storage? beta, Storage runningMean, Storage runningVar,
                                          Storage y, int n, int c, int hw, float eps)
    {
        using var _ = Time((n, c, hw), static s => $"bn_fwd_eval {s.n}x{s.c}x{s.hw}");
        var xs = F(x);
        var ys = F(y);
        var gs = gamma is null ? null : F(gamma);
        var bs = beta is null ? null : F(beta);
        var rm = F(runningMean);
        var rv = F(runningVar);
        For(n * c, RowsPerChunk(hw), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int ch = r % c;
                float scale = (float)((gs is null ? 1.0 : gs[ch]) / Math.Sqrt(rv[ch] + (double)eps));
                NormalizeRow(xs.AsSpan(r * hw, hw), ys.AsSpan(r * hw, hw), rm[ch], 0f, scale, bs is null ? 0f : bs[ch]);
            }
        });
    }

    // gx = gamma*invStd * (gy - mean(gy) - xhat * mean(gy*xhat)), ggamma = sum(gy*xhat), gbeta = sum(gy)
    public void BatchNormBackward(Storage x, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                                  Storage? gx, Storage? ggamma, Storage? gbeta, int n, int c, int hw)
    {
        using var _ = Time((n, c, hw), static s => $"bn_bwd {s.n}x{s.c}x{s.hw}");
        BatchNormGrad(F(x), F(gy), null, false, null, gamma is null ? null : F(gamma), F(saveMean), F(saveInvStd),
                      gx is null ? null : F(gx), ggamma is null ? null : F(ggamma), gbeta is null ? null : F(gbeta), n, c, hw);
    }

    /// <summary>The backward over float32 arrays. With <paramref name="relu"/> the incoming gradient is
    /// masked (g = y &gt; 0 ? gy : 0, from the forward's output y) inside the first pass, which stores g
    /// in gRes (the residual's gradient) when given, else in gx; the second pass reads g from there
    /// (BatchNormActBackward: no pass of their own for the mask or the residual's gradient).</summary>
    private static void BatchNormGrad(float[] xs, float[] gys, float[]? ys, bool relu, float[]? gRes, float[]? gs, float[] sm, float[] si,
                                      float[]? gxs, float[]? ggs, float[]? gbs, int n, int c, int hw)
    {
        int rows = n * c;
        // where the first pass stores the masked gradient for the second: the residual's gradient,
        // else gx itself (the second pass then reads one stream, not gy and y, and rewrites it in place)
        var gStore = gRes ?? (relu ? gxs : null);
        var rowS = ArrayPool<double>.Shared.Rent(rows);    // sum(gy) per row
        var rowSx = ArrayPool<double>.Shared.Rent(rows);   // sum(gy * (x - mean)) per row
        var coef = ArrayPool<float>.Shared.Rent(3 * c);    // per channel: gMean, k, a
        try
        {
            For(rows, RowsPerChunk(2 * hw), (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    (rowS[r], rowSx[r]) = relu || gStore is not null
                        ? GradSumsActRow(gys.AsSpan(r * hw, hw), relu ? ys!.AsSpan(r * hw, hw) : default, xs.AsSpan(r * hw, hw), sm[r % c],
                                         gStore is null ? default : gStore.AsSpan(r * hw, hw))
                        : GradSumsRow(gys.AsSpan(r * hw, hw), xs.AsSpan(r * hw, hw), sm[r % c]);
            });

            long count = (long)n * hw;
            for (int ch = 0; ch < c; ch++)
            {
                double sumGy = 0, sumGyXc = 0;
                for (int i = 0; i < n; i++) { sumGy += rowS[i * c + ch]; sumGyXc += rowSx[i * c + ch]; }
                double invStd = si[ch];
                if (ggs is not null) ggs[ch] = (float)(sumGyXc * invStd);
                if (gbs is not null) gbs[ch] = (float)sumGy;
                coef[3 * ch] = (float)(sumGy / count);
                coef[3 * ch + 1] = (float)(sumGyXc * invStd * invStd / count);
                coef[3 * ch + 2] = (float)((gs is null ? 1.0 : gs[ch]) * invStd);
            }
            if (gxs is null) return;

            For(rows, RowsPerChunk(3 * hw), (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    int ch = r % c;
                    // from the masked gradient stored by the first pass (in place when that is gx)
                    GradInputRow((gStore ?? gys).AsSpan(r * hw, hw), xs.AsSpan(r * hw, hw), gxs.AsSpan(r * hw, hw),
                                 sm[ch], coef[3 * ch], coef[3 * ch + 1], coef[3 * ch + 2]);
                }
            });
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rowS);
            ArrayPool<double>.Shared.Return(rowSx);
            ArrayPool<float>.Shared.Return(coef);
        }
    }

    // ---- row kernels: Vector<float> lanes for the body, scalar for the tail ------------------

    private static float SumRow(ReadOnlySpan<float> x)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        Vector<float> a0 = default, a1 = default;
        int k = 0;
        for (; k + 1 < xv.Length; k += 2) { a0 += xv[k]; a1 += xv[k + 1]; }
        if (k < xv.Length) a0 += xv[k];
        float sum = Vector.Sum(a0 + a1);
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++) sum += x[i];
        return sum;
    }

    /// <summary>(sum(x - mean), sum((x - mean)^2)).</summary>
    private static (double D, double D2) DeviationSumsRow(ReadOnlySpan<float> x, float mean)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = new Vector<float>(mean);
        Vector<float> s = default, s2 = default;
        for (int k = 0; k < xv.Length; k++)
        {
            var d = xv[k] - mv;
            s += d;
            s2 += d * d;
        }
        double sum = Vector.Sum(s), sum2 = Vector.Sum(s2);
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++)
        {
            float d = x[i] - mean;
            sum += d;
            sum2 += d * d;
        }
        return (sum, sum2);
    }

    /// <summary>y = ((x - meanHi) - meanLo) * scale + shift. Centring first (rather than x * scale +
    /// (shift - mean * scale)) keeps precision when |mean| >> std.</summary>
    private static void NormalizeRow(ReadOnlySpan<float> x, Span<float> y, float meanHi, float meanLo, float scale, float shift)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        Vector<float> hv = new(meanHi), lv = new(meanLo), sv = new(scale), bv = new(shift);
        for (int k = 0; k < xv.Length; k++) yv[k] = (xv[k] - hv - lv) * sv + bv;
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++) y[i] = (x[i] - meanHi - meanLo) * scale + shift;
    }

    /// <summary>(sum(gy), sum(gy * (x - mean))).</summary>
    private static (double S, double Sx) GradSumsRow(ReadOnlySpan<float> gy, ReadOnlySpan<float> x, float mean)
    {
        var gv = MemoryMarshal.Cast<float, Vector<float>>(gy);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var mv = new Vector<float>(mean);
        Vector<float> s = default, sx = default;
        for (int k = 0; k < gv.Length; k++)
        {
            var g = gv[k];
            s += g;
            sx += g * (xv[k] - mv);
        }
        double sum = Vector.Sum(s), sumx = Vector.Sum(sx);
        for (int i = gv.Length * Vector<float>.Count; i < gy.Length; i++)
        {
            sum += gy[i];
            sumx += gy[i] * (x[i] - mean);
        }
        return (sum, sumx);
    }

    /// <summary>gx = (gy - gMean - (x - mean) * k) * a.</summary>
    private static void GradInputRow(ReadOnlySpan<float> gy, ReadOnlySpan<float> x, Span<float> gx, float mean, float gMean, float k, float a)
    {
        var gv = MemoryMarshal.Cast<float, Vector<float>>(gy);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var ov = MemoryMarshal.Cast<float, Vector<float>>(gx);
        Vector<float> mv = new(mean), gm = new(gMean), kv = new(k), av = new(a);
        for (int j = 0; j < gv.Length; j++) ov[j] = (gv[j] - gm - (xv[j] - mv) * kv) * av;
        for (int i = gv.Length * Vector<float>.Count; i < gy.Length; i++) gx[i] = (gy[i] - gMean - (x[i] - mean) * k) * a;
    }

    /// <summary>y = relu(((x - meanHi) - meanLo) * scale + shift + r): r added when not empty, the ReLU
    /// (v &lt;= 0 gives 0, NaN stays) when <paramref name="relu"/>; the same operations as NormalizeRow
    /// followed by the residual add and ReLU.</summary>
    private static void NormalizeActRow(ReadOnlySpan<float> x, ReadOnlySpan<float> r, Span<float> y, float meanHi, float meanLo, float scale, float shift, bool relu)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        var rv = MemoryMarshal.Cast<float, Vector<float>>(r);
        bool add = !r.IsEmpty;
        Vector<float> hv = new(meanHi), lv = new(meanLo), sv = new(scale), bv = new(shift);
        for (int k = 0; k < xv.Length; k++)
        {
            var v = (xv[k] - hv - lv) * sv + bv;
            if (add) v += rv[k];
            if (relu) v = Vector.ConditionalSelect(Vector.LessThanOrEqual(v, Vector<float>.Zero), Vector<float>.Zero, v);
            yv[k] = v;
        }
        for (int i = xv.Length * Vector<float>.Count; i < x.Length; i++)
        {
            float v = (x[i] - meanHi - meanLo) * scale + shift;
            if (add) v += r[i];
            y[i] = relu && v <= 0 ? 0f : v;
        }
    }

    /// <summary>(sum(g), sum(g * (x - mean))) with g = y &gt; 0 ? gy : 0 when y is not empty (NaN y
    /// gives 0), else g = gy; g is also stored in gOut when that is not empty.</summary>
    private static (double S, double Sx) GradSumsActRow(ReadOnlySpan<float> gy, ReadOnlySpan<float> y, ReadOnlySpan<float> x, float mean, Span<float> gOut)
    {
        var gv = MemoryMarshal.Cast<float, Vector<float>>(gy);
        var yv = MemoryMarshal.Cast<float, Vector<float>>(y);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var ov = MemoryMarshal.Cast<float, Vector<float>>(gOut);
        bool mask = !y.IsEmpty, store = !gOut.IsEmpty;
        var mv = new Vector<float>(mean);
        Vector<float> s = default, sx = default;
        for (int k = 0; k < gv.Length; k++)
        {
            var g = gv[k];
            if (mask) g = Vector.ConditionalSelect(Vector.GreaterThan(yv[k], Vector<float>.Zero), g, Vector<float>.Zero);
            if (store) ov[k] = g;
            s += g;
            sx += g * (xv[k] - mv);
        }
        double sum = Vector.Sum(s), sumx = Vector.Sum(sx);
        for (int i = gv.Length * Vector<float>.Count; i < gy.Length; i++)
        {
            float g = mask ? (y[i] > 0 ? gy[i] : 0f) : gy[i];
            if (store) gOut[i] = g;
            sum += g;
            sumx += g * (x[i] - mean);
        }
        return (sum, sumx);
    }
}
