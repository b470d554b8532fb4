// GPU half precision: the float16 GEMM (kernel: kernels/NativeCnn.Kernels/GemmFp16.cs) and mixed
// precision's unscale-and-check pass (kernel: LossScale.cs). Gemm hands float16 operands here.
// Paths of the float16 GEMM, with the same semantics (float16 inputs, float32 accumulation, float32 C):
//   TensorCore  mma.sync m16n8k16 through inline PTX: CUDA devices of sm_80 and above
//   Widen       both operands cast to float32 scratch, then the float32 GEMM kernel: the CPU
//               simulator (which cannot run PTX) and older GPUs
// What must hold: the path is chosen per device, never per call, so one device's results do not
// depend on sizes; scratch goes back to the pool once its launches are queued.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

/// <summary>How the GPU backend multiplies float16 matrices.</summary>
public enum HalfGemmPath
{
    /// <summary>Tensor cores on CUDA devices of compute capability 8.0 and above, Widen elsewhere.</summary>
    Auto,
    /// <summary>The mma.sync kernel (on the simulator it emulates the instruction with warp shuffles).</summary>
    TensorCore,
    /// <summary>Cast to float32 and use the float32 GEMM.</summary>
    Widen,
}

public sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>? _gemmHalf;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, int, float>? _unscaleHalf;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? _unscaleFloat;

    /// <summary>Which float16 GEMM this backend runs (settable, so tests can run the tensor-core
    /// kernel on the simulator and benchmarks can compare the paths).</summary>
    public HalfGemmPath HalfGemm { get; set; } = HalfGemmPath.Auto;

    /// <summary>The path <see cref="HalfGemm"/> resolves to on this device.</summary>
    public HalfGemmPath EffectiveHalfGemm => HalfGemm != HalfGemmPath.Auto ? HalfGemm
        : _acc is CudaAccelerator cuda && cuda.Architecture.Major >= 8 ? HalfGemmPath.TensorCore : HalfGemmPath.Widen;

    /// <summary>Gemm with at least one float16 operand (C is float32). Mixed operands widen the float16 one.</summary>
    private void GemmHalf(GemmArgs args, Storage a, int aOffset, Storage b, int bOffset, Storage c, int cOffset)
    {
        var cv = F(c).SubView(cOffset);
        if (a.DType == DType.Float16 && b.DType == DType.Float16)
        {
            GemmHalfViews(args, S(a).F16.SubView(aOffset), S(b).F16.SubView(bOffset), cv);
            return;
        }
        var wa = a.DType == DType.Float16 ? Widen(S(a).F16.SubView(aOffset)) : null;
        var wb = b.DType == DType.Float16 ? Widen(S(b).F16.SubView(bOffset)) : null;
        GemmViews(args, wa?.F32 ?? F(a).SubView(aOffset), wb?.F32 ?? F(b).SubView(bOffset), cv);
        if (wa is not null) ReturnToPool(wa);
        if (wb is not null) ReturnToPool(wb);
    }

    /// <summary>C (float32) = alpha * op(A) op(B) + beta * C on float16 views that start at each operand's first element.</summary>
    internal void GemmHalfViews(GemmArgs args, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c)
    {
        if (args.M == 0 || args.N == 0 || args.Batch == 0) return;
        if (EffectiveHalfGemm == HalfGemmPath.TensorCore)
        {
            var grid = new Index3D(
                (args.N + GemmHalfKernels.TileN - 1) / GemmHalfKernels.TileN,
                (args.M + GemmHalfKernels.TileM - 1) / GemmHalfKernels.TileM,
                Math.Min(args.Batch, 65535));
            Load(ref _gemmHalf, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>(GemmHalfKernels.GemmHalfTensorCoreKernel))
                (new KernelConfig(grid, new Index3D(GemmHalfKernels.GroupThreads, 1, 1)), a, b, c, args);
            return;
        }
        var wa = Widen(a);
        var wb = Widen(b);
        GemmViews(args, wa.F32, wb.F32, c);
        ReturnToPool(wa);
        ReturnToPool(wb);
    }

    /// <summary>A pooled float32 copy of a float16 view (exact: every half is a float).</summary>
    private GpuStorage Widen(ArrayView<ushort> h)
    {
        var w = Scratch(h.Length);
        int n = (int)h.Length;
        if (n > 0)
            Load(ref _castF16F32, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<float>, int>(MemoryKernels.CastHalfToFloatKernel))
                (Flat(n), h, w.F32, n);
        return w;
    }

    // ---- conv2d with float16 x, w and gy (outputs float32): the unfold / GEMM / fold of
    // GpuBackend.Conv.cs with float16 columns and the float16 GEMM; only gcol, folded into gx, is float32.

    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ConvShape, int, int, int, int>? _unfoldHalf;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, int, int, int, int>? _swapImageChannelHalf;

    private GpuStorage ScratchHalf(long length)
    {
        if (length > int.MaxValue) throw new NativeCnnException($"GPU backend: a work buffer of {length} halves exceeds 2^31 elements; use a smaller batch");
        int n = (int)length;
        return new GpuStorage(this, DType.Float16, _pool.TryRent(DType.Float16, n) ?? NewBuffer(DType.Float16, n), n);
    }

    private void UnfoldHalf(ArrayView<ushort> x, ArrayView<ushort> col, ConvGeometry g, int n0, int count, int imageStride, int rowStride) =>
        Load(ref _unfoldHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ConvShape, int, int, int, int>(ConvKernels.ConvUnfoldForwardKernel))
            (Flat((long)count * g.Crs * g.P * g.Q), x, col, Shape(g), n0, count, imageStride, rowStride);

    /// <summary>x, w: float16 -> y: float32 =.</summary>
    private void Conv2dForwardHalf(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || g.K == 0 || pq == 0) return;
        var xv = S(x).F16; var wv = S(w).F16; var yv = F(y);
        var args = new GemmArgs { M = g.K, N = pq, K = crs, Lda = crs, Ldb = pq, Ldc = pq, Alpha = 1f, StrideC = g.K * pq };
        if (IsPointwise(g))
        {
            args.Batch = g.N; args.StrideB = g.C * pq;
            GemmHalfViews(args, wv, xv, yv);
        }
        else
        {
            int chunk = ImagesPerChunk(g);
            var col = ScratchHalf((long)chunk * crs * pq);
            for (int n0 = 0; n0 < g.N; n0 += chunk)
            {
                int cnt = Math.Min(chunk, g.N - n0);
                UnfoldHalf(xv, col.F16, g, n0, cnt, crs * pq, pq);
                args.Batch = cnt; args.StrideB = crs * pq;
                GemmHalfViews(args, wv, col.F16, yv.SubView((long)n0 * g.K * pq));
            }
            ReturnToPool(col);
        }
        if (bias is not null)
        {
            long total = (long)g.N * g.K * pq;
            Load(ref _convBias, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ConvKernels.ConvBiasForwardKernel))
                (Flat(total), yv, F(bias), g.N, g.K, pq);
        }
    }

    /// <summary>gy, w: float16 -> gx: float32 =.</summary>
    private void Conv2dBackwardDataHalf(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || (long)g.C * g.H * g.W == 0) return;
        var gyv = S(gy).F16; var wv = S(w).F16; var gxv = F(gx);
        if (g.K == 0 || pq == 0) { Fill(gx, 0f); return; }
        var args = new GemmArgs { M = crs, N = pq, K = g.K, Lda = crs, Ldb = pq, Ldc = pq, TransA = 1, Alpha = 1f, StrideB = g.K * pq };
        if (IsPointwise(g))
        {
            args.Batch = g.N; args.StrideC = g.C * pq;
            GemmHalfViews(args, wv, gyv, gxv);
            return;
        }
        int chunk = ImagesPerChunk(g);
        var col = Scratch((long)chunk * crs * pq);   // gcol: float32, folded (summed) into gx
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int cnt = Math.Min(chunk, g.N - n0);
            args.Batch = cnt; args.StrideC = crs * pq;
            GemmHalfViews(args, wv, gyv.SubView((long)n0 * g.K * pq), col.F32);
            Load(ref _fold, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ConvShape, int, int, int, int>(ConvKernels.ConvUnfoldBackwardKernel))
                (Flat((long)cnt * g.C * g.H * g.W), col.F32, gxv, Shape(g), n0, cnt, crs * pq, pq);
        }
        ReturnToPool(col);
    }

    /// <summary>x, gy: float16 -> gw: float32 =, gbias: float32 = (if not null).</summary>
    private void Conv2dBackwardWeightHalf(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || pq == 0)
        {
            Fill(gw, 0f);
            if (gbias is not null) Fill(gbias, 0f);
            return;
        }
        var xv = S(x).F16; var gyv = S(gy).F16; var gwv = F(gw);
        if (crs > 0 && g.K > 0)
        {
            int chunk = ImagesPerChunk(g);
            var col = ScratchHalf((long)chunk * crs * pq);
            var gyT = chunk > 1 ? ScratchHalf((long)chunk * g.K * pq) : null;
            for (int n0 = 0; n0 < g.N; n0 += chunk)
            {
                int cnt = Math.Min(chunk, g.N - n0), cols = cnt * pq;
                UnfoldHalf(xv, col.F16, g, n0, cnt, pq, cols);
                ArrayView<ushort> a;
                if (cnt == 1) a = gyv.SubView((long)n0 * g.K * pq);
                else
                {
                    Load(ref _swapImageChannelHalf, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, int, int, int, int>(ConvKernels.ConvSwapImageChannelKernel))
                        (Flat((long)cnt * g.K * pq), gyv, gyT!.F16, n0, cnt, g.K, pq);
                    a = gyT.F16;
                }
                var args = new GemmArgs
                {
                    M = g.K, N = crs, K = cols, Lda = cols, Ldb = cols, Ldc = crs, TransB = 1,
                    Batch = 1, Alpha = 1f, Beta = n0 == 0 ? 0f : 1f,
                };
                GemmHalfViews(args, a, col.F16, gwv);
            }
            ReturnToPool(col);
            if (gyT is not null) ReturnToPool(gyT);
        }
        if (gbias is not null)
        {
            var gy32 = Widen(gyv);
            var perImage = Scratch((long)g.N * g.K);
            Reduce(ReduceOp.Sum, gy32, perImage, g.N * g.K, pq, 1);
            Reduce(ReduceOp.Sum, perImage, gbias, 1, g.N, g.K);
            ReturnToPool(perImage);
            ReturnToPool(gy32);
        }
    }

    public void UnscaleGradients(Storage grad, Storage master, int n, float invScale, Storage found)
    {
        if (n == 0) return;
        var g = S(grad);
        if (g.DType == DType.Float16)
            Load(ref _unscaleHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<float>, ArrayView<float>, int, float>(LossScaleKernels.UnscaleHalfKernel))
                (Flat(n), g.F16, F(master), F(found), n, invScale);
        else
            Load(ref _unscaleFloat, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(LossScaleKernels.UnscaleFloatKernel))
                (Flat(n), g.F32, F(master), F(found), n, invScale);
    }
}
