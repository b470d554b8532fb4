// CPU side of half precision: float16 operands of Gemm and the conv primitives are widened to
// float32 (exact) in pooled buffers and run through the float32 code, so the CPU has the GPU's
// semantics (float16 inputs, float32 accumulation and outputs) with float32 arithmetic; and mixed
// precision's unscale-and-check pass (IBackend.UnscaleGradients). Must hold: widened copies go back
// to the pool before the primitive returns; the overflow flag is only ever set, never cleared.
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>The storage itself if float32, else a pooled float32 copy of its whole length.</summary>
    private Storage Widen(Storage s)
    {
        if (s.DType != DType.Float16) return s;
        var h = ((CpuStorage)s).F16;
        var f = (float[])_pool.Rent(DType.Float32, s.Length);
        for (int i = 0; i < s.Length; i++) f[i] = (float)h[i];
        return new CpuStorage(this, DType.Float32, f, s.Length);
    }

    private void Unwiden(Storage original, Storage widened)
    {
        if (!ReferenceEquals(original, widened)) ReturnToPool(widened);
    }

    /// <summary>Gemm with a float16 A or B: returns false (nothing done) when both are float32.</summary>
    private bool GemmWidened(bool transA, bool transB, int m, int n, int k, float alpha, Storage a, int aOffset, int lda,
                             Storage b, int bOffset, int ldb, float beta, Storage c, int cOffset, int ldc,
                             int batch, int strideA, int strideB, int strideC)
    {
        if (a.DType != DType.Float16 && b.DType != DType.Float16) return false;
        Storage wa = Widen(a), wb = Widen(b);
        Gemm(transA, transB, m, n, k, alpha, wa, aOffset, lda, wb, bOffset, ldb, beta, c, cOffset, ldc, batch, strideA, strideB, strideC);
        Unwiden(a, wa);
        Unwiden(b, wb);
        return true;
    }

    private bool Conv2dForwardWidened(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        if (x.DType != DType.Float16 && w.DType != DType.Float16) return false;
        Storage wx = Widen(x), ww = Widen(w);
        Conv2dForward(wx, ww, bias, y, g);
        Unwiden(x, wx);
        Unwiden(w, ww);
        return true;
    }

    private bool Conv2dBackwardDataWidened(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        if (gy.DType != DType.Float16 && w.DType != DType.Float16) return false;
        Storage wgy = Widen(gy), ww = Widen(w);
        Conv2dBackwardData(wgy, ww, gx, g);
        Unwiden(gy, wgy);
        Unwiden(w, ww);
        return true;
    }

    private bool Conv2dBackwardWeightWidened(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        if (x.DType != DType.Float16 && gy.DType != DType.Float16) return false;
        Storage wx = Widen(x), wgy = Widen(gy);
        Conv2dBackwardWeight(wx, wgy, gw, gbias, g);
        Unwiden(x, wx);
        Unwiden(gy, wgy);
        return true;
    }

    public void UnscaleGradients(Storage grad, Storage master, int n, float invScale, Storage found)
    {
        var m = F(master);
        bool bad = false;
        if (grad.DType == DType.Float16)
        {
            var g = ((CpuStorage)grad).F16;
            for (int i = 0; i < n; i++)
            {
                float v = (float)g[i];
                bad |= !float.IsFinite(v);
                m[i] = v * invScale;
            }
        }
        else
        {
            var g = F(grad);
            for (int i = 0; i < n; i++)
            {
                float v = g[i];
                bad |= !float.IsFinite(v);
                m[i] = v * invScale;
            }
        }
        if (bad) F(found)[0] = 1f;
    }
}
