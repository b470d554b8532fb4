// CPU softmax, log-softmax and the losses built on them (cross-entropy with label smoothing, binary
// cross-entropy on logits). Every row is shifted by its maximum before exp, so logits of any
// magnitude give finite results; sums of exponentials accumulate in double. Rows are independent
// and are spread over the cores once there is enough work.
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Elements of work below which a row loop stays on one thread.</summary>
    private const int RowWorkChunk = 1 << 13;

    private static int RowChunk(int cols) => Math.Max(1, RowWorkChunk / Math.Max(1, cols));

    // x: (rows, cols) -> y: (rows, cols) =. y may alias x: each element is read before it is written.
    public void Softmax(Storage x, Storage y, int rows, int cols, bool log)
    {
        using var _ = Time("softmax");
        if (rows == 0 || cols == 0) return;
        var xs = F(x);
        var ys = F(y);
        For(rows, RowChunk(cols), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int p = r * cols;
                float max = RowMax(xs, p, cols);
                if (log)
                {
                    double sum = 0;
                    for (int c = 0; c < cols; c++) sum += MathF.Exp(xs[p + c] - max);
                    float logSum = (float)Math.Log(sum);
                    // (x - max) is exact for logits of similar magnitude, so log_softmax keeps full precision
                    for (int c = 0; c < cols; c++) ys[p + c] = (xs[p + c] - max) - logSum;
                }
                else
                {
                    double sum = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        float e = MathF.Exp(xs[p + c] - max);
                        ys[p + c] = e;
                        sum += e;
                    }
                    float inv = (float)(1.0 / sum);
                    for (int c = 0; c < cols; c++) ys[p + c] *= inv;
                }
            }
        });
    }

    // y (forward output), gy: (rows, cols) -> gx: (rows, cols) =.
    //   softmax:     gx = y * (gy - sum(gy * y))
    //   log_softmax: gx = gy - exp(y) * sum(gy)
    public void SoftmaxBackward(Storage y, Storage gy, Storage gx, int rows, int cols, bool log)
    {
        using var _ = Time("softmax_bwd");
        if (rows == 0 || cols == 0) return;
        var ys = F(y);
        var g = F(gy);
        var o = F(gx);
        For(rows, RowChunk(cols), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int p = r * cols;
                double dot = 0;
                if (log)
                {
                    for (int c = 0; c < cols; c++) dot += g[p + c];
                    float s = (float)dot;
                    for (int c = 0; c < cols; c++) o[p + c] = g[p + c] - MathF.Exp(ys[p + c]) * s;
                }
                else
                {
                    for (int c = 0; c < cols; c++) dot += (double)g[p + c] * ys[p + c];
                    float s = (float)dot;
                    for (int c = 0; c < cols; c++) o[p + c] = ys[p + c] * (g[p + c] - s);
                }
            }
        });
    }

    // logits: (rows, classes), labels (int32): (rows) -> losses: (rows) =.
    //   loss = (1 - eps) * (-logp[label]) + eps * mean_c(-logp[c]), as torch.nn.functional.cross_entropy.
    public void CrossEntropyForward(Storage logits, Storage labels, Storage losses, int rows, int classes, float smoothing)
    {
        using var _ = Time("cross_entropy");
        if (rows == 0) return;
        var xs = F(logits);
        var ls = I(labels);
        var os = F(losses);
        For(rows, RowChunk(classes), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int label = CheckedLabel(ls, r, classes);
                int p = r * classes;
                float max = RowMax(xs, p, classes);
                double sumExp = 0, sumShifted = 0;
                for (int c = 0; c < classes; c++)
                {
                    float shifted = xs[p + c] - max;
                    sumExp += MathF.Exp(shifted);
                    sumShifted += shifted;
                }
                // -logp[c] = logSum - (x[c] - max)
                double logSum = Math.Log(sumExp);
                double nll = logSum - (xs[p + label] - max);
                // without smoothing the mean term is skipped: a -inf logit elsewhere must not give 0 * inf
                if (smoothing == 0) { os[r] = (float)nll; continue; }
                double smooth = logSum - sumShifted / classes;
                os[r] = (float)((1 - smoothing) * nll + smoothing * smooth);
            }
        });
    }

    // glogits: (rows, classes) = gLoss[row] * (softmax - ((1 - eps) * onehot(label) + eps / classes)).
    public void CrossEntropyBackward(Storage logits, Storage labels, Storage gLoss, Storage glogits, int rows, int classes, float smoothing)
    {
        using var _ = Time("cross_entropy_bwd");
        if (rows == 0 || classes == 0) return;
        var xs = F(logits);
        var ls = I(labels);
        var gl = F(gLoss);
        var o = F(glogits);
        float offTarget = smoothing / classes;
        float onTarget = 1 - smoothing + offTarget;
        For(rows, RowChunk(classes), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int label = CheckedLabel(ls, r, classes);
                int p = r * classes;
                float max = RowMax(xs, p, classes);
                double sum = 0;
                for (int c = 0; c < classes; c++)
                {
                    float e = MathF.Exp(xs[p + c] - max);
                    o[p + c] = e;
                    sum += e;
                }
                float inv = (float)(1.0 / sum);
                float g = gl[r];
                for (int c = 0; c < classes; c++) o[p + c] = g * (o[p + c] * inv - (c == label ? onTarget : offTarget));
            }
        });
    }

    // losses = max(x, 0) - x * t + log(1 + exp(-|x|)), elementwise (no overflow for any x).
    public void BceWithLogitsForward(Storage x, Storage target, Storage losses, int n)
    {
        var xs = F(x);
        var ts = F(target);
        var os = F(losses);
        For(n, RowWorkChunk, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                double v = xs[i];
                os[i] = (float)(Math.Max(v, 0) - v * ts[i] + Log1p(Math.Exp(-Math.Abs(v))));
            }
        });
    }

    // gx = gLoss * (sigmoid(x) - t) =; gt = gLoss * (-x) = if gt is not null.
    public void BceWithLogitsBackward(Storage x, Storage target, Storage gLoss, Storage gx, Storage? gt, int n)
    {
        var xs = F(x);
        var ts = F(target);
        var g = F(gLoss);
        var ox = F(gx);
        var ot = gt is null ? null : F(gt);
        For(n, RowWorkChunk, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                float v = xs[i];
                float gi = g[i];
                ox[i] = gi * (StableSigmoid(v) - ts[i]);
                if (ot is not null) ot[i] = gi * -v;
            }
        });
    }

    /// <summary>Largest element of x[p .. p+n); NaN elements are skipped here and surface through exp later.</summary>
    private static float RowMax(float[] xs, int p, int n)
    {
        float max = float.NegativeInfinity;
        for (int c = 0; c < n; c++) if (xs[p + c] > max) max = xs[p + c];
        return max;
    }

    private static int CheckedLabel(int[] labels, int row, int classes)
    {
        int label = labels[row];
        // Ops/Loss.cs validates labels with a message for the user; this guard keeps a stray
        // caller from indexing outside the row.
        if ((uint)label >= (uint)classes)
            throw new NativeCnnException($"cross_entropy: label {label} in row {row} is out of range for {classes} classes");
        return label;
    }

    /// <summary>log(1 + e) accurate for tiny e (where 1 + e rounds to 1).</summary>
    private static double Log1p(double e)
    {
        double u = 1 + e;
        return u == 1 ? e : Math.Log(u) * e / (u - 1);
    }

    /// <summary>1 / (1 + exp(-x)) without overflow in the intermediate for very negative x.</summary>
    private static float StableSigmoid(float x)
    {
        if (x >= 0) return 1f / (1f + MathF.Exp(-x));
        float e = MathF.Exp(x);
        return e / (1f + e);
    }
}
