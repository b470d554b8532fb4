// GPU GEMM launcher. Two float32 kernels with the same contract and the same summation order (each
// C element is one accumulator fed k = 0, 1, ... in turn), so they give bitwise the same results:
//   Tile64   kernels/NativeCnn.Kernels/Gemm.cs: 128 threads per 64x64 tile of C; small products
//   Tile128  kernels/NativeCnn.Kernels/GemmWide.cs: 256 threads per 128x128 tile; large products
// Auto picks Tile128 when the product has at least one 128x128 tile per SM, else Tile64 (more,
// smaller groups keep every SM busy); the float16 tensor-core kernels are chosen the same way
// (GpuBackend.Fp16.cs). Batches go along grid z; the kernels stride beyond its limit.
// Split-k: a product with few output tiles and a long k (conv backward-weight: K x CRS with k =
// images x pixels) would leave most SMs idle, so k is cut into segments whose partial products go to
// a pooled workspace as one batched GEMM, and a second pass sums them into C (alpha, beta there).
// The sums then run in another order, so a split result differs from an unsplit one by rounding.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? _gemm;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? _gemmWide;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, float>? _splitKSum;

    /// <summary>How many k segments a product gets: more than one only for one dense product (batch 1)
    /// with fewer 64x64 tiles than two per SM, aiming at four groups per SM, with at least 512 of k
    /// per segment, at most 256 segments; and, nearest to that within a third below or above, a count
    /// that divides k, so that every segment runs in one batched launch (an uneven last segment is a
    /// launch of its own: as long as all the others together, on a handful of groups).</summary>
    internal static int ChooseSplitK(int m, int n, int k, int batch, int multiprocessors)
    {
        if (batch != 1) return 1;
        const int T = GemmKernels.TileM;   // the 64x64 kernel's tile (TileM == TileN), the one split products run
        long tiles = (long)((m + T - 1) / T) * ((n + T - 1) / T);
        if (tiles >= 2L * multiprocessors) return 1;
        long byOccupancy = (4L * multiprocessors + tiles - 1) / tiles;
        int most = (int)Math.Clamp(k / 512, 1, 256);
        int target = (int)Math.Clamp(byOccupancy, 1, most);
        int low = (2 * target + 2) / 3, high = Math.Min(most, target * 4 / 3);   // a third below, a third above
        for (int d = 0; target - d >= low || target + d <= high; d++)
        {
            if (target - d >= low && k % (target - d) == 0) return target - d;
            if (target + d <= high && k % (target + d) == 0) return target + d;
        }
        return target;
    }

    private int SplitKFor(GemmArgs g) =>
        g.Batch != 1 || g.Ldc != g.N || g.K < 2 ? 1
        : Math.Min(Options.ForcedSplitK ?? ChooseSplitK(g.M, g.N, g.K, g.Batch, _acc.NumMultiprocessors), g.K);

    /// <summary>C = alpha op(A) op(B) + beta C in <paramref name="split"/> k segments: the partial products
    /// into a workspace (one batched launch of the full segments, one of the shorter last), then summed
    /// into C. Works for any operand element type through <paramref name="gemm"/>.</summary>
    private void GemmSplitK<T>(GemmArgs args, ArrayView<T> a, ArrayView<T> b, ArrayView<float> c, int split,
                               Action<GemmArgs, ArrayView<T>, ArrayView<T>, ArrayView<float>> gemm) where T : unmanaged
    {
        int ks = (args.K + split - 1) / split, segments = (args.K + ks - 1) / ks;
        int mn = args.M * args.N;
        int aStep = ks * (args.TransA != 0 ? args.Lda : 1), bStep = ks * (args.TransB != 0 ? 1 : args.Ldb);
        var parts = Scratch((long)segments * mn);
        var seg = args;
        seg.K = ks; seg.Ldc = args.N; seg.Alpha = 1f; seg.Beta = 0f;
        seg.StrideA = aStep; seg.StrideB = bStep; seg.StrideC = mn;
        if (args.K % ks == 0)
        {
            seg.Batch = segments;   // equal segments: one launch
            gemm(seg, a, b, parts.F32);
        }
        else
        {
            seg.Batch = segments - 1;
            gemm(seg, a, b, parts.F32);
            var last = seg;
            last.K = args.K - (segments - 1) * ks; last.Batch = 1;
            gemm(last, a.SubView((long)(segments - 1) * aStep), b.SubView((long)(segments - 1) * bStep), parts.F32.SubView((long)(segments - 1) * mn));
        }
        Load(ref _splitKSum, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, float>(GemmKernels.GemmSplitKSumKernel))
            (Flat(mn), parts.F32, c, segments, mn, args.Alpha, args.Beta);
        ReturnToPool(parts);
    }

    /// <summary>The tile <paramref name="setting"/> resolves to for an m x n product with this many batches.</summary>
    internal GemmTile EffectiveTile(GemmTile setting, int m, int n, int batch) =>
        setting != GemmTile.Auto ? setting : ChooseTile(m, n, batch, _acc.NumMultiprocessors);

    /// <summary>Auto's rule: 128x128 tiles once there are enough for 4/9 of the SMs (where the 128x128
    /// kernel was measured faster: benchmarks/results/h200.md); below that the 64x64 kernel's spread over
    /// more SMs is kept.</summary>
    internal static GemmTile ChooseTile(int m, int n, int batch, int multiprocessors)
    {
        const int Edge = GemmWideKernels.TileM;   // 128, as GemmHalfKernels.Tile128
        long tiles = (long)((m + Edge - 1) / Edge) * ((n + Edge - 1) / Edge) * Math.Max(1, batch);
        return m >= Edge && n >= Edge && 9 * tiles >= 4L * multiprocessors ? GemmTile.Tile128 : GemmTile.Tile64;
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                     Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
                     float beta, Storage c, int cOffset, int ldc,
                     int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
    {
        if (m == 0 || n == 0 || batch == 0) return;
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc,
            TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            Batch = batch, StrideA = strideA, StrideB = strideB, StrideC = strideC,
            Alpha = alpha, Beta = beta,
        };
        if (a.DType == DType.Float16 || b.DType == DType.Float16) { GemmHalf(args, a, aOffset, b, bOffset, c, cOffset); return; }   // GpuBackend.Fp16.cs
        GemmViews(args, F(a).SubView(aOffset), F(b).SubView(bOffset), F(c).SubView(cOffset));
    }

    /// <summary>Launches a float32 GEMM on views that start at each operand's first element (split in k when that pays).</summary>
    private void GemmViews(GemmArgs args, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        if (args.M == 0 || args.N == 0 || args.Batch == 0) return;
        Action<GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>> gemm = EffectiveTf32 ? GemmTf32 : GemmViewsUnsplit;   // GpuBackend.Tf32.cs
        if (SplitKFor(args) is var split and > 1) { GemmSplitK(args, a, b, c, split, gemm); return; }
        gemm(args, a, b, c);
    }

    /// <summary>"MxNxK", the transposes and the batch count: a GEMM's name in a KernelProfile.</summary>
    internal static string GemmShape(GemmArgs a) =>
        $"{a.M}x{a.N}x{a.K}{(a.TransA != 0 ? " tA" : "")}{(a.TransB != 0 ? " tB" : "")}{(a.Batch > 1 ? $" b{a.Batch}" : "")}";

    private void GemmViewsUnsplit(GemmArgs args, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        int batches = Math.Min(args.Batch, 65535);
        if (EffectiveTile(Options.FloatGemmTile, args.M, args.N, args.Batch) == GemmTile.Tile128)
        {
            var wide = new Index3D((args.N + GemmWideKernels.TileN - 1) / GemmWideKernels.TileN,
                                   (args.M + GemmWideKernels.TileM - 1) / GemmWideKernels.TileM, batches);
            // launch bounds (256 threads, 2 groups per SM) hold ptxas to 128 registers
            Load(ref _gemmWide, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(
                    GemmWideKernels.GemmWideKernel, GemmWideKernels.Specialization), Profile is null ? null : GemmShape(args))
                (new KernelConfig(wide, new Index3D(GemmWideKernels.GroupThreads, 1, 1)), a, b, c, args);
            return;
        }
        var grid = new Index3D((args.N + GemmKernels.TileN - 1) / GemmKernels.TileN,
                               (args.M + GemmKernels.TileM - 1) / GemmKernels.TileM, batches);
        Load(ref _gemm, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmKernels.GemmForwardKernel), Profile is null ? null : GemmShape(args))
            (new KernelConfig(grid, new Index3D(GemmKernels.GroupThreads, 1, 1)), a, b, c, args);
    }
}
