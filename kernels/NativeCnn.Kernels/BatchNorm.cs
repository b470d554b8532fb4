// Batch normalisation over x: (N, C, HW) with PyTorch's semantics: training normalises with the
// batch's biased variance and moves the running statistics with the unbiased one; inference uses
// the running statistics. Per-channel statistics and gradient sums run one group per channel (its
// N rows of HW are strided by C*HW); normalising and the input gradient are elementwise.
// What must hold: the mean and variance are two-pass (sum of x, then of (x - mean)^2), so data far
// from zero keeps its precision; running statistics are updated in float64 as PyTorch does.
using ILGPU;

namespace NativeCnn.Kernels;

public static class BatchNormKernels
{
    // x: (N, C, HW) -> mean, invStd: (C) = batch mean and 1/sqrt(biased var + eps);
    // runningMean, runningVar: (C) = momentum-weighted update (unbiased var) when hasRunning != 0
    public static void BatchNormStatsForwardKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd,
                                                   ArrayView<float> runningMean, ArrayView<float> runningVar,
                                                   int n, int c, int hw, float momentum, float eps, int hasRunning)
    {
        var partial = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX;
        int count = n * hw;
        for (int ch = Grid.IdxX; ch < c; ch += Grid.DimX)
        {
            float s = 0f;
            for (int i = t; i < count; i += Group.DimX) s += x[Index(i, ch, c, hw)];
            float m = GroupReduce.Sum(partial, s) / count;
            float d2 = 0f;
            for (int i = t; i < count; i += Group.DimX)
            {
                float d = x[Index(i, ch, c, hw)] - m;
                d2 += d * d;
            }
            float m2 = GroupReduce.Sum(partial, d2);
            if (t == 0)
            {
                mean[ch] = m;
                invStd[ch] = 1f / MathF.Sqrt(m2 / count + eps);
                if (hasRunning != 0)
                {
                    runningMean[ch] = (float)(momentum * (double)m + (1.0 - momentum) * runningMean[ch]);
                    runningVar[ch] = (float)(momentum * ((double)m2 / (count - 1)) + (1.0 - momentum) * runningVar[ch]);
                }
            }
        }
    }

    // var: (C) -> invStd: (C) = 1/sqrt(var + eps), in float64 like the CPU backend
    public static void BatchNormInvStdForwardKernel(ArrayView<float> variance, ArrayView<float> invStd, int c, float eps)
    {
        for (int ch = Threads.Global; ch < c; ch += Threads.Count)
            invStd[ch] = (float)(1.0 / System.Math.Sqrt(variance[ch] + (double)eps));
    }

    // x: (N, C, HW) -> y = (x - mean[c]) * invStd[c] * gamma[c] + beta[c] (gamma 1 / beta 0 when absent)
    public static void BatchNormForwardKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd,
                                              ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
                                              int n, int c, int hw, int hasGamma, int hasBeta)
    {
        int total = n * c * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int ch = (e / hw) % c;
            float scale = hasGamma != 0 ? gamma[ch] * invStd[ch] : invStd[ch];
            float shift = hasBeta != 0 ? beta[ch] : 0f;
            y[e] = (x[e] - mean[ch]) * scale + shift;
        }
    }

    // x, gy: (N, C, HW) -> sums: (2, C) = [sum(gy), sum(gy * (x - mean))] per channel;
    // ggamma = sum(gy * xhat), gbeta = sum(gy) when asked for
    public static void BatchNormSumsBackwardKernel(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> mean, ArrayView<float> invStd,
                                                   ArrayView<float> sums, ArrayView<float> ggamma, ArrayView<float> gbeta,
                                                   int n, int c, int hw, int hasGGamma, int hasGBeta)
    {
        var partial = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX;
        int count = n * hw;
        for (int ch = Grid.IdxX; ch < c; ch += Grid.DimX)
        {
            float m = mean[ch];
            float sg = 0f, sgx = 0f;
            for (int i = t; i < count; i += Group.DimX)
            {
                int at = Index(i, ch, c, hw);
                float g = gy[at];
                sg += g;
                sgx += g * (x[at] - m);
            }
            float sumGy = GroupReduce.Sum(partial, sg);
            float sumGyXc = GroupReduce.Sum(partial, sgx);
            if (t == 0)
            {
                sums[ch] = sumGy;
                sums[c + ch] = sumGyXc;
                if (hasGGamma != 0) ggamma[ch] = sumGyXc * invStd[ch];
                if (hasGBeta != 0) gbeta[ch] = sumGy;
            }
        }
    }

    // x, gy: (N, C, HW), sums from BatchNormSumsBackwardKernel ->
    // gx = gamma*invStd * (gy - sum(gy)/M - (x - mean) * invStd^2 * sum(gy*(x-mean))/M), M = N*HW
    public static void BatchNormBackwardKernel(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> mean, ArrayView<float> invStd,
                                               ArrayView<float> gamma, ArrayView<float> sums, ArrayView<float> gx,
                                               int n, int c, int hw, int hasGamma)
    {
        int total = n * c * hw;
        float inv = 1f / (n * hw);
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int ch = (e / hw) % c;
            float s = invStd[ch];
            float a = hasGamma != 0 ? gamma[ch] * s : s;
            float gMean = sums[ch] * inv;
            float k = sums[c + ch] * s * s * inv;
            gx[e] = a * (gy[e] - gMean - (x[e] - mean[ch]) * k);
        }
    }

    /// <summary>Element i (0 .. N*HW) of channel ch: row i / hw of the channel, column i % hw.</summary>
    private static int Index(int i, int ch, int c, int hw)
    {
        int row = i / hw;
        return (row * c + ch) * hw + (i - row * hw);
    }
}
