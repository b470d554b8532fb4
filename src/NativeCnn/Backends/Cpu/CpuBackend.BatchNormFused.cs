// CPU batch norm fused with its ReLU and residual add (IBackend.BatchNormActForwardTraining /
// BatchNormActBackward): the reference for the GPU's fused kernels. float32 runs the batch norm's
// own passes with the residual add and ReLU in the normalising pass, and the ReLU mask and the
// residual's gradient in the backward's two passes (CpuBackend.BatchNorm.cs): the same operations
// as composing them, so the same bits. float16 tensors are widened to float32 (exact) and the
// results narrowed, with the batch norm's output rounded to float16 before the residual is added,
// as the unfused float16 graph stores it (composed: batch norm, then one elementwise pass each way).
// Must hold: every output is written (=).
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void BatchNormActForwardTraining(Storage x, Storage? residual, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                            Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps, bool relu)
    {
        using var _ = Time((n, c, hw), static s => $"bn_act_fwd {s.n}x{s.c}x{s.hw}");
        bool half = x.DType == DType.Float16;
        if (!half)
        {
            // float32: the residual add and ReLU ride in the normalising pass (no pass of their own)
            BatchNormTraining(F(x), gamma is null ? null : F(gamma), beta is null ? null : F(beta), F(y), F(saveMean), F(saveInvStd),
                              runningMean is null ? null : F(runningMean), runningVar is null ? null : F(runningVar), n, c, hw, momentum, eps,
                              residual is null ? null : F(residual), relu);
            return;
        }
        var wx = Widen(x);
        var z = half ? new CpuStorage(this, DType.Float32, _pool.Rent(DType.Float32, y.Length), y.Length) : y;
        BatchNormForwardTraining(wx, gamma, beta, z, saveMean, saveInvStd, runningMean, runningVar, n, c, hw, momentum, eps);
        var zs = F(z);
        int total = n * c * hw;
        if (half)
        {
            var r = residual is null ? null : ((CpuStorage)residual).F16;
            var ys = ((CpuStorage)y).F16;
            for (int e = 0; e < total; e++)
            {
                float v = r is null ? zs[e] : (float)(Half)zs[e] + (float)r[e];
                ys[e] = (Half)(relu && v <= 0 ? 0f : v);
            }
            ReturnToPool(z);
        }
        else if (residual is not null || relu) AddRelu(zs, residual is null ? null : F(residual), total, relu);
        Unwiden(x, wx);
    }

    public void BatchNormActBackward(Storage x, Storage y, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                                     Storage? gx, Storage? gResidual, Storage? ggamma, Storage? gbeta, int n, int c, int hw, bool relu)
    {
        using var _ = Time((n, c, hw), static s => $"bn_act_bwd {s.n}x{s.c}x{s.hw}");
        bool half = x.DType == DType.Float16;
        int total = n * c * hw;
        if (!half)
        {
            // float32: the ReLU mask and the residual's gradient ride in the two batch-norm passes
            BatchNormGrad(F(x), F(gy), F(y), relu, gResidual is null ? null : F(gResidual), gamma is null ? null : F(gamma), F(saveMean), F(saveInvStd),
                          gx is null ? null : F(gx), ggamma is null ? null : F(ggamma), gbeta is null ? null : F(gbeta), n, c, hw);
            return;
        }
        Storage wx = Widen(x), wy = Widen(y), wgy = Widen(gy);
        var g = new CpuStorage(this, DType.Float32, _pool.Rent(DType.Float32, total), total);
        var gs = F(g);
        var ys = F(wy);
        var gys = F(wgy);
        ReluMask(gys, ys, gs, total, relu);
        if (gResidual is not null)
        {
            if (half) { var gr = ((CpuStorage)gResidual).F16; for (int e = 0; e < total; e++) gr[e] = (Half)gs[e]; }
            else gs.AsSpan(0, total).CopyTo(F(gResidual));
        }
        var gx32 = gx is not null && half ? new CpuStorage(this, DType.Float32, _pool.Rent(DType.Float32, total), total) : gx;
        BatchNormBackward(wx, g, gamma, saveMean, saveInvStd, gx32, ggamma, gbeta, n, c, hw);
        if (gx is not null && half)
        {
            var src = F(gx32!);
            var dst = ((CpuStorage)gx).F16;
            for (int e = 0; e < total; e++) dst[e] = (Half)src[e];
            ReturnToPool(gx32!);
        }
        ReturnToPool(g);
        Unwiden(x, wx);
        Unwiden(y, wy);
        Unwiden(gy, wgy);
    }

    // The float32 passes, vectorised and split over the cores (they are memory-bound: one pass over
    // a layer's activations each); the same IEEE operations as the scalar tails, so bit for bit equal.

    /// <summary>z = relu(z + r) (r optional; relu optional) over [0, total).</summary>
    private static void AddRelu(float[] z, float[]? r, int total, bool relu)
    {
        For(total, CheapChunk, (s, e) =>
        {
            int i = s, w = System.Numerics.Vector<float>.Count;
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i + w <= e; i += w)
            {
                var v = new System.Numerics.Vector<float>(z, i);
                if (r is not null) v += new System.Numerics.Vector<float>(r, i);
                if (relu) v = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.LessThanOrEqual(v, zero), zero, v);
                v.CopyTo(z, i);
            }
            for (; i < e; i++)
            {
                float v = z[i];
                if (r is not null) v += r[i];
                z[i] = relu && v <= 0 ? 0f : v;
            }
        });
    }

    /// <summary>g = y &gt; 0 ? gy : 0 when relu (NaN y gives 0), else g = gy, over [0, total).</summary>
    private static void ReluMask(float[] gy, float[] y, float[] g, int total, bool relu)
    {
        if (!relu) { gy.AsSpan(0, total).CopyTo(g); return; }
        For(total, CheapChunk, (s, e) =>
        {
            int i = s, w = System.Numerics.Vector<float>.Count;
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i + w <= e; i += w)
                System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.GreaterThan(new System.Numerics.Vector<float>(y, i), zero),
                                                         new System.Numerics.Vector<float>(gy, i), zero).CopyTo(g, i);
            for (; i < e; i++) g[i] = y[i] > 0 ? gy[i] : 0f;
        });
    }
}
