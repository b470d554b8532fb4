// CPU batch norm over x: (N, C, HW): training forward (batch statistics, running-stat update),
// inference forward (running statistics) and backward, with PyTorch's semantics. Work is split over
// channels; a channel is N rows of HW contiguous floats.
// Must always hold: statistics are exact to float precision whatever the data's offset: each row
// gets a two-pass mean and squared deviation (the row is in L1 for the second pass) and rows merge
// in double with Chan's parallel formula; so training forward reads x from memory once for the
// statistics and once to write y. Running variance uses the unbiased estimate, normalisation the
// biased one, as in PyTorch. Every output is written ("=").
using System.Numerics;
using System.Runtime.InteropServices;

namespace NativeCnn.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Channels per parallel chunk: about ParallelThreshold elements each.</summary>
    private static int ChannelsPerChunk(int n, int hw) => (int)Math.Max(1, ParallelThreshold / Math.Max(1L, (long)n * hw));

    public void BatchNormForwardTraining(Storage x, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                         Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps)
    {
        var xs = F(x);
        var ys = F(y);
        var gs = gamma is null ? null : F(gamma);
        var bs = beta is null ? null : F(beta);
        var sm = F(saveMean);
        var si = F(saveInvStd);
        var rm = runningMean is null ? null : F(runningMean);
        var rv = runningVar is null ? null : F(runningVar);
        long count = (long)n * hw;
        For(c, ChannelsPerChunk(n, hw), (c0, c1) =>
        {
            for (int ch = c0; ch < c1; ch++)
            {
                var (mean, m2) = ChannelMoments(xs, n, c, hw, ch);
                double invStd = 1.0 / Math.Sqrt(m2 / count + eps);
                sm[ch] = (float)mean;
                si[ch] = (float)invStd;
                // PyTorch does this update in double and stores float
                if (rm is not null) rm[ch] = (float)(momentum * mean + (1.0 - momentum) * rm[ch]);
                if (rv is not null) rv[ch] = (float)(momentum * (m2 / (count - 1)) + (1.0 - momentum) * rv[ch]);

                // the channel was just read, so this second pass mostly hits the cache
                float scale = (float)((gs is null ? 1.0 : gs[ch]) * invStd), shift = bs is null ? 0f : bs[ch];
                // the double mean as float hi + lo: x - hi is exact for x near the mean, so the
                // output keeps its precision even when |mean| >> std
                float hi = (float)mean, lo = (float)(mean - hi);
                for (int i = 0; i < n; i++)
                {
                    int off = (i * c + ch) * hw;
                    NormalizeRow(xs.AsSpan(off, hw), ys.AsSpan(off, hw), hi, lo, scale, shift);
                }
            }
        });
    }

    public void BatchNormForwardInference(Storage x, Storage? gamma, Storage? beta, Storage runningMean, Storage runningVar,
                                          Storage y, int n, int c, int hw, float eps)
    {
        var xs = F(x);
        var ys = F(y);
        var gs = gamma is null ? null : F(gamma);
        var bs = beta is null ? null : F(beta);
        var rm = F(runningMean);
        var rv = F(runningVar);
        // rows are independent here, so split over all N*C rows (better balance when C is small)
        For(n * c, Math.Max(1, ParallelThreshold / Math.Max(1, hw)), (r0, r1) =>
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
        var xs = F(x);
        var gys = F(gy);
        var gs = gamma is null ? null : F(gamma);
        var sm = F(saveMean);
        var si = F(saveInvStd);
        var gxs = gx is null ? null : F(gx);
        var ggs = ggamma is null ? null : F(ggamma);
        var gbs = gbeta is null ? null : F(gbeta);
        long count = (long)n * hw;
        For(c, ChannelsPerChunk(n, hw), (c0, c1) =>
        {
            for (int ch = c0; ch < c1; ch++)
            {
                float mean = sm[ch];
                double invStd = si[ch];
                double sumGy = 0, sumGyXc = 0;   // sum(gy), sum(gy * (x - mean))
                for (int i = 0; i < n; i++)
                {
                    int off = (i * c + ch) * hw;
                    var (s, sx) = GradSumsRow(gys.AsSpan(off, hw), xs.AsSpan(off, hw), mean);
                    sumGy += s;
                    sumGyXc += sx;
                }
                if (ggs is not null) ggs[ch] = (float)(sumGyXc * invStd);
                if (gbs is not null) gbs[ch] = (float)sumGy;
                if (gxs is null) continue;

                double a = (gs is null ? 1.0 : gs[ch]) * invStd;
                float gMean = (float)(sumGy / count);
                float k = (float)(sumGyXc * invStd * invStd / count);
                for (int i = 0; i < n; i++)
                {
                    int off = (i * c + ch) * hw;
                    GradInputRow(gys.AsSpan(off, hw), xs.AsSpan(off, hw), gxs.AsSpan(off, hw), mean, gMean, k, (float)a);
                }
            }
        });
    }

    /// <summary>Mean and sum of squared deviations of channel <paramref name="ch"/>, in double.</summary>
    private static (double Mean, double M2) ChannelMoments(float[] xs, int n, int c, int hw, int ch)
    {
        double mean = 0, m2 = 0;
        long seen = 0;
        for (int i = 0; i < n; i++)
        {
            var row = xs.AsSpan((i * c + ch) * hw, hw);
            // pass 1: an approximate row mean; pass 2: deviations from it, whose sum corrects the
            // mean's rounding (the "corrected two-pass" algorithm)
            float approx = SumRow(row) / hw;
            var (d, d2) = DeviationSumsRow(row, approx);
            double rowMean = approx + d / hw;
            double rowM2 = d2 - d * d / hw;
            // Chan et al.: merge (seen, mean, m2) with (hw, rowMean, rowM2)
            seen += hw;
            double delta = rowMean - mean;
            mean += delta * hw / seen;
            m2 += rowM2 + delta * delta * (seen - hw) * hw / seen;
        }
        return (mean, m2);
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
}
