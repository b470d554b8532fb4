// GPU half precision: the float16 GEMM (kernels: kernels/NativeCnn.Kernels/GemmFp16*.cs) and mixed
// precision's unscale-and-check pass (kernel: LossScale.cs). Gemm hands float16 operands here.
// Paths of the float16 GEMM, with the same semantics (float16 inputs, float32 accumulation, float32 C):
//   TensorCore  mma.sync m16n8k16 through inline PTX: CUDA devices of sm_80 and above. A 128x128 product
//               of 16-byte-aligned operands runs on the cp.async ldmatrix kernel with 4 warps of 64x64
//               (GemmFp16Async.cs, loaded through PtxLocalPromotion); other products on GemmFp16.cs's
//               64x64 or 128x128 kernel (the tile chosen as for float32); all bitwise equal
//   Widen       both operands cast to float32 scratch, then the float32 GEMM kernel: the CPU
//               simulator (which cannot run PTX) and older GPUs
// Tests and the GPU lab steer these choices through GpuKernelOptions (the lab also runs its own kernel
// variants there); measurements are in benchmarks/results.
// What must hold: the path is chosen per device, never per call, so one device's results do not
// depend on sizes (the tile may vary per call: it does not change results); scratch goes back to
// the pool once its launches are queued.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>? _gemmHalf;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>? _gemmHalf128;
    private readonly Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>?[] _gemmHalfAsync =
        new Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>?[AsyncKernels.Length];
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, int, float>? _unscaleHalf;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? _unscaleFloat;

    /// <summary>The path GpuKernelOptions.HalfGemm resolves to on this device.</summary>
    internal HalfGemmPath EffectiveHalfGemm => Options.HalfGemm != HalfGemmPath.Auto ? Options.HalfGemm
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
            if (SplitKFor(args) is var split and > 1) { GemmSplitK(args, a, b, c, split, GemmHalfTensorCore); return; }
            GemmHalfTensorCore(args, a, b, c);
            return;
        }
        var wa = Widen(a);
        var wb = Widen(b);
        GemmViews(args, wa.F32, wb.F32, c);   // splits in k by itself
        ReturnToPool(wa);
        ReturnToPool(wb);
    }

    /// <summary>GemmArgs.Aligned: bit 0 (A) / 1 (B) when the operand's view offset, leading dimension and
    /// (with batches) batch stride are multiples of 8 halves, so every 8-half run the kernel reads along
    /// the contiguous axis starts on a 16-byte boundary; only when K is a multiple of the 32-deep slice
    /// (then every slice of an inner tile is whole).</summary>
    internal static int HalfAlignment(GemmArgs g, long aIndex, long bIndex)
    {
        if (g.K % GemmHalfKernels.TileK != 0) return 0;
        return (ChunkAligned(aIndex, g.Lda, g.StrideA, g.Batch) ? 1 : 0) | (ChunkAligned(bIndex, g.Ldb, g.StrideB, g.Batch) ? 2 : 0);
    }

    /// <summary>Whether the ldmatrix kernel may move both operands in 16-byte chunks: each view offset,
    /// leading dimension and (with batches) batch stride a multiple of 8 halves. K may be anything
    /// (edge chunks are zero-filled).</summary>
    internal static bool LdmatrixAligned(GemmArgs g, long aIndex, long bIndex) =>
        ChunkAligned(aIndex, g.Lda, g.StrideA, g.Batch) && ChunkAligned(bIndex, g.Ldb, g.StrideB, g.Batch);

    internal static bool ChunkAligned(long index, int ld, int stride, int batch) => index % 8 == 0 && ld % 8 == 0 && (batch == 1 || stride % 8 == 0);

    /// <summary>A view's element offset in its buffer (through the interface without boxing).</summary>
    internal static long ViewIndex<TView>(TView view) where TView : struct, IContiguousArrayView => view.Index;

    private void GemmHalfTensorCore(GemmArgs args, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c)
    {
        args.Aligned = Options.HalfVectorLoads ? HalfAlignment(args, ViewIndex(a), ViewIndex(b)) : 0;
        args.ExactEmulation = Options.ExactTensorCoreEmulation ? 1 : 0;
        if (Options.HalfTensorCoreOverride is { } lab && lab(args, a, b, c)) return;
        int batches = Math.Min(args.Batch, 65535);
        if (EffectiveTile(Options.HalfGemmTile, args.M, args.N, args.Batch) == GemmTile.Tile128)
        {
            const int E = GemmHalfKernels.Tile128;
            var tiles = new Index3D((args.N + E - 1) / E, (args.M + E - 1) / E, batches);
            if (Options.HalfLdmatrix && LdmatrixAligned(args, ViewIndex(a), ViewIndex(b)))
            {
                (args.AddressA, args.AddressB) = (a.LoadEffectiveAddressAsPtr().ToInt64(), b.LoadEffectiveAddressAsPtr().ToInt64());
                AsyncLauncher(args)(new KernelConfig(tiles, new Index3D(GemmHalfKernels.GroupThreadsWarp64, 1, 1)), a, b, c, args);
                return;
            }
            Load(ref _gemmHalf128, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>(
                    GemmHalfKernels.GemmHalfTensorCore128Kernel, GemmHalfKernels.Specialization128), Profile is null ? null : GemmShape(args))
                (new KernelConfig(tiles, new Index3D(GemmHalfKernels.GroupThreads128, 1, 1)), a, b, c, args);
            return;
        }
        var grid = new Index3D(
            (args.N + GemmHalfKernels.TileN - 1) / GemmHalfKernels.TileN,
            (args.M + GemmHalfKernels.TileM - 1) / GemmHalfKernels.TileM,
            batches);
        Load(ref _gemmHalf, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs>(GemmHalfKernels.GemmHalfTensorCoreKernel), Profile is null ? null : GemmShape(args))
            (new KernelConfig(grid, new Index3D(GemmHalfKernels.GroupThreads, 1, 1)), a, b, c, args);
    }

    /// <summary>The cp.async kernels (64x64 warps) by transpose pair (A transposed, B transposed) as a 2-bit index, with their profile names.</summary>
    private static readonly (string Name, Action<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs> Kernel)[] AsyncKernels =
    {
        ("gemmHalfAsyncW64NN", GemmHalfKernels.GemmHalfAsyncW64NNKernel), ("gemmHalfAsyncW64NT", GemmHalfKernels.GemmHalfAsyncW64NTKernel),
        ("gemmHalfAsyncW64TN", GemmHalfKernels.GemmHalfAsyncW64TNKernel), ("gemmHalfAsyncW64TT", GemmHalfKernels.GemmHalfAsyncW64TTKernel),
    };

    /// <summary>The cp.async kernel for the product's transpose pair, with its launch bounds, loaded through
    /// PtxLocalPromotion (CompiledPtx.LoadStreamKernel): left to ptxas, its inline-PTX operands stay in local
    /// memory (fp16-gemm-notes.md).</summary>
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, GemmArgs> AsyncLauncher(GemmArgs args)
    {
        int i = (args.TransA != 0 ? 2 : 0) + (args.TransB != 0 ? 1 : 0);
        var (name, kernel) = AsyncKernels[i];
        return Load(ref _gemmHalfAsync[i], acc => CompiledPtx.LoadStreamKernel(acc, kernel, GemmHalfKernels.SpecializationWarp64), Profile is null ? null : GemmShape(args), name);
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

    // ---- conv2d with float16 x, w and gy: GpuBackend.Conv.cs's paths with float16 columns and the
    // float16 GEMM (outputs and gcol float32)

    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ConvShape, int, int, int, int>? _unfoldHalf;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, int, int, int, int>? _swapImageChannelHalf;
    private ConvElement<ushort>? _convHalf;

    private ConvElement<ushort> ConvHalf => _convHalf ??= new()
    {
        View = s => S(s).F16,
        Scratch = n => { var s = ScratchHalf(n); return (s, s.F16); },
        Unfold = (x, col, g, n0, count, imageStride, rowStride) =>
            Load(ref _unfoldHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ConvShape, int, int, int, int>(ConvKernels.ConvUnfoldForwardKernel))
                (UnfoldConfig(g, count), x, col, Shape(g), n0, count, imageStride, rowStride),
        SwapImageChannel = (gy, gyT, n0, count, k, pq) =>
            Load(ref _swapImageChannelHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, int, int, int, int>(ConvKernels.ConvSwapImageChannelKernel))
                (Flat((long)count * k * pq), gy, gyT, n0, count, k, pq),
        Gemm = GemmHalfViews,
    };

    private GpuStorage ScratchHalf(long length)
    {
        if (length > int.MaxValue) throw new NativeCnnException($"GPU backend: a work buffer of {length} halves exceeds 2^31 elements; use a smaller batch");
        int n = (int)length;
        return new GpuStorage(this, DType.Float16, _pool.TryRent(DType.Float16, n) ?? NewBuffer(DType.Float16, n), n);
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
