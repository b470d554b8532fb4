// GPU conv2d as unfold (im2col) + GEMM + fold (col2im) (kernels: Conv.cs, Gemm.cs): the float16 path, and
// the float32 one when Options.ImplicitConv is off (float32 goes to GpuBackend.ConvImplicit.cs by default). A chunk of images
// is unfolded into one (CRS, images*PQ) column matrix, so every pass is one GEMM per chunk whose n or k
// spans all the chunk's pixels (a per-image GEMM would have n = PQ: 16 columns in resnet18's last
// stage, a quarter of a 64-wide tile):
//   forward          y'     (K, nPQ)   = W (K, CRS) * col (CRS, nPQ)          then y = y' with image and channel axes swapped
//   backward-data    gcol   (CRS, nPQ) = W^T * gy' (K, nPQ)                   then fold into gx
//   backward-weight  gW     (K, CRS)   = gy' (K, nPQ) * col^T (nPQ, CRS)      accumulated over chunks
// with gy' = gy with image and channel axes swapped ((N, K, PQ) -> (K, N, PQ)). Pointwise convs (1x1,
// stride 1, no padding) use x and gx directly as per-image (C, HW) matrices. The column buffer holds
// at most ColumnBudget floats; larger batches run in chunks of images. Scratch buffers come from the
// pool and go back to it right after their launches are queued: later users are queued behind them
// on the same stream.
// One implementation serves float32 and float16 inputs (ConvElement<T>: the views, unfold, swap and
// GEMM of the element type; the float16 one is in GpuBackend.Fp16.cs). Outputs are float32 either
// way, and so is gcol, which the fold sums into gx.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    /// <summary>Most floats an unfolded column buffer may hold (128 MB); settable so tests can force chunking.</summary>
    internal long ColumnBudget { get; set; } = 32L << 20;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ConvShape, int, int, int, int>? _unfold;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ConvShape, int, int, int, int>? _fold;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _convBias;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int>? _swapImageChannel;

    private static ConvShape Shape(ConvGeometry g) => new()
    {
        N = g.N, C = g.C, H = g.H, W = g.W, K = g.K, R = g.R, S = g.S, P = g.P, Q = g.Q,
        StrideH = g.StrideH, StrideW = g.StrideW, PadH = g.PadH, PadW = g.PadW,
        DilationH = g.DilationH, DilationW = g.DilationW,
    };

    /// <summary>The unfold's 2-D launch: columns (image, p, q) along x, blocks of UnfoldRows rows along y
    /// (the simulator: two groups, walking both grid-stride).</summary>
    private KernelConfig UnfoldConfig(ConvGeometry g, int count)
    {
        long columnGroups = ((long)count * g.P * g.Q + _flatGroup - 1) / _flatGroup;
        int rowBlocks = ConvKernels.UnfoldRowBlocks(Shape(g));
        var grid = _acc is CPUAccelerator
            ? new Index3D((int)Math.Min(columnGroups, 2), 1, 1)
            : new Index3D((int)Math.Clamp(columnGroups, 1, 65535), Math.Clamp(rowBlocks, 1, 65535), 1);
        return new KernelConfig(grid, new Index3D(_flatGroup, 1, 1));
    }

    private static bool IsPointwise(ConvGeometry g) =>
        g.R == 1 && g.S == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0;

    private int ImagesPerChunk(ConvGeometry g) =>
        (int)Math.Clamp(ColumnBudget / Math.Max(1L, (long)g.Crs * g.P * g.Q), 1, Math.Max(1, g.N));

    /// <summary>What the conv paths need of an input element type: float32, or float16 as its bits.</summary>
    private sealed class ConvElement<T> where T : unmanaged
    {
        public required Func<Storage, ArrayView<T>> View { get; init; }
        /// <summary>A pooled buffer of this element type and its view.</summary>
        public required Func<long, (GpuStorage Storage, ArrayView<T> View)> Scratch { get; init; }
        /// <summary>(x, col, geometry, first image, images, image stride, row stride) of the unfold kernel.</summary>
        public required Action<ArrayView<T>, ArrayView<T>, ConvGeometry, int, int, int, int> Unfold { get; init; }
        /// <summary>(gy, gy', first image, images, K, PQ): image and channel axes swapped.</summary>
        public required Action<ArrayView<T>, ArrayView<T>, int, int, int, int> SwapImageChannel { get; init; }
        /// <summary>C (float32) = alpha op(A) op(B) + beta C on views of this element type.</summary>
        public required Action<GemmArgs, ArrayView<T>, ArrayView<T>, ArrayView<float>> Gemm { get; init; }
    }

    private ConvElement<float>? _convFloat;

    private ConvElement<float> ConvFloat => _convFloat ??= new()
    {
        View = F,
        Scratch = n => { var s = Scratch(n); return (s, s.F32); },
        Unfold = (x, col, g, n0, count, imageStride, rowStride) =>
            Load(ref _unfold, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ConvShape, int, int, int, int>(ConvKernels.ConvUnfoldForwardKernel))
                (UnfoldConfig(g, count), x, col, Shape(g), n0, count, imageStride, rowStride),
        SwapImageChannel = (gy, gyT, n0, count, k, pq) =>
            Load(ref _swapImageChannel, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int>(ConvKernels.ConvSwapImageChannelKernel))
                (Flat((long)count * k * pq), gy, gyT, n0, count, k, pq),
        Gemm = GemmViews,
    };

    public void Conv2dForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        if (ImplicitHalfConv(x, w)) ConvImplicitHalfForward(x, w, bias, y, g);     // GpuBackend.ConvImplicitHalf.cs
        else if (x.DType == DType.Float16) Conv2dForward(ConvHalf, x, w, bias, y, g);   // GpuBackend.Fp16.cs
        else if (ImplicitTf32Conv(x, w)) ConvImplicitTf32Forward(x, w, bias, y, g);   // GpuBackend.Tf32.cs
        else if (Options.ImplicitConv) ConvImplicitForward(x, w, bias, y, g);            // GpuBackend.ConvImplicit.cs
        else Conv2dForward(ConvFloat, x, w, bias, y, g);
    }

    public void Conv2dBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        if (ImplicitHalfConv(gy, w)) ConvImplicitHalfBackwardData(gy, w, gx, g);
        else if (gy.DType == DType.Float16) Conv2dBackwardData(ConvHalf, gy, w, gx, g);
        else if (ImplicitTf32Conv(gy, w)) ConvImplicitTf32BackwardData(gy, w, gx, g);
        else if (Options.ImplicitConv) ConvImplicitBackwardData(gy, w, gx, g);
        else Conv2dBackwardData(ConvFloat, gy, w, gx, g);
    }

    public void Conv2dBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        if (ImplicitHalfConv(x, gy)) ConvImplicitHalfBackwardWeight(x, gy, gw, gbias, g);
        else if (x.DType == DType.Float16) Conv2dBackwardWeight(ConvHalf, x, gy, gw, gbias, g);
        else if (ImplicitTf32Conv(x, gy)) ConvImplicitTf32BackwardWeight(x, gy, gw, gbias, g);
        else if (Options.ImplicitConv) ConvImplicitBackwardWeight(x, gy, gw, gbias, g);
        else Conv2dBackwardWeight(ConvFloat, x, gy, gw, gbias, g);
    }

    /// <summary>x, w of element T -> y: float32 =.</summary>
    private void Conv2dForward<T>(ConvElement<T> e, Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g) where T : unmanaged
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || g.K == 0 || pq == 0) return;
        var xv = e.View(x); var wv = e.View(w); var yv = F(y);
        var args = new GemmArgs { M = g.K, N = pq, K = crs, Lda = crs, Ldb = pq, Ldc = pq, Alpha = 1f, StrideC = g.K * pq };
        if (IsPointwise(g))
        {
            args.Batch = g.N; args.StrideB = g.C * pq;
            e.Gemm(args, wv, xv, yv);
        }
        else
        {
            int chunk = ImagesPerChunk(g);
            var col = e.Scratch((long)chunk * crs * pq);
            var yT = chunk > 1 ? Scratch((long)g.K * chunk * pq) : null;
            for (int n0 = 0; n0 < g.N; n0 += chunk)
            {
                int cnt = Math.Min(chunk, g.N - n0), cols = cnt * pq;
                e.Unfold(xv, col.View, g, n0, cnt, pq, cols);
                var yChunk = yv.SubView((long)n0 * g.K * pq);
                args.N = cols; args.Ldb = cols; args.Ldc = cols; args.Batch = 1;
                e.Gemm(args, wv, col.View, cnt == 1 ? yChunk : yT!.F32);
                // y' (K, cnt, PQ) -> y (cnt, K, PQ): the swap with the roles of images and channels exchanged
                if (cnt > 1) ConvFloat.SwapImageChannel(yT!.F32, yChunk, 0, g.K, cnt, pq);
            }
            ReturnToPool(col.Storage);
            if (yT is not null) ReturnToPool(yT);
        }
        if (bias is not null)
        {
            long total = (long)g.N * g.K * pq;
            Load(ref _convBias, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ConvKernels.ConvBiasForwardKernel))
                (Flat(total), yv, F(bias), g.N, g.K, pq);
        }
    }

    /// <summary>gy, w of element T -> gx: float32 =.</summary>
    private void Conv2dBackwardData<T>(ConvElement<T> e, Storage gy, Storage w, Storage gx, ConvGeometry g) where T : unmanaged
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || (long)g.C * g.H * g.W == 0) return;
        var gyv = e.View(gy); var wv = e.View(w); var gxv = F(gx);
        if (g.K == 0 || pq == 0) { Fill(gx, 0f); return; }
        // W stored (K, CRS): op(A) = W^T (CRS, K)
        var args = new GemmArgs { M = crs, N = pq, K = g.K, Lda = crs, Ldb = pq, Ldc = pq, TransA = 1, Alpha = 1f, StrideB = g.K * pq };
        if (IsPointwise(g))
        {
            args.Batch = g.N; args.StrideC = g.C * pq;
            e.Gemm(args, wv, gyv, gxv);
            return;
        }
        int chunk = ImagesPerChunk(g);
        var col = Scratch((long)chunk * crs * pq);   // gcol: float32 for either element type
        (GpuStorage Storage, ArrayView<T> View)? gyT = chunk > 1 ? e.Scratch((long)chunk * g.K * pq) : null;
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int cnt = Math.Min(chunk, g.N - n0), cols = cnt * pq;
            ArrayView<T> b;
            if (cnt == 1) b = gyv.SubView((long)n0 * g.K * pq);   // one image: (K, PQ) as stored
            else
            {
                e.SwapImageChannel(gyv, gyT!.Value.View, n0, cnt, g.K, pq);
                b = gyT.Value.View;
            }
            args.N = cols; args.Ldb = cols; args.Ldc = cols; args.Batch = 1;
            e.Gemm(args, wv, b, col.F32);
            Load(ref _fold, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ConvShape, int, int, int, int>(ConvKernels.ConvUnfoldBackwardKernel))
                (Flat((long)cnt * g.C * g.H * g.W), col.F32, gxv, Shape(g), n0, cnt, pq, cols);
        }
        ReturnToPool(col);
        if (gyT is not null) ReturnToPool(gyT.Value.Storage);
    }

    /// <summary>x, gy of element T -> gw: float32 =, gbias: float32 = (if not null).</summary>
    private void Conv2dBackwardWeight<T>(ConvElement<T> e, Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g) where T : unmanaged
    {
        int pq = g.P * g.Q, crs = g.Crs;
        if (g.N == 0 || pq == 0)
        {
            // no output pixels: the gradients are empty sums
            Fill(gw, 0f);
            if (gbias is not null) Fill(gbias, 0f);
            return;
        }
        var xv = e.View(x); var gyv = e.View(gy); var gwv = F(gw);
        if (crs > 0 && g.K > 0)
        {
            int chunk = ImagesPerChunk(g);
            var col = e.Scratch((long)chunk * crs * pq);
            (GpuStorage Storage, ArrayView<T> View)? gyT = chunk > 1 ? e.Scratch((long)chunk * g.K * pq) : null;
            for (int n0 = 0; n0 < g.N; n0 += chunk)
            {
                int cnt = Math.Min(chunk, g.N - n0), cols = cnt * pq;
                // col as one (CRS, cnt*PQ) matrix: image ni's pixels are columns ni*PQ ..
                e.Unfold(xv, col.View, g, n0, cnt, pq, cols);
                ArrayView<T> a;
                if (cnt == 1) a = gyv.SubView((long)n0 * g.K * pq);   // one image: (K, PQ) as stored
                else
                {
                    e.SwapImageChannel(gyv, gyT!.Value.View, n0, cnt, g.K, pq);
                    a = gyT.Value.View;
                }
                var args = new GemmArgs
                {
                    M = g.K, N = crs, K = cols, Lda = cols, Ldb = cols, Ldc = crs, TransB = 1,
                    Batch = 1, Alpha = 1f, Beta = n0 == 0 ? 0f : 1f,
                };
                e.Gemm(args, a, col.View, gwv);
            }
            ReturnToPool(col.Storage);
            if (gyT is not null) ReturnToPool(gyT.Value.Storage);
        }
        if (gbias is not null) ConvBiasBackward(gy, gbias, g);
    }

    /// <summary>gy (float32 or float16) -> gbias: float32 =, summed over pixels, then over images:
    /// (N*K, PQ) -> (N, K) -> (K).</summary>
    private void ConvBiasBackward(Storage gy, Storage gbias, ConvGeometry g)
    {
        var gy32 = gy.DType == DType.Float16 ? Widen(S(gy).F16) : null;
        var perImage = Scratch((long)g.N * g.K);
        Reduce(ReduceOp.Sum, gy32 ?? gy, perImage, g.N * g.K, g.P * g.Q, 1);
        Reduce(ReduceOp.Sum, perImage, gbias, 1, g.N, g.K);
        ReturnToPool(perImage);
        if (gy32 is not null) ReturnToPool(gy32);
    }
}
