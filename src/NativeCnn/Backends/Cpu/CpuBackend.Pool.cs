// CPU pooling: average and adaptive (max/average) 2-d pooling, forward and backward, with PyTorch's
// semantics (floor mode, no dilation); max-pool is in CpuBackend.MaxPool.cs. Work is split over the
// N*C planes, which are independent, so backward scatters need no atomics. Must always hold:
// adaptive max-pool indices are flat h*W+w offsets inside their own (n, c) plane (its backward is
// MaxPool2dBackward); every output element is written ("=").
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>Planes per parallel chunk so that each chunk has roughly ParallelThreshold elements of work.</summary>
    private static int PlanesPerChunk(long workPerPlane) => (int)Math.Max(1, ParallelThreshold / Math.Max(1, workPerPlane));

    /// <summary>PyTorch's average-pool window: the divisor counts padded positions (up to H+pad, not
    /// beyond) when CountIncludePad, otherwise only positions inside the input.</summary>
    private static (int hs, int he, int ws, int we, float inv) AvgWindow(in PoolGeometry g, int p, int q)
    {
        int hs = p * g.StrideH - g.PadH, ws = q * g.StrideW - g.PadW;
        int he = Math.Min(hs + g.R, g.H + g.PadH), we = Math.Min(ws + g.S, g.W + g.PadW);
        int padded = (he - hs) * (we - ws);
        hs = Math.Max(hs, 0); ws = Math.Max(ws, 0);
        he = Math.Min(he, g.H); we = Math.Min(we, g.W);
        int count = g.CountIncludePad ? padded : (he - hs) * (we - ws);
        return (hs, he, ws, we, count > 0 ? 1f / count : 0f);
    }

    // x: (N,C,H,W) -> y: (N,C,P,Q) =
    public void AvgPool2dForward(Storage x, Storage y, PoolGeometry g)
    {
        var xs = F(x);
        var ys = F(y);
        int planes = g.N * g.C, hw = g.H * g.W, pq = g.P * g.Q;
        For(planes, PlanesPerChunk((long)pq * g.R * g.S), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                for (int p = 0; p < g.P; p++)
                    for (int q = 0; q < g.Q; q++)
                    {
                        var (hs, he, ws, we, inv) = AvgWindow(g, p, q);
                        float sum = 0;
                        for (int h = hs; h < he; h++)
                            for (int w = ws; w < we; w++) sum += xs[xb + h * g.W + w];
                        ys[yb + p * g.Q + q] = sum * inv;
                    }
            }
        });
    }

    // gy: (N,C,P,Q) -> gx: (N,C,H,W) =
    public void AvgPool2dBackward(Storage gy, Storage gx, PoolGeometry g)
    {
        var gys = F(gy);
        var gxs = F(gx);
        int planes = g.N * g.C, hw = g.H * g.W, pq = g.P * g.Q;
        For(planes, PlanesPerChunk(hw + (long)pq * g.R * g.S), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                Array.Clear(gxs, xb, hw);
                for (int p = 0; p < g.P; p++)
                    for (int q = 0; q < g.Q; q++)
                    {
                        var (hs, he, ws, we, inv) = AvgWindow(g, p, q);
                        float share = gys[yb + p * g.Q + q] * inv;
                        for (int h = hs; h < he; h++)
                            for (int w = ws; w < we; w++) gxs[xb + h * g.W + w] += share;
                    }
            }
        });
    }

    /// <summary>Adaptive window i of <paramref name="outSize"/> over <paramref name="inSize"/>:
    /// [floor(i*in/out), ceil((i+1)*in/out)). Windows cover the input and may overlap.</summary>
    private static (int start, int end) AdaptiveWindow(int i, int inSize, int outSize) =>
        ((int)((long)i * inSize / outSize), (int)(((long)(i + 1) * inSize + outSize - 1) / outSize));

    // x: (N,C,H,W) -> y: (N,C,P,Q) =
    public void AdaptiveAvgPool2dForward(Storage x, Storage y, int n, int c, int h, int w, int p, int q)
    {
        using var _ = Time("adaptive_avgpool_fwd");
        var xs = F(x);
        var ys = F(y);
        int hw = h * w, pq = p * q;
        if (pq == 1)
        {
            // global average pooling (every CNN head): one vectorised sum per contiguous plane
            // (SumRow lives with the batch-norm row kernels)
            For(n * c, PlanesPerChunk(hw), (p0, p1) =>
            {
                for (int plane = p0; plane < p1; plane++) ys[plane] = SumRow(xs.AsSpan(plane * hw, hw)) / hw;
            });
            return;
        }
        // every input element is read about once per overlapping window: work ~ hw per plane
        For(n * c, PlanesPerChunk(hw + pq), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                for (int i = 0; i < p; i++)
                {
                    var (hs, he) = AdaptiveWindow(i, h, p);
                    for (int j = 0; j < q; j++)
                    {
                        var (ws, we) = AdaptiveWindow(j, w, q);
                        float sum = 0;
                        for (int a = hs; a < he; a++)
                            for (int b = ws; b < we; b++) sum += xs[xb + a * w + b];
                        ys[yb + i * q + j] = sum / ((he - hs) * (we - ws));
                    }
                }
            }
        });
    }

    // gy: (N,C,P,Q) -> gx: (N,C,H,W) =
    public void AdaptiveAvgPool2dBackward(Storage gy, Storage gx, int n, int c, int h, int w, int p, int q)
    {
        using var _ = Time("adaptive_avgpool_bwd");
        var gys = F(gy);
        var gxs = F(gx);
        int hw = h * w, pq = p * q;
        if (pq == 1)
        {
            For(n * c, PlanesPerChunk(hw), (p0, p1) =>
            {
                for (int plane = p0; plane < p1; plane++) gxs.AsSpan(plane * hw, hw).Fill(gys[plane] / hw);
            });
            return;
        }
        For(n * c, PlanesPerChunk(2L * hw + pq), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                Array.Clear(gxs, xb, hw);
                for (int i = 0; i < p; i++)
                {
                    var (hs, he) = AdaptiveWindow(i, h, p);
                    for (int j = 0; j < q; j++)
                    {
                        var (ws, we) = AdaptiveWindow(j, w, q);
                        float share = gys[yb + i * q + j] / ((he - hs) * (we - ws));
                        for (int a = hs; a < he; a++)
                            for (int b = ws; b < we; b++) gxs[xb + a * w + b] += share;
                    }
                }
            }
        });
    }

    // x: (N,C,H,W) -> y, indices: (N,C,P,Q) =. Its backward is MaxPool2dBackward (same index convention).
    public void AdaptiveMaxPool2dForward(Storage x, Storage y, Storage indices, int n, int c, int h, int w, int p, int q)
    {
        var xs = F(x);
        var ys = F(y);
        var ix = I(indices);
        int hw = h * w, pq = p * q;
        For(n * c, PlanesPerChunk(hw + pq), (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                int xb = plane * hw, yb = plane * pq;
                for (int i = 0; i < p; i++)
                {
                    var (hs, he) = AdaptiveWindow(i, h, p);
                    for (int j = 0; j < q; j++)
                    {
                        var (ws, we) = AdaptiveWindow(j, w, q);
                        float best = float.NegativeInfinity;
                        int arg = hs * w + ws;
                        for (int a = hs; a < he; a++)
                            for (int b = ws; b < we; b++)
                            {
                                float v = xs[xb + a * w + b];
                                if (v > best || float.IsNaN(v)) { best = v; arg = a * w + b; }
                            }
                        ys[yb + i * q + j] = best;
                        ix[yb + i * q + j] = arg;
                    }
                }
            }
        });
    }
}
