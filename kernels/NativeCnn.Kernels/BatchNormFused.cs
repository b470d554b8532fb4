// Batch norm fused with what follows it in a CNN block: z = batchnorm(x) (+ residual), y = relu(z)
// when asked, in one elementwise pass after the statistics (BatchNorm.cs's stats and combine kernels),
// and the backward through the ReLU (its mask read from y: y > 0 exactly where z > 0) and the batch
// norm in one sums pass and one elementwise pass, which also writes the residual's gradient (the
// masked gradient). Float32 kernels and float16 ones (x, residual, y, gradients as float16 bits;
// statistics, parameters and arithmetic float32), so mixed precision needs no casts around it.
// What must hold: the same float32 operations in the same order as the unfused ops (BatchNorm.cs's
// forward, the elementwise add, relu: v <= 0 ? 0 : v, NaN kept; backward x > 0 ? g : 0), so the fused
// result is bitwise the unfused one; in float16 the batch norm's output is rounded to float16 before the
// residual is added, as the unfused float16 graph stores it.
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>Sizes and switches of the fused batch-norm kernels (x: (N, C, HW)); flags are 0 or 1.</summary>
internal struct BatchNormActArgs
{
    public int N, C, Hw;
    /// <summary>Per-channel segments of the sums pass: SegLen values each, Segments of them.</summary>
    public int SegLen, Segments;
    public int HasGamma, HasBeta, HasResidual, HasGx, HasGResidual, Relu;
}

internal static class BatchNormFusedKernels
{
    // x, residual: (N, C, HW) -> y = act((x - mean[c]) * invStd[c] * gamma[c] + beta[c] (+ residual)) (=)
    public static void BatchNormActForwardKernel(ArrayView<float> x, ArrayView<float> residual, ArrayView<float> mean, ArrayView<float> invStd,
                                                 ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
                                                 BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int hasGamma = p.HasGamma, hasBeta = p.HasBeta, hasResidual = p.HasResidual, relu = p.Relu;
        int total = n * c * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int ch = (e / hw) % c;
            float scale = hasGamma != 0 ? gamma[ch] * invStd[ch] : invStd[ch];
            float shift = hasBeta != 0 ? beta[ch] : 0f;
            float v = (x[e] - mean[ch]) * scale + shift;
            if (hasResidual != 0) v += residual[e];
            y[e] = relu != 0 && v <= 0 ? 0f : v;
        }
    }

    // float16 x, residual -> float16 y, as BatchNormActForwardKernel
    public static void BatchNormActForwardHalfKernel(ArrayView<ushort> x, ArrayView<ushort> residual, ArrayView<float> mean, ArrayView<float> invStd,
                                                     ArrayView<float> gamma, ArrayView<float> beta, ArrayView<ushort> y,
                                                     BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int hasGamma = p.HasGamma, hasBeta = p.HasBeta, hasResidual = p.HasResidual, relu = p.Relu;
        int total = n * c * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int ch = (e / hw) % c;
            float scale = hasGamma != 0 ? gamma[ch] * invStd[ch] : invStd[ch];
            float shift = hasBeta != 0 ? beta[ch] : 0f;
            float v = (HalfBits.ToFloat(x[e]) - mean[ch]) * scale + shift;
            if (hasResidual != 0) v = HalfBits.ToFloat(HalfBits.FromFloat(v)) + HalfBits.ToFloat(residual[e]);
            y[e] = HalfBits.FromFloat(relu != 0 && v <= 0 ? 0f : v);
        }
    }

    // float16 x: (N, C, HW) -> part: (C, segments, 3), as BatchNormKernels.BatchNormPartialStatsKernel
    public static void BatchNormPartialStatsHalfKernel(ArrayView<ushort> x, ArrayView<float> part, int n, int c, int hw, int segLen, int segments)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        int count = n * hw;
        for (int j = Grid.IdxX; j < c * segments; j += Grid.DimX)
        {
            int ch = j / segments, seg = j - ch * segments;
            int i0 = seg * segLen, i1 = System.Math.Min(count, i0 + segLen);
            float s = 0f;
            for (int i = i0 + t; i < i1; i += size) s += HalfBits.ToFloat(x[Index(i, ch, c, hw)]);
            float m = GroupReduce.Sum(scratch, s) / (i1 - i0);
            float d2 = 0f;
            for (int i = i0 + t; i < i1; i += size)
            {
                float d = HalfBits.ToFloat(x[Index(i, ch, c, hw)]) - m;
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

    // x, y, gy: (N, C, HW) -> part: (C, segments, 2) = [sum(g), sum(g * (x - mean))], g = gy masked by y > 0
    // when relu != 0; one group per (channel, segment)
    public static void BatchNormActPartialSumsBackwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> mean,
                                                             ArrayView<float> part, BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int relu = p.Relu;
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
                float g = relu != 0 && !(y[at] > 0) ? 0f : gy[at];
                sg += g;
                sgx += g * (x[at] - m);
            }
            float sumGy = GroupReduce.Sum(scratch, sg);
            float sumGyXc = GroupReduce.Sum(scratch, sgx);
            if (t == 0) { part[2 * j] = sumGy; part[2 * j + 1] = sumGyXc; }
        }
    }

    // float16 x, y, gy -> part, as BatchNormActPartialSumsBackwardKernel
    public static void BatchNormActPartialSumsBackwardHalfKernel(ArrayView<ushort> x, ArrayView<ushort> y, ArrayView<ushort> gy, ArrayView<float> mean,
                                                                 ArrayView<float> part, BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int relu = p.Relu;
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
                float g = relu != 0 && !(HalfBits.ToFloat(y[at]) > 0) ? 0f : HalfBits.ToFloat(gy[at]);
                sg += g;
                sgx += g * (HalfBits.ToFloat(x[at]) - m);
            }
            float sumGy = GroupReduce.Sum(scratch, sg);
            float sumGyXc = GroupReduce.Sum(scratch, sgx);
            if (t == 0) { part[2 * j] = sumGy; part[2 * j + 1] = sumGyXc; }
        }
    }

    // x, y, gy: (N, C, HW), sums from BatchNormKernels.BatchNormCombineSumsBackwardKernel, g = gy masked by y > 0 ->
    // gx = gamma*invStd * (g - sum(g)/M - (x - mean) * invStd^2 * sum(g*(x-mean))/M) (= when hasGx),
    // gResidual = g (= when hasGResidual); M = N*HW
    public static void BatchNormActBackwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> mean,
                                                  ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> sums,
                                                  ArrayView<float> gx, ArrayView<float> gResidual,
                                                  BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int hasGamma = p.HasGamma, hasGx = p.HasGx, hasGResidual = p.HasGResidual, relu = p.Relu;
        int total = n * c * hw;
        float inv = 1f / (n * hw);
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            float g = relu != 0 && !(y[e] > 0) ? 0f : gy[e];
            if (hasGResidual != 0) gResidual[e] = g;
            if (hasGx == 0) continue;
            int ch = (e / hw) % c;
            float s = invStd[ch];
            float a = hasGamma != 0 ? gamma[ch] * s : s;
            float gMean = sums[ch] * inv;
            float k = sums[c + ch] * s * s * inv;
            gx[e] = a * (g - gMean - (x[e] - mean[ch]) * k);
        }
    }

    // float16 x, y, gy -> float16 gx, gResidual, as BatchNormActBackwardKernel
    public static void BatchNormActBackwardHalfKernel(ArrayView<ushort> x, ArrayView<ushort> y, ArrayView<ushort> gy, ArrayView<float> mean,
                                                      ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> sums,
                                                      ArrayView<ushort> gx, ArrayView<ushort> gResidual,
                                                      BatchNormActArgs p)
    {
        int n = p.N, c = p.C, hw = p.Hw, segLen = p.SegLen, segments = p.Segments;
        int hasGamma = p.HasGamma, hasGx = p.HasGx, hasGResidual = p.HasGResidual, relu = p.Relu;
        int total = n * c * hw;
        float inv = 1f / (n * hw);
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            bool pass = relu == 0 || HalfBits.ToFloat(y[e]) > 0;
            if (hasGResidual != 0) gResidual[e] = pass ? gy[e] : (ushort)0;
            if (hasGx == 0) continue;
            float g = pass ? HalfBits.ToFloat(gy[e]) : 0f;
            int ch = (e / hw) % c;
            float s = invStd[ch];
            float a = hasGamma != 0 ? gamma[ch] * s : s;
            float gMean = sums[ch] * inv;
            float k = sums[c + ch] * s * s * inv;
            gx[e] = HalfBits.FromFloat(a * (g - gMean - (HalfBits.ToFloat(x[e]) - mean[ch]) * k));
        }
    }

    /// <summary>Element i (0 .. N*HW) of channel ch: row i / hw of the channel, column i % hw.</summary>
    private static int Index(int i, int ch, int c, int hw)
    {
        int row = i / hw;
        return (row * c + ch) * hw + (i - row * hw);
    }
}
