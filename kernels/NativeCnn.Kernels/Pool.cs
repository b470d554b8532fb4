// 2-d pooling with PyTorch's semantics (floor mode, no dilation): max, average and adaptive
// windows. Forward kernels run one thread per output; backward kernels one thread per input element,
// gathering from the outputs whose windows cover it, so every gradient element is written once with
// no atomics and a fixed summation order. Max pooling: padding never wins (it is -inf), a strictly
// greater value replaces the running max (the first of equal values stays), NaN replaces anything;
// indices are flat h*W+w offsets inside the (n, c) plane, as on the CPU backend.
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>x: (N, C, H, W) -> y: (N, C, P, Q) over R x S windows. R == 0 marks indices from adaptive
/// max pooling (no fixed window): the max-pool backward then searches the whole plane.</summary>
internal struct PoolShape
{
    public int N, C, H, W, P, Q, R, S;
    public int StrideH, StrideW, PadH, PadW;
    public int CountIncludePad;   // 1: the average divides by the window size including padding
}

internal static class PoolKernels
{
    // x: (N,C,H,W) -> y, indices: (N,C,P,Q) = window max and its flat position h*W+w
    public static void MaxPoolForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolShape s)
    {
        int pq = s.P * s.Q, total = s.N * s.C * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / pq, j = e - plane * pq;
            int p = j / s.Q, q = j - p * s.Q;
            int h0 = p * s.StrideH - s.PadH, w0 = q * s.StrideW - s.PadW;
            int hs = Max(h0, 0), he = Min(h0 + s.R, s.H), ws = Max(w0, 0), we = Min(w0 + s.S, s.W);
            MaxWindow(x, plane * s.H * s.W, s.W, hs, he, ws, we, out float best, out int arg);
            y[e] = best;
            indices[e] = arg;
        }
    }

    // x: (N,C,H,W) -> y, indices: (N,C,P,Q) over adaptive windows [floor(i*H/P), ceil((i+1)*H/P))
    public static void AdaptiveMaxPoolForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolShape s)
    {
        int pq = s.P * s.Q, total = s.N * s.C * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / pq, j = e - plane * pq;
            int p = j / s.Q, q = j - p * s.Q;
            MaxWindow(x, plane * s.H * s.W, s.W, Start(p, s.H, s.P), End(p, s.H, s.P), Start(q, s.W, s.Q), End(q, s.W, s.Q),
                      out float best, out int arg);
            y[e] = best;
            indices[e] = arg;
        }
    }

    // gy, indices: (N,C,P,Q) -> gx: (N,C,H,W) = sum of gy over the outputs whose index is this element
    public static void MaxPoolBackwardKernel(ArrayView<float> gy, ArrayView<int> indices, ArrayView<float> gx, PoolShape s)
    {
        int hw = s.H * s.W, pq = s.P * s.Q, total = s.N * s.C * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / hw, at = e - plane * hw;
            int h = at / s.W, w = at - h * s.W;
            int yb = plane * pq;
            // candidate outputs: those whose window covers (h, w); without a window, the whole plane
            int p0 = 0, p1 = s.P - 1, q0 = 0, q1 = s.Q - 1;
            if (s.R > 0)
            {
                p0 = Max(0, CeilDiv(h + s.PadH - s.R + 1, s.StrideH)); p1 = Min(s.P - 1, (h + s.PadH) / s.StrideH);
                q0 = Max(0, CeilDiv(w + s.PadW - s.S + 1, s.StrideW)); q1 = Min(s.Q - 1, (w + s.PadW) / s.StrideW);
            }
            float acc = 0f;
            for (int p = p0; p <= p1; p++)
                for (int q = q0; q <= q1; q++)
                {
                    int j = yb + p * s.Q + q;
                    if (indices[j] == at) acc += gy[j];
                }
            gx[e] = acc;
        }
    }

    // x: (N,C,H,W) -> y: (N,C,P,Q) = window mean (divisor per CountIncludePad)
    public static void AvgPoolForwardKernel(ArrayView<float> x, ArrayView<float> y, PoolShape s)
    {
        int pq = s.P * s.Q, total = s.N * s.C * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / pq, j = e - plane * pq;
            int p = j / s.Q, q = j - p * s.Q;
            AvgWindow(s, p, q, out int hs, out int he, out int ws, out int we, out float inv);
            int xb = plane * s.H * s.W;
            float sum = 0f;
            for (int h = hs; h < he; h++)
                for (int w = ws; w < we; w++) sum += x[xb + h * s.W + w];
            y[e] = sum * inv;
        }
    }

    // gy: (N,C,P,Q) -> gx: (N,C,H,W) = sum over covering windows of gy / divisor
    public static void AvgPoolBackwardKernel(ArrayView<float> gy, ArrayView<float> gx, PoolShape s)
    {
        int hw = s.H * s.W, pq = s.P * s.Q, total = s.N * s.C * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / hw, at = e - plane * hw;
            int h = at / s.W, w = at - h * s.W;
            int p0 = Max(0, CeilDiv(h + s.PadH - s.R + 1, s.StrideH)), p1 = Min(s.P - 1, (h + s.PadH) / s.StrideH);
            int q0 = Max(0, CeilDiv(w + s.PadW - s.S + 1, s.StrideW)), q1 = Min(s.Q - 1, (w + s.PadW) / s.StrideW);
            float acc = 0f;
            for (int p = p0; p <= p1; p++)
                for (int q = q0; q <= q1; q++)
                {
                    AvgWindow(s, p, q, out _, out _, out _, out _, out float inv);
                    acc += gy[plane * pq + p * s.Q + q] * inv;
                }
            gx[e] = acc;
        }
    }

    // x: (N,C,H,W) -> y: (N,C,P,Q) = mean over adaptive windows
    public static void AdaptiveAvgPoolForwardKernel(ArrayView<float> x, ArrayView<float> y, PoolShape s)
    {
        int pq = s.P * s.Q, total = s.N * s.C * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / pq, j = e - plane * pq;
            int p = j / s.Q, q = j - p * s.Q;
            int hs = Start(p, s.H, s.P), he = End(p, s.H, s.P), ws = Start(q, s.W, s.Q), we = End(q, s.W, s.Q);
            int xb = plane * s.H * s.W;
            float sum = 0f;
            for (int h = hs; h < he; h++)
                for (int w = ws; w < we; w++) sum += x[xb + h * s.W + w];
            y[e] = sum / ((he - hs) * (we - ws));
        }
    }

    // gy: (N,C,P,Q) -> gx: (N,C,H,W) = sum over covering adaptive windows of gy / window size
    public static void AdaptiveAvgPoolBackwardKernel(ArrayView<float> gy, ArrayView<float> gx, PoolShape s)
    {
        int hw = s.H * s.W, pq = s.P * s.Q, total = s.N * s.C * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / hw, at = e - plane * hw;
            int h = at / s.W, w = at - h * s.W;
            // windows p with start(p) <= h < end(p): p in [floor(h*P/H), ceil((h+1)*P/H) - 1]
            int p0 = (int)((long)h * s.P / s.H), p1 = Min(s.P - 1, (int)(((long)(h + 1) * s.P + s.H - 1) / s.H) - 1);
            int q0 = (int)((long)w * s.Q / s.W), q1 = Min(s.Q - 1, (int)(((long)(w + 1) * s.Q + s.W - 1) / s.W) - 1);
            float acc = 0f;
            for (int p = p0; p <= p1; p++)
            {
                int hs = Start(p, s.H, s.P), he = End(p, s.H, s.P);
                for (int q = q0; q <= q1; q++)
                {
                    int ws = Start(q, s.W, s.Q), we = End(q, s.W, s.Q);
                    acc += gy[plane * pq + p * s.Q + q] / ((he - hs) * (we - ws));
                }
            }
            gx[e] = acc;
        }
    }

    private static void MaxWindow(ArrayView<float> x, int xb, int width, int hs, int he, int ws, int we, out float best, out int arg)
    {
        best = float.NegativeInfinity;
        arg = hs * width + ws;
        for (int h = hs; h < he; h++)
            for (int w = ws; w < we; w++)
            {
                float v = x[xb + h * width + w];
                if (v > best || float.IsNaN(v)) { best = v; arg = h * width + w; }
            }
    }

    /// <summary>PyTorch's average window: clipped to the input; the divisor counts padded positions
    /// (up to H + pad, not beyond) when CountIncludePad, else only positions inside the input.</summary>
    private static void AvgWindow(PoolShape s, int p, int q, out int hs, out int he, out int ws, out int we, out float inv)
    {
        hs = p * s.StrideH - s.PadH; ws = q * s.StrideW - s.PadW;
        he = Min(hs + s.R, s.H + s.PadH); we = Min(ws + s.S, s.W + s.PadW);
        int padded = (he - hs) * (we - ws);
        hs = Max(hs, 0); ws = Max(ws, 0);
        he = Min(he, s.H); we = Min(we, s.W);
        int count = s.CountIncludePad != 0 ? padded : (he - hs) * (we - ws);
        inv = count > 0 ? 1f / count : 0f;
    }

    /// <summary>Adaptive window [Start, End) of output i of n over an input of size len.</summary>
    public static int Start(int i, int len, int n) => (int)((long)i * len / n);
    public static int End(int i, int len, int n) => (int)(((long)(i + 1) * len + n - 1) / n);

    private static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
    private static int Min(int a, int b) => a < b ? a : b;
    private static int Max(int a, int b) => a > b ? a : b;
}
