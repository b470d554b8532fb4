// The Gemm primitive against a float64 reference: every transpose combination, sizes that are not
// multiples of any tile or block (1, 3, 17, 31, 33, 65, 129; k across the 256 depth block, n across
// the 512-column block), alpha/beta (beta = 0 must not read a NaN-filled C), offsets, leading
// dimensions wider than the rows, batches with strides (including a shared B), the parallel path,
// and every micro-kernel this CPU can run. Elements outside C must come back untouched.
using NativeCnn.Backends.Cpu;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class GemmTests
{
    private const float Sentinel = 12345f;

    /// <summary>The micro-kernels runnable here: the portable Vector128 one always, the wider ones when accelerated.</summary>
    /// (By name: the enum is internal and xunit theories are public.)
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string> { nameof(GemmKernel.Vector128) };
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported)
            data.Add(nameof(GemmKernel.Vector256));
        if (CpuGemm.Best == GemmKernel.Vector512) data.Add(nameof(GemmKernel.Vector512));
        return data;
    }

    private static GemmKernel Kind(string name) => Enum.Parse<GemmKernel>(name);

    private static readonly (int M, int N, int K)[] OddShapes =
    {
        (1, 1, 1), (1, 33, 17), (17, 1, 65), (3, 17, 31), (31, 33, 3), (33, 65, 17), (65, 31, 129),
        (129, 3, 33), (8, 32, 256), (9, 33, 257), (16, 64, 513), (17, 530, 20),
        // k = 1 and 2 (no whole 8-step transpose), whole 6/8-row panels, a 9-column edge panel; on the
        // 256-bit path M = 1, 8, 3 and 16 leave a last panel of 1-4 rows, run in place by the 2- and
        // 4-row kernels (odd depths: their last single step; K = 257, 513: several depth blocks)
        (12, 48, 1), (7, 70, 2), (24, 96, 8), (6, 16, 9), (48, 9, 40),
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AllTransposesAndOddSizesMatchFloat64(string kernelName)
    {
        var kernel = Kind(kernelName);
        foreach (var (m, n, k) in OddShapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    Case.Run(kernel, ta, tb, m, n, k, seed: m * 31 + n * 7 + k);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AlphaAndBetaScaleAsBlas(string kernelName)
    {
        var kernel = Kind(kernelName);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                Case.Run(kernel, ta, tb, 19, 37, 45, alpha: 2.5f, beta: 0f);       // C is NaN before: must not be read
                Case.Run(kernel, ta, tb, 19, 37, 45, alpha: 1f, beta: 1f);
                Case.Run(kernel, ta, tb, 19, 37, 300, alpha: -0.75f, beta: -1.5f); // beta applied once across depth blocks
            }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void OffsetsLeadingDimensionsAndBatches(string kernelName)
    {
        var kernel = Kind(kernelName);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                Case.Run(kernel, ta, tb, 13, 35, 21, alpha: 1f, beta: 0.5f, pad: 5, offset: 7);
                Case.Run(kernel, ta, tb, 9, 40, 17, alpha: 1f, beta: 0f, pad: 3, offset: 2, batch: 3);
                Case.Run(kernel, ta, tb, 9, 40, 17, alpha: 1f, beta: 1f, batch: 4, shareB: true);
            }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void LargeEnoughToRunInParallel(string kernelName)
    {
        var kernel = Kind(kernelName);
        // 2*m*n*k is above CpuGemm.ParallelFlops, so blocks run on the thread pool; odd sizes make
        // every block boundary fall inside a tile.
        Assert.True(2.0 * 161 * 203 * 131 > CpuGemm.ParallelFlops);
        Assert.True(2.0 * 13 * 37 * 61 * 150 > CpuGemm.ParallelFlops);
        // (The split into blocks does not depend on the transposes, which the other tests cover.)
        Case.Run(kernel, false, false, 161, 203, 131, alpha: 1f, beta: 0f);
        Case.Run(kernel, true, true, 161, 203, 131, alpha: 0.5f, beta: 2f);
        Case.Run(kernel, false, true, 37, 61, 150, alpha: 1f, beta: 0f, batch: 13);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void SmallOutputsSplitTheirDepthAcrossThreads(string kernelName)
    {
        var kernel = Kind(kernelName);
        // A first conv layer's weight gradient, scaled: 20 x 9 outputs over a long depth is one block
        // in m and n, so two threads share the depth and sum their parts.
        int saved = CpuGemm.MaxThreads;
        CpuGemm.MaxThreads = Math.Max(2, saved);
        try
        {
            Assert.True(2.0 * 20 * 9 * 24001 > CpuGemm.ParallelFlops);
            Assert.True(CpuGemm.DepthParts(20, 9, 24001, 2) > 1);
            Case.Run(kernel, false, true, 20, 9, 24001, alpha: 1f, beta: 0f);
            Case.Run(kernel, true, false, 20, 9, 24001, alpha: -0.5f, beta: 1.5f, pad: 3, offset: 5);
            Case.Run(kernel, false, false, 9, 20, 24001, alpha: 2f, beta: 0f);
        }
        finally { CpuGemm.MaxThreads = saved; }
        // Too many outputs to keep a copy per part, or too little depth to share: no split.
        Assert.Equal(1, CpuGemm.DepthParts(512, 512, 24001, 2));
        Assert.Equal(1, CpuGemm.DepthParts(20, 9, 300, 2));
    }

    [Fact]
    public void ParallelSplitGivesEachThreadSeveralBlocks()
    {
        // mnist_cnn's conv3 forward (128 x 3136 x 576): 16 row panels of 8, 98 column panels of 32,
        // 7 column blocks of at most 512 columns; two threads get at least 4 blocks each.
        var (mItems, nItems) = CpuGemm.Split(128, 3136, 576, 1, 16, 98, 7, 2);
        Assert.True(mItems * nItems >= CpuGemm.ItemsPerThread * 2, $"{mItems} x {nItems} blocks");
        // One tile has nothing to split.
        Assert.Equal((1, 1), CpuGemm.Split(8, 8, 8, 1, 1, 1, 1, 2));
    }

    [Fact]
    public void BackendAdapterRunsTheBestKernel()
    {
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                Case.Run(null, ta, tb, 45, 70, 33, alpha: 1.5f, beta: 0.25f, pad: 2, offset: 3, batch: 2);
    }

    [Fact]
    public void ZeroDepthOrZeroAlphaOnlyScalesC()
    {
        foreach (bool ta in new[] { false, true })
        {
            Case.Run(null, ta, false, 7, 9, 0, alpha: 1f, beta: 0f);   // NaN C becomes zeros
            Case.Run(null, ta, false, 7, 9, 0, alpha: 1f, beta: 3f);
            Case.Run(null, ta, true, 7, 9, 5, alpha: 0f, beta: -2f, nanInputs: true); // A and B not read
        }
    }

    [Fact]
    public void ArgumentsOutsideTheBuffersAreRejected()
    {
        var be = CpuBackend.Instance;
        var a = be.FromHost(new float[6]);   // 2 x 3
        var b = be.FromHost(new float[12]);  // 3 x 4
        var c = be.FromHost(new float[8]);   // 2 x 4
        be.Gemm(false, false, 2, 4, 3, 1f, a, 0, 3, b, 0, 4, 0f, c, 0, 4); // fits
        var ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 4, 3, 1f, a, 0, 2, b, 0, 4, 0f, c, 0, 4));
        Assert.Contains("leading dimension of A", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 4, 3, 1f, a, 1, 3, b, 0, 4, 0f, c, 0, 4));
        Assert.Contains("A (2 x 3", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, true, 2, 4, 3, 1f, a, 0, 3, b, 0, 2, 0f, c, 0, 4));
        Assert.Contains("leading dimension of B", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 4, 3, 1f, a, 0, 3, b, 0, 4, 0f, c, 0, 4, batch: 2, strideC: 0));
        Assert.Contains("strideC 0", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 4, 3, 1f, a, 0, 3, b, 0, 4, 0f, c, 0, 4, batch: 2, strideC: 7));
        Assert.Contains("overlap", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => be.Gemm(false, false, 2, 4, 3, 1f, a, 0, 3, b, 0, 4, 0f, c, 0, 4, batch: 2, strideC: 8));
        Assert.Contains("C (2 x 4", ex.Message);
    }

    /// <summary>Builds padded, offset, batched buffers, runs one Gemm, and checks every element of C
    /// against float64 and every other element of the C buffer for being untouched.</summary>
    private static class Case
    {
        public static void Run(GemmKernel? kernel, bool ta, bool tb, int m, int n, int k, float alpha = 1f, float beta = 0f,
                               int pad = 0, int offset = 0, int batch = 1, bool shareB = false, bool nanInputs = false, int seed = 1)
        {
            var rng = new Random(seed);
            // Stored (row-major) shapes: A is (m, k) or (k, m) transposed; B is (k, n) or (n, k).
            int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
            int lda = Math.Max(1, aCols + pad), ldb = Math.Max(1, bCols + pad), ldc = n + pad;
            int strideA = aRows * lda + 5, strideB = shareB ? 0 : bRows * ldb + 3, strideC = m * ldc + 7;
            var a = Buffer(offset + (batch - 1) * strideA + aRows * lda + 4, rng, nanInputs);
            var b = Buffer(offset + (batch - 1) * strideB + bRows * ldb + 4, rng, nanInputs);
            var c = new float[offset + (batch - 1) * strideC + m * ldc + 6];
            var inC = new bool[c.Length];
            for (int bt = 0; bt < batch; bt++)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) inC[offset + bt * strideC + i * ldc + j] = true;
            for (int i = 0; i < c.Length; i++)
                c[i] = !inC[i] ? Sentinel : beta == 0 ? float.NaN : (float)(rng.NextDouble() * 2 - 1);
            var c0 = (float[])c.Clone();

            if (kernel is { } kind)
                CpuGemm.Run(kind, ta, tb, m, n, k, alpha, a, offset, lda, b, offset, ldb, beta, c, offset, ldc, batch, strideA, strideB, strideC);
            else
            {
                var be = CpuBackend.Instance;
                var cs = be.FromHost(c);
                be.Gemm(ta, tb, m, n, k, alpha, be.FromHost(a), offset, lda, be.FromHost(b), offset, ldb, beta, cs, offset, ldc, batch, strideA, strideB, strideC);
                be.ToHost(cs, 0, c);
            }

            string what = $"{kernel?.ToString() ?? "backend"} transA={ta} transB={tb} m={m} n={n} k={k} alpha={alpha} beta={beta} pad={pad} offset={offset} batch={batch}";
            for (int i = 0; i < c.Length; i++)
                if (!inC[i] && BitConverter.SingleToInt32Bits(c[i]) != BitConverter.SingleToInt32Bits(c0[i]))
                    throw new Xunit.Sdk.XunitException($"{what}: element {i} outside C changed to {c[i]}");
            for (int bt = 0; bt < batch; bt++)
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double sum = 0, abs = 0;
                        if (alpha != 0)
                            for (int p = 0; p < k; p++)
                            {
                                double av = a[offset + bt * strideA + (ta ? p * lda + i : i * lda + p)];
                                double bv = b[offset + bt * strideB + (tb ? j * ldb + p : p * ldb + j)];
                                sum += av * bv;
                                abs += Math.Abs(av * bv);
                            }
                        int at = offset + bt * strideC + i * ldc + j;
                        double old = beta == 0 ? 0 : c0[at];
                        double expected = alpha * sum + beta * old;
                        // float32 accumulation over k terms: error bounded by about k * eps * sum|a*b|.
                        double tol = (k * 1.2e-7 + 1e-6) * (Math.Abs(alpha) * abs + Math.Abs(beta * old)) + 1e-30;
                        if (!(Math.Abs(c[at] - expected) <= tol))
                            throw new Xunit.Sdk.XunitException($"{what}: C[{bt}][{i},{j}] = {c[at]}, expected {expected} (tolerance {tol:E2})");
                    }
        }

        private static float[] Buffer(int length, Random rng, bool nan)
        {
            var v = new float[length];
            for (int i = 0; i < length; i++) v[i] = nan ? float.NaN : (float)(rng.NextDouble() * 2 - 1);
            return v;
        }
    }
}
