// GPU GEMM against a float64 reference: every transpose combination at sizes that cross the tile
// (64x64 and 128x128) and slice (16 and 8 deep) edges, alpha/beta (beta = 0 must ignore NaN in C),
// leading dimensions larger than the matrix, offsets, batches (including a shared A), k = 0, and
// 1x1x1; each float32 kernel pinned in turn, the two bitwise equal, and Auto's choice of kernel.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Gemm_TransposesEdgesAlphaBeta(GpuBackend gpu)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            GemmCheck(gpu, ta, tb, m: 70, n: 67, k: 35, alpha: 1f, beta: 0f, seed: 1);
            GemmCheck(gpu, ta, tb, m: 9, n: 130, k: 17, alpha: -0.5f, beta: 0.75f, seed: 2, pad: 3, offset: 5);
        }
        GemmCheck(gpu, false, false, m: 1, n: 1, k: 1, alpha: 2f, beta: 0f, seed: 3);
        GemmCheck(gpu, false, true, m: 5, n: 6, k: 0, alpha: 1f, beta: 0.5f, seed: 4);    // k = 0: C = beta * C
    }

    /// <summary>The 128x128 kernel on the same shapes, plus ones that cross its own tile and slice edges.</summary>
    public static void Gemm_Tile128Kernel(GpuBackend gpu) => WithFloatPath(gpu, GemmTile.Tile128, () =>
    {
        Gemm_TransposesEdgesAlphaBeta(gpu);
        Gemm_Batched(gpu);
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            GemmCheck(gpu, ta, tb, m: 131, n: 129, k: 21, alpha: 0.5f, beta: 0.25f, seed: 8, pad: 1, offset: 2);
        GemmCheck(gpu, false, true, m: 128, n: 128, k: 8, alpha: 1f, beta: 0f, seed: 9);
        GemmCheck(gpu, true, false, m: 140, n: 20, k: 16, alpha: 1f, beta: 0f, seed: 10, batch: 2);
    });

    public static void Gemm_Tile64Kernel(GpuBackend gpu) => WithFloatPath(gpu, GemmTile.Tile64, () =>
    {
        Gemm_TransposesEdgesAlphaBeta(gpu);
        GemmCheck(gpu, true, false, m: 131, n: 129, k: 21, alpha: 0.5f, beta: 0.25f, seed: 8, pad: 1, offset: 2);
    });

    /// <summary>Both kernels feed each C element's single accumulator k = 0, 1, ... in order, so
    /// which one Auto picks never changes a result.</summary>
    public static void Gemm_KernelsAgreeBitwise(GpuBackend gpu)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, true) })
        {
            int m = 150, n = 133, k = 70;
            var A = G.Rand(31, m * k); var B = G.Rand(32, k * n); var C = G.Rand(33, m * n);
            float[] Run(GemmTile path)
            {
                var sc = G.Up(gpu, C);
                WithFloatPath(gpu, path, () => gpu.Gemm(ta, tb, m, n, k, 0.75f, G.Up(gpu, A), 0, ta ? m : k, G.Up(gpu, B), 0, tb ? k : n, 0.5f, sc, 0, n));
                return G.Down(gpu, sc);
            }
            Assert.Equal(Run(GemmTile.Tile64), Run(GemmTile.Tile128));
        }
    }

    /// <summary>The device's Auto resolves through ChooseTile with its own SM count (the rule itself:
    /// GemmChoiceTests); a pinned tile wins.</summary>
    public static void Gemm_AutoChoosesByTilesPerSm(GpuBackend gpu)
    {
        var saved = gpu.Options.FloatGemmTile;
        try
        {
            gpu.Options.FloatGemmTile = GemmTile.Auto;
            Assert.Equal(GpuBackend.ChooseTile(300, 300, 1, gpu.Accelerator.NumMultiprocessors), gpu.EffectiveTile(gpu.Options.FloatGemmTile, 300, 300, 1));
            gpu.Options.FloatGemmTile = GemmTile.Tile64;
            Assert.Equal(GemmTile.Tile64, gpu.EffectiveTile(gpu.Options.FloatGemmTile, 4096, 4096, 1));
        }
        finally { gpu.Options.FloatGemmTile = saved; }
    }

    /// <summary>Split-k, forced: every transpose pair, segments that divide k and a shorter last one,
    /// alpha and beta applied in the summing pass (beta = 0 must ignore NaN in C); a C with ldc &gt; n
    /// is not split and must still be right.</summary>
    public static void Gemm_SplitK(GpuBackend gpu)
    {
        foreach (int split in new[] { 3, 7 })
            WithSplitK(gpu, split, () =>
            {
                foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
                {
                    GemmCheck(gpu, ta, tb, m: 20, n: 33, k: 300, alpha: 1f, beta: 0f, seed: 11);
                    GemmCheck(gpu, ta, tb, m: 70, n: 9, k: 129, alpha: -0.5f, beta: 0.75f, seed: 12);
                }
                GemmCheck(gpu, false, true, m: 12, n: 10, k: 90, alpha: 1f, beta: 1f, seed: 13, pad: 2);   // ldc > n: unsplit
                GemmCheck(gpu, false, false, m: 5, n: 6, k: 2, alpha: 1f, beta: 0.5f, seed: 14);           // k below the split
            });
    }

    /// <summary>The float32 conv through split-k GEMMs (backward-weight is the product it is for).</summary>
    public static void Gemm_SplitKInConv(GpuBackend gpu) => WithSplitK(gpu, 3, () => AgreeWithCpu_GemmAndConv(gpu));

    private static void WithSplitK(GpuBackend gpu, int split, Action run)
    {
        var saved = gpu.Options.ForcedSplitK;
        gpu.Options.ForcedSplitK = split;
        try { run(); }
        finally { gpu.Options.ForcedSplitK = saved; }
    }

    private static void WithFloatPath(GpuBackend gpu, GemmTile path, Action run)
    {
        var saved = gpu.Options.FloatGemmTile;
        gpu.Options.FloatGemmTile = path;
        try { run(); }
        finally { gpu.Options.FloatGemmTile = saved; }
    }

    public static void Gemm_Batched(GpuBackend gpu)
    {
        GemmCheck(gpu, false, false, m: 20, n: 33, k: 18, alpha: 1f, beta: 0f, seed: 5, batch: 3);
        GemmCheck(gpu, true, true, m: 20, n: 33, k: 18, alpha: 1f, beta: 1f, seed: 6, batch: 2);
        GemmCheck(gpu, false, true, m: 12, n: 10, k: 9, alpha: 1f, beta: 0f, seed: 7, batch: 3, sharedA: true);
    }

    /// <summary>Runs one GEMM on the GPU and compares every element of C (inside and outside the
    /// written region) with a float64 computation.</summary>
    private static void GemmCheck(GpuBackend gpu, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int seed,
                                  int pad = 0, int offset = 0, int batch = 1, bool sharedA = false)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int aSize = (ta ? k : m) * lda, bSize = (tb ? n : k) * ldb, cSize = m * ldc;
        int strideA = sharedA ? 0 : aSize + 2, strideB = bSize + 1, strideC = cSize + 3;
        var A = G.Rand(seed, offset + strideA * (batch - 1) + aSize + 1);
        var B = G.Rand(seed + 100, offset + strideB * (batch - 1) + bSize + 1);
        var C = G.Rand(seed + 200, offset + strideC * (batch - 1) + cSize + 1);
        if (beta == 0f) Array.Fill(C, float.NaN);      // never read when beta == 0
        var expected = C.Select(v => (double)v).ToArray();
        for (int bt = 0; bt < batch; bt++)
        {
            int ao = offset + bt * strideA, bo = offset + bt * strideB, co = offset + bt * strideC;
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)A[ao + (ta ? p * lda + i : i * lda + p)] * B[bo + (tb ? j * ldb + p : p * ldb + j)];
                double old = C[co + i * ldc + j];
                expected[co + i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * old);
            }
        }
        var sa = G.Up(gpu, A); var sb = G.Up(gpu, B); var sc = G.Up(gpu, C);
        gpu.Gemm(ta, tb, m, n, k, alpha, sa, offset, lda, sb, offset, ldb, beta, sc, offset, ldc, batch, strideA, strideB, strideC);
        var actual = G.Down(gpu, sc);
        // outside the matrices (padding, gaps between batches) C must be untouched: NaN stays NaN there
        G.Close(expected, actual, 1e-5, $"gemm ta={ta} tb={tb} m={m} n={n} k={k} batch={batch}");
    }
}
