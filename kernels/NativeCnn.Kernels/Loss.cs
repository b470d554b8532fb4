// Softmax, log-softmax and the losses built on them, with the CPU backend's formulas. Row kernels
// give each row to one warp: lanes stride over the columns and combine with shuffles, so a row of
// 10 classes or of 1000 costs one pass either way. Rows are shifted by their maximum before exp
// (NaN is skipped by the max and surfaces through exp), so logits of any size stay finite.
// What must hold: a label outside [0, classes) cannot throw inside a kernel; its row's loss and
// gradient become NaN instead (Ops validates labels before launching, with a message).
using ILGPU;

namespace NativeCnn.Kernels;

internal static class LossKernels
{
    // x: (rows, cols) -> y = softmax(x) or log_softmax(x) over cols (=); y may alias x
    public static void SoftmaxForwardKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int log)
    {
        int lane = Warp.LaneIdx;
        for (int r = FirstRow(); r < rows; r += RowStep())
        {
            int p = r * cols;
            float max = RowMax(x, p, cols, lane);
            float s = 0f;
            for (int c = lane; c < cols; c += Warp.WarpSize) s += MathF.Exp(x[p + c] - max);
            s = GroupReduce.WarpSum(s);
            if (log != 0)
            {
                float logSum = MathF.Log(s);
                for (int c = lane; c < cols; c += Warp.WarpSize) y[p + c] = (x[p + c] - max) - logSum;
            }
            else
            {
                float inv = 1f / s;
                for (int c = lane; c < cols; c += Warp.WarpSize) y[p + c] = MathF.Exp(x[p + c] - max) * inv;
            }
        }
    }

    // y (forward output), gy: (rows, cols) -> gx (=): softmax y*(gy - sum(gy*y)); log_softmax gy - exp(y)*sum(gy)
    public static void SoftmaxBackwardKernel(ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx, int rows, int cols, int log)
    {
        int lane = Warp.LaneIdx;
        for (int r = FirstRow(); r < rows; r += RowStep())
        {
            int p = r * cols;
            float dot = 0f;
            if (log != 0)
            {
                for (int c = lane; c < cols; c += Warp.WarpSize) dot += gy[p + c];
                dot = GroupReduce.WarpSum(dot);
                for (int c = lane; c < cols; c += Warp.WarpSize) gx[p + c] = gy[p + c] - MathF.Exp(y[p + c]) * dot;
            }
            else
            {
                for (int c = lane; c < cols; c += Warp.WarpSize) dot += gy[p + c] * y[p + c];
                dot = GroupReduce.WarpSum(dot);
                for (int c = lane; c < cols; c += Warp.WarpSize) gx[p + c] = y[p + c] * (gy[p + c] - dot);
            }
        }
    }

    // logits: (rows, classes), labels: (rows) -> losses: (rows) = (1-eps) * -logp[label] + eps * mean_c(-logp[c])
    public static void CrossEntropyForwardKernel(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> losses,
                                                 int rows, int classes, float smoothing)
    {
        int lane = Warp.LaneIdx;
        for (int r = FirstRow(); r < rows; r += RowStep())
        {
            int p = r * classes;
            float max = RowMax(logits, p, classes, lane);
            float sumExp = 0f, sumShifted = 0f;
            for (int c = lane; c < classes; c += Warp.WarpSize)
            {
                float shifted = logits[p + c] - max;
                sumExp += MathF.Exp(shifted);
                sumShifted += shifted;
            }
            sumExp = GroupReduce.WarpSum(sumExp);
            sumShifted = GroupReduce.WarpSum(sumShifted);
            int label = labels[r];
            if (lane == 0)
            {
                float logSum = MathF.Log(sumExp);
                float nll = label >= 0 && label < classes ? logSum - (logits[p + label] - max) : float.NaN;
                // without smoothing the mean term is skipped: a -inf logit elsewhere must not give 0 * inf
                losses[r] = smoothing == 0f ? nll : (1f - smoothing) * nll + smoothing * (logSum - sumShifted / classes);
            }
        }
    }

    // glogits: (rows, classes) = gLoss[row] * (softmax - ((1-eps) * onehot(label) + eps/classes)) (=)
    public static void CrossEntropyBackwardKernel(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> gLoss,
                                                  ArrayView<float> glogits, int rows, int classes, float smoothing)
    {
        int lane = Warp.LaneIdx;
        float offTarget = smoothing / classes;
        float onTarget = 1f - smoothing + offTarget;
        for (int r = FirstRow(); r < rows; r += RowStep())
        {
            int p = r * classes;
            float max = RowMax(logits, p, classes, lane);
            float s = 0f;
            for (int c = lane; c < classes; c += Warp.WarpSize) s += MathF.Exp(logits[p + c] - max);
            s = GroupReduce.WarpSum(s);
            float inv = 1f / s, g = gLoss[r];
            int label = labels[r];
            bool bad = label < 0 || label >= classes;
            for (int c = lane; c < classes; c += Warp.WarpSize)
            {
                float v = g * (MathF.Exp(logits[p + c] - max) * inv - (c == label ? onTarget : offTarget));
                glogits[p + c] = bad ? float.NaN : v;
            }
        }
    }

    // x, target: (n) -> losses: (n) = max(x, 0) - x*t + log(1 + exp(-|x|)), in float64 like the CPU backend
    public static void BceWithLogitsForwardKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> losses, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            double v = x[i];
            double e = System.Math.Exp(-System.Math.Abs(v));
            double u = 1.0 + e;
            double log1p = u == 1.0 ? e : System.Math.Log(u) * e / (u - 1.0);   // log(1 + e), accurate for tiny e
            losses[i] = (float)((v > 0 ? v : 0.0) - v * target[i] + log1p);
        }
    }

    // x, target, gLoss: (n) -> gx = gLoss * (sigmoid(x) - t) (=); gt = gLoss * -x (=) when hasGt
    public static void BceWithLogitsBackwardKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gLoss,
                                                   ArrayView<float> gx, ArrayView<float> gt, int n, int hasGt)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            float v = x[i], g = gLoss[i];
            gx[i] = g * (StableSigmoid(v) - target[i]);
            if (hasGt != 0) gt[i] = g * -v;
        }
    }

    /// <summary>1 / (1 + exp(-x)) without overflow in the intermediate for very negative x.</summary>
    public static float StableSigmoid(float x)
    {
        if (x >= 0) return 1f / (1f + MathF.Exp(-x));
        float e = MathF.Exp(x);
        return e / (1f + e);
    }

    /// <summary>This warp's first row and the step between its rows: one warp per row, grid-stride.</summary>
    private static int FirstRow() => Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
    private static int RowStep() => Grid.DimX * (Group.DimX / Warp.WarpSize);

    /// <summary>Largest element of x[p .. p+n) over the warp; NaN never compares greater, so it is skipped.</summary>
    private static float RowMax(ArrayView<float> x, int p, int n, int lane)
    {
        float max = float.NegativeInfinity;
        for (int c = lane; c < n; c += Warp.WarpSize) { float v = x[p + c]; if (v > max) max = v; }
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
        {
            float o = Warp.ShuffleXor(max, offset);
            if (o > max) max = o;
        }
        return max;
    }
}
