// Batch normalisation over x: (N, C, HW) with PyTorch's semantics: training normalises with the
// batch's biased variance and moves the running statistics with the unbiased one; inference uses
// the running statistics. Per-channel statistics and gradient sums run one group per channel and
// segment of its N*HW values (N rows of HW strided by C*HW; several segments when channels alone
// would leave the GPU idle), then one thread per channel combines the segments in float64;
// normalising and the input gradient are elementwise.
// What must hold: the mean and variance are two-pass within a segment (sum of x, then of
// (x - mean)^2), and segments combine by Chan's formula, so data far from zero keeps its precision;
// running statistics are updated in float64 as PyTorch does.
using ILGPU;

namespace NativeCnn.Kernels;

internal static class BatchNormKernels
{
    // x: (N, C, HW) -> part: (C, segments, 3) = (count, mean, sum of squared deviations) of each segment
    // of segLen of channel ch's N*HW values (element i: Index below); one group per (channel, segment)
    public static void BatchNormPartialStatsKernel(ArrayView<float> x, ArrayView<float> part, int n, int c, int hw, int segLen, int segments)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        int count = n * hw;
        for (int j = Grid.IdxX; j < c * segments; j += Grid.DimX)
        {
            int ch = j / segments, seg = j - ch * segments;
            int i0 = seg * segLen, i1 = System.Math.Min(count, i0 + segLen);
            float s = 0f;
            for (int i = i0 + t; i < i1; i += size) s += x[Index(i, ch, c, hw)];
            float m = GroupReduce.Sum(scratch, s) / (i1 - i0);
            float d2 = 0f;
            for (int i = i0 + t; i < i1; i += size)
            {
                float d = x[Index(i, ch, c, hw)] - m;
                d2 += d * d;
            }
            float m2 = GroupReduce.Sum(scratch, d2);
            if (t == 0)
            {
                part[3 * j] = i1 - i0;
                part[3 * j + 1] = m;
                part[3 * j + 2] = m2;
            }
        }
    }

    // part from BatchNormPartialStatsKernel -> mean, invStd: (C) = batch mean and 1/sqrt(biased var + eps);
    // runningMean, runningVar: (C) = momentum-weighted update (unbiased var) when hasRunning != 0.
    // Segments combine in float64 (Chan et al.): M2 = sum of M2_s + count_s * (mean_s - mean)^2.
    public static void BatchNormCombineStatsKernel(ArrayView<float> part, ArrayView<float> mean, ArrayView<float> invStd,
                                                   ArrayView<float> runningMean, ArrayView<float> runningVar,
                                                   int c, int segments, float momentum, float eps, int hasRunning)
    {
        for (int ch = Threads.Global; ch < c; ch += Threads.Count)
        {
            int p = 3 * ch * segments;
            double total = 0, sum = 0;
            for (int s = 0; s < segments; s++)
            {
                total += part[p + 3 * s];
                sum += part[p + 3 * s] * (double)part[p + 3 * s + 1];
            }
            double m = sum / total, m2 = 0;
            for (int s = 0; s < segments; s++)
            {
                double d = part[p + 3 * s + 1] - m;
                m2 += part[p + 3 * s + 2] + part[p + 3 * s] * d * d;
            }
            mean[ch] = (float)m;
            invStd[ch] = (float)(1.0 / System.Math.Sqrt(m2 / total + eps));
            if (hasRunning != 0)
            {
                runningMean[ch] = (float)(momentum * m + (1.0 - momentum) * runningMean[ch]);
                runningVar[ch] = (float)(momentum * (m2 / (total - 1)) + (1.0 - momentum) * runningVar[ch]);
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

    // x, gy: (N, C, HW) -> part: (C, segments, 2) = [sum(gy), sum(gy * (x - mean))] over each segment of
    // segLen of channel ch's values; one group per (channel, segment)
    public static void BatchNormPartialSumsBackwardKernel(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> mean, ArrayView<float> part,
                                                          int n, int c, int hw, int segLen, int segments)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        int count = n * hw;
        for (int j = Grid.IdxX; j < c * segments; j += Grid.DimX)
        {
            int ch = j / segments, seg = j - ch * segments;
            int i0 = seg * segLen, i1 = System.Math.Min(count, i0 + segLen);
            float m = mean[ch];
            float sg = 0f, sgx = 0f;
            for (int i = i0 + t; i < i1; i += size)
            {
                int at = Index(i, ch, c, hw);
                float g = gy[at];
                sg += g;
                sgx += g * (x[at] - m);
            }
            float sumGy = GroupReduce.Sum(scratch, sg);
            float sumGyXc = GroupReduce.Sum(scratch, sgx);
            if (t == 0) { part[2 * j] = sumGy; part[2 * j + 1] = sumGyXc; }
        }
    }

    // part from BatchNormPartialSumsBackwardKernel -> sums: (2, C) = [sum(gy), sum(gy * (x - mean))]
    // (segments added in float64); ggamma = sum(gy * xhat), gbeta = sum(gy) when asked for
    public static void BatchNormCombineSumsBackwardKernel(ArrayView<float> part, ArrayView<float> invStd, ArrayView<float> sums,
                                                          ArrayView<float> ggamma, ArrayView<float> gbeta,
                                                          int c, int segments, int hasGGamma, int hasGBeta)
    {
        for (int ch = Threads.Global; ch < c; ch += Threads.Count)
        {
            double sg = 0, sgx = 0;
            for (int s = 0; s < segments; s++)
            {
                sg += part[2 * (ch * segments + s)];
                sgx += part[2 * (ch * segments + s) + 1];
            }
            float sumGy = (float)sg, sumGyXc = (float)sgx;
            sums[ch] = sumGy;
            sums[c + ch] = sumGyXc;
            if (hasGGamma != 0) ggamma[ch] = sumGyXc * invStd[ch];
            if (hasGBeta != 0) gbeta[ch] = sumGy;
        }
    }

    // x, gy: (N, C, HW), sums from BatchNormCombineSumsBackwardKernel ->
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
