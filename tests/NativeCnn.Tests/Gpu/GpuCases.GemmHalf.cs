// The float16 GEMM (float16 A and B, float32 accumulation and C) against float64 references, over
// random shapes that cross the 64x64 and 128x128 tile and 32-deep slice edges, every transpose pair,
// alpha/beta, leading dimensions and offsets, batches: both paths, the tensor-core kernels (on the
// simulator their mma is emulated from the real fragment words; all bitwise equal: GemmFp16.cs's two and
// the default cp.async ldmatrix kernel) and the widening path. The GPU lab runs the same cases on its kernel
// variants (benchmarks/NativeCnn.GpuLab/Cases). Two
// references: the float64 product of the float16-rounded inputs (what the kernel must compute, up to
// float32 accumulation) and of the original float32 inputs (what a user gets: float16 input rounding).
// Also the mixed-precision unscale-and-check primitive.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void GemmHalf_TensorCoreKernel(GpuBackend gpu)
    {
        // a CUDA device below sm_80 has no m16n8k16 mma: there the Widen path is the only one
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile64, () =>
        {
            HalfGemmShapes(gpu, seed: 11, count: gpu.Device.Kind == DeviceKind.Cuda ? 40 : 16);
            AlignedHalfGemms(gpu, GemmHalfKernels.TileM, seed: 16);
        });
    }

    /// <summary>Shapes whose operands the kernels read in 16-byte vectors (offsets, leading dimensions and
    /// batch strides multiples of 8 halves, k a multiple of 32), every transpose pair: one tile inside
    /// the matrix (vectors) and one across its edge (word by word); and the same with vector loads off.</summary>
    private static void AlignedHalfGemms(GpuBackend gpu, int tile, int seed)
    {
        Assert.Equal(3, GpuBackend.HalfAlignment(new GemmArgs { K = 64, Lda = 72, Ldb = 80, Batch = 2, StrideA = 800, StrideB = 8 }, 8, 16));
        Assert.Equal(2, GpuBackend.HalfAlignment(new GemmArgs { K = 64, Lda = 72, Ldb = 80, Batch = 1 }, 4, 16));
        Assert.Equal(1, GpuBackend.HalfAlignment(new GemmArgs { K = 64, Lda = 72, Ldb = 82, Batch = 1 }, 0, 0));
        Assert.Equal(0, GpuBackend.HalfAlignment(new GemmArgs { K = 48, Lda = 72, Ldb = 80, Batch = 1 }, 0, 0));
        Assert.Equal(1, GpuBackend.HalfAlignment(new GemmArgs { K = 64, Lda = 72, Ldb = 80, Batch = 2, StrideA = 800, StrideB = 4 }, 0, 0));
        foreach (bool vectors in new[] { true, false })
        {
            gpu.Options.HalfVectorLoads = vectors;
            try
            {
                foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                    HalfGemmCheck(gpu, ta, tb, tile + 8, tile + 16, 64, 1f, 0.5f, seed: seed++, pad: 8, offset: 8, batch: 2, alignedStrides: true);
            }
            finally { gpu.Options.HalfVectorLoads = true; }
        }
    }

    /// <summary>The 128x128 tensor-core kernel (8 warps of 64x32) on random shapes and on ones that
    /// cross its own edges.</summary>
    public static void GemmHalf_TensorCore128Kernel(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile128, () =>
        {
            HalfGemmShapes(gpu, seed: 13, count: gpu.Device.Kind == DeviceKind.Cuda ? 40 : 12);
            HalfGemmCheck(gpu, false, false, 128, 128, 32, 1f, 0f, seed: 14);        // exactly one tile and slice
            foreach (var (ta, tb) in new[] { (false, true), (true, false) })
                HalfGemmCheck(gpu, ta, tb, 131, 129, 45, 0.5f, 0.75f, seed: 15, pad: 1, offset: 2);
            AlignedHalfGemms(gpu, GemmHalfKernels.Tile128, seed: 17);
        });
    }

    /// <summary>Both tensor-core kernels feed every accumulator the same mma sequence in the same k
    /// order: the tile the backend picks never changes a result.</summary>
    public static void GemmHalf_TensorCoreKernelsAgreeBitwise(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        int m = 150, n = 133, k = 70;
        var a = Half16(gpu, G.Rand(41, m * k)); var b = Half16(gpu, G.Rand(42, k * n));
        var c0 = G.Rand(43, m * n);
        float[] Run(GemmTile tile)
        {
            var sc = G.Up(gpu, c0);
            WithHalfPath(gpu, HalfGemmPath.TensorCore, tile, () => gpu.Gemm(true, false, m, n, k, 0.75f, a, 0, m, b, 0, n, 0.5f, sc, 0, n));
            return G.Down(gpu, sc);
        }
        Assert.Equal(Run(GemmTile.Tile64), Run(GemmTile.Tile128));
    }

    /// <summary>The default kernel for aligned 128x128 products: cp.async, ldmatrix, 4 warps of 64x64
    /// (GemmFp16Async.cs; its instructions emulated on the simulator, where each copy is the cp.async's source,
    /// byte count and destination done at once; on CUDA it runs from PtxLocalPromotion's PTX): every transpose
    /// pair, edges in m, n and k (k not a multiple of 8: part chunks; runs of 5 slices: the ring of 3 comes
    /// round), batches, offsets; GemmFp16.cs's 128x128 kernel for unaligned operands; the profile says which ran.</summary>
    public static void GemmHalf_AsyncWarp64Kernel(GpuBackend gpu)
    {
        Assert.True(GpuBackend.LdmatrixAligned(new GemmArgs { K = 45, Lda = 48, Ldb = 136, Batch = 2, StrideA = 960, StrideB = 8 }, 8, 16));
        Assert.False(GpuBackend.LdmatrixAligned(new GemmArgs { K = 45, Lda = 48, Ldb = 136, Batch = 1 }, 4, 16));
        Assert.False(GpuBackend.LdmatrixAligned(new GemmArgs { K = 45, Lda = 48, Ldb = 130, Batch = 1 }, 0, 0));
        Assert.False(GpuBackend.LdmatrixAligned(new GemmArgs { K = 45, Lda = 48, Ldb = 136, Batch = 2, StrideA = 960, StrideB = 4 }, 0, 0));
        LdmatrixShapes(gpu, DefaultLdmatrixKernel);
    }

    /// <summary>The profile name's stem of the default ldmatrix kernel (the transpose pair follows).</summary>
    private const string DefaultLdmatrixKernel = "gemmHalfAsyncW64";

    /// <summary>The default kernel, every transpose pair on a GPU (on the simulator one pair: the others run the same
    /// steps), one 128x128x32 product each, with the GPU path itself running on the simulator: its wiring of
    /// ldmatrix registers to mma operands, which the fast emulation of the other cases does not see, with the two
    /// instructions emulated one by one by the PTX ISA (warp shuffles). On a GPU the real instructions.</summary>
    public static void GemmHalf_LdmatrixInstructionByInstruction(GpuBackend gpu) => LdmatrixInstructionByInstruction(gpu, null);

    /// <summary>LdmatrixInstructionByInstruction for the kernel <paramref name="select"/> makes the backend's (null: the default).</summary>
    private static void LdmatrixInstructionByInstruction(GpuBackend gpu, Action? select, bool allPairsOnSimulator = false)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        gpu.Options.ExactTensorCoreEmulation = true;
        try
        {
            var pairs = gpu.Device.Kind == DeviceKind.Cuda || allPairsOnSimulator
                ? new[] { (false, false), (false, true), (true, false), (true, true) } : new[] { (true, true) };
            WithLdmatrix(gpu, select, () =>
            {
                foreach (var (ta, tb) in pairs)
                    HalfGemmCheck(gpu, ta, tb, 128, 128, 32, 1f, 0.5f, seed: 60 + (ta ? 2 : 0) + (tb ? 1 : 0));
            });
        }
        finally { gpu.Options.ExactTensorCoreEmulation = false; }
    }

    /// <summary>The shapes every ldmatrix and cp.async case runs (nothing on a CUDA device without tensor cores), on
    /// the kernel <paramref name="select"/> makes the backend's (null: the default), whose profile names start
    /// with <paramref name="expected"/>.</summary>
    private static void LdmatrixShapes(GpuBackend gpu, string expected, Action? select = null)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithLdmatrix(gpu, select, () =>
        {
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                {
                    HalfGemmCheck(gpu, ta, tb, 128, 128, 32, 1f, 0f, seed: 18);                      // one tile, one slice
                    HalfGemmCheck(gpu, ta, tb, 200, 136, 45, 0.5f, 0.75f, seed: 19, offset: 8, batch: 2,
                                  alignedStrides: true, ldMultiple: 8);                                // every edge; 2 slices
                }
                HalfGemmCheck(gpu, false, false, 136, 256, 130, -0.5f, 0f, seed: 20, ldMultiple: 8);  // 5 slices: the buffers alternate
                HalfGemmCheck(gpu, false, true, 8, 16, 0, 1f, 0.5f, seed: 21, ldMultiple: 8);          // k = 0: C = beta * C
                HalfGemmCheck(gpu, true, false, 256, 136, 160, 1f, 0f, seed: 22, ldMultiple: 8);      // 5 slices, A transposed
                foreach (var (ta, tb) in new[] { (false, false), (true, true) })                        // part chunks of 1..7 halves
                    for (int rest = 1; rest <= 7; rest += 3)
                        HalfGemmCheck(gpu, ta, tb, 128 + rest, 136 + rest, 32 + rest, 1f, 0f, seed: 25 + rest, ldMultiple: 8);
                var r = new Random(23);
                for (int i = 0, count = gpu.Device.Kind == DeviceKind.Cuda ? 40 : 6; i < count; i++)
                    HalfGemmCheck(gpu, r.Next(2) == 1, r.Next(2) == 1, r.Next(1, 300), r.Next(1, 300), r.Next(1, 140), 1f,
                                  r.Next(2) == 0 ? 0.5f : 0f, seed: 300 + i, offset: 8 * r.Next(2), ldMultiple: 8);
            }
            finally { gpu.EndProfile(); }
            // every product ran on the kernel asked for (gemmHalf{Ldmatrix|Async}[W64]{NN|NT|TN|TT})
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith(expected, StringComparison.Ordinal));
            Assert.All(profile.Entries.Where(e => e.Kernel.StartsWith("gemmHalf", StringComparison.Ordinal)),
                       e => Assert.Matches($"^{expected}(NN|NT|TN|TT) ", e.Kernel));

            // an operand at an odd offset cannot be moved in 16-byte chunks: GemmFp16.cs's kernel takes it
            profile = gpu.Profile = new KernelProfile();
            try { HalfGemmCheck(gpu, false, true, 130, 129, 40, 1f, 0f, seed: 24, offset: 3); }
            finally { gpu.EndProfile(); }
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("gemmHalf128 ", StringComparison.Ordinal));
        });
    }

    /// <summary>Runs on the tensor-core path's 128x128 products with the default ldmatrix kernel on, then
    /// <paramref name="select"/> (the GPU lab's kernels: it installs its override).</summary>
    private static void WithLdmatrix(GpuBackend gpu, Action? select, Action run) =>
        WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile128, () =>
        {
            // restored as found: the GPU lab may have made another kernel the run's own (--half-ldmatrix)
            var o = gpu.Options;
            var saved = (o.HalfLdmatrix, o.HalfTensorCoreOverride);
            (o.HalfLdmatrix, o.HalfTensorCoreOverride) = (true, null);
            try
            {
                select?.Invoke();
                run();
            }
            finally { (o.HalfLdmatrix, o.HalfTensorCoreOverride) = saved; }
        });

    /// <summary>The default ldmatrix kernel gives every accumulator the same mma sequence as GemmFp16.cs's 128x128
    /// kernel (zeros past the edges in both): bitwise the same C.</summary>
    public static void GemmHalf_LdmatrixAgreesBitwise(GpuBackend gpu) => LdmatrixAgreesBitwise(gpu);

    /// <summary>GemmFp16.cs's 128x128 kernel against the default ldmatrix kernel and each kernel a selector makes the backend's.</summary>
    private static void LdmatrixAgreesBitwise(GpuBackend gpu, params Action[] selectors)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        int m = 152, n = 136, k = 70;   // A stored (k, m) and B (k, n): leading dimensions multiples of 8
        var a = Half16(gpu, G.Rand(44, m * k)); var b = Half16(gpu, G.Rand(45, k * n));
        var c0 = G.Rand(46, m * n);
        float[] Run(Action? select, bool ldmatrix = true)
        {
            var sc = G.Up(gpu, c0);
            WithLdmatrix(gpu, () => { gpu.Options.HalfLdmatrix = ldmatrix; select?.Invoke(); },
                         () => gpu.Gemm(true, false, m, n, k, 0.75f, a, 0, m, b, 0, n, 0.5f, sc, 0, n));
            return G.Down(gpu, sc);
        }
        var reference = Run(null, ldmatrix: false);
        Assert.Equal(reference, Run(null));
        foreach (var select in selectors) Assert.Equal(reference, Run(select));
    }

    public static void GemmHalf_WidenPath(GpuBackend gpu) =>
        WithHalfPath(gpu, HalfGemmPath.Widen, () => HalfGemmShapes(gpu, seed: 12, count: 12));

    /// <summary>The path the backend picks by itself: the tensor-core kernels on CUDA sm_80+, Widen on the simulator;
    /// there an aligned 128x128 product runs on the ldmatrix kernel the backend is set to (by default the cp.async
    /// one with 64x64 warps, gemmHalfAsyncW64; the GPU lab may have chosen another for its run).</summary>
    public static void GemmHalf_AutoPathThroughGemm(GpuBackend gpu)
    {
        var expected = gpu.Device.Kind == DeviceKind.Cuda && CanUseTensorCores(gpu) ? HalfGemmPath.TensorCore : HalfGemmPath.Widen;
        WithHalfPath(gpu, HalfGemmPath.Auto, () =>
        {
            Assert.Equal(expected, gpu.EffectiveHalfGemm);
            HalfGemmCheck(gpu, false, false, 130, 67, 45, 1f, 0f, seed: 21);
            HalfGemmCheck(gpu, true, true, 33, 129, 64, 0.5f, 1f, seed: 22, batch: 2);
            if (expected != HalfGemmPath.TensorCore || gpu.Options.HalfTensorCoreOverride is not null || !gpu.Options.HalfLdmatrix) return;
            var profile = gpu.Profile = new KernelProfile();
            try { HalfGemmCheck(gpu, false, false, 1024, 1024, 64, 1f, 0f, seed: 23); }   // 64 tiles: Auto's 128x128 kernel
            finally { gpu.EndProfile(); }
            string kernel = DefaultLdmatrixKernel + "NN ";
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith(kernel, StringComparison.Ordinal));
        });
    }

    /// <summary>One float16 operand and one float32: the float16 one is widened (exact), the product is float32.</summary>
    public static void GemmHalf_MixedOperands(GpuBackend gpu)
    {
        int m = 19, n = 23, k = 37;
        var A = G.Rand(31, m * k); var B = G.Rand(32, k * n);
        var ah = Half16(gpu, A);
        var sb = G.Up(gpu, B);
        var sc = G.Out(gpu, m * n);
        gpu.Gemm(false, false, m, n, k, 1f, ah, 0, k, sb, 0, n, 0f, sc, 0, n);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)(float)(Half)A[i * k + p] * B[p * n + j];
            expected[i * n + j] = s;
        }
        G.Close(expected, G.Down(gpu, sc), 2e-5, "half x float gemm");
    }

    public static void UnscaleGradients_FindsInfAndNaNInOnePass(GpuBackend gpu)
    {
        var values = G.Rand(41, 300, -100f, 100f);
        var gh = Half16(gpu, values);
        var g32 = G.Up(gpu, values);
        var master = G.Out(gpu, 300);
        var found = G.Up(gpu, new[] { 0f });
        gpu.UnscaleGradients(gh, master, 300, 1f / 1024, found);
        gpu.UnscaleGradients(g32, master, 300, 1f / 1024, found);   // float32 grads (batch norm) too
        Assert.Equal(0f, G.Down(gpu, found)[0]);
        G.Close(values.Select(v => (double)v / 1024).ToArray(), G.Down(gpu, master), 1e-7, "float32 grad unscaled");
        foreach (var bad in new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN, 70000f /* overflows float16 */ })
        {
            var v = (float[])values.Clone();
            v[257] = bad;
            var f = G.Up(gpu, new[] { 0f });
            gpu.UnscaleGradients(Half16(gpu, v), G.Out(gpu, 300), 300, 0.5f, f);
            Assert.Equal(1f, G.Down(gpu, f)[0]);
            if (!float.IsFinite(bad)) continue;
            var f32 = G.Up(gpu, new[] { 0f });
            gpu.UnscaleGradients(G.Up(gpu, v), G.Out(gpu, 300), 300, 0.5f, f32);
            Assert.Equal(0f, G.Down(gpu, f32)[0]);   // 70000 is a finite float32
        }
        // the flag is never cleared by a clean pass
        var kept = G.Up(gpu, new[] { 1f });
        gpu.UnscaleGradients(gh, master, 300, 1f, kept);
        Assert.Equal(1f, G.Down(gpu, kept)[0]);
    }

    private static bool CanUseTensorCores(GpuBackend gpu)
    {
        var saved = gpu.Options.HalfGemm;
        gpu.Options.HalfGemm = HalfGemmPath.Auto;
        bool tc = gpu.EffectiveHalfGemm == HalfGemmPath.TensorCore;
        gpu.Options.HalfGemm = saved;
        return tc;
    }

    private static void WithHalfPath(GpuBackend gpu, HalfGemmPath path, Action run) => WithHalfPath(gpu, path, GemmTile.Auto, run);

    /// <summary>Runs with the float16 path and tile as given. An explicit tile names GemmFp16.cs's kernel of that
    /// tile: the ldmatrix kernels (the default for aligned 128x128 products) are off inside, unless
    /// <paramref name="run"/> turns one on (WithLdmatrix); with GemmTile.Auto the device's default kernels run.</summary>
    private static void WithHalfPath(GpuBackend gpu, HalfGemmPath path, GemmTile tile, Action run)
    {
        var o = gpu.Options;
        var saved = (o.HalfGemm, o.HalfGemmTile, o.HalfLdmatrix);
        o.HalfGemm = path;
        o.HalfGemmTile = tile;
        if (tile != GemmTile.Auto) o.HalfLdmatrix = false;
        try { run(); }
        finally { (o.HalfGemm, o.HalfGemmTile, o.HalfLdmatrix) = saved; }
    }

    /// <summary>Random sizes (1..150 rows and columns, 1..100 deep, so most are not multiples of the
    /// tiles), random transposes, and a few fixed edge shapes.</summary>
    private static void HalfGemmShapes(GpuBackend gpu, int seed, int count)
    {
        var r = new Random(seed);
        HalfGemmCheck(gpu, false, false, 64, 64, 32, 1f, 0f, seed);           // exactly one tile and slice
        HalfGemmCheck(gpu, true, false, 1, 1, 1, 2f, 0f, seed + 1);
        HalfGemmCheck(gpu, false, true, 5, 6, 0, 1f, 0.5f, seed + 2);           // k = 0: C = beta * C
        for (int i = 0; i < count; i++)
        {
            bool ta = r.Next(2) == 1, tb = r.Next(2) == 1;
            int m = r.Next(1, 151), n = r.Next(1, 151), k = r.Next(1, 101);
            float beta = r.Next(3) == 0 ? 0.75f : 0f;
            HalfGemmCheck(gpu, ta, tb, m, n, k, r.Next(2) == 0 ? 1f : -0.5f, beta, seed * 100 + i,
                          pad: r.Next(3), offset: r.Next(4), batch: r.Next(4) == 0 ? 2 : 1);
        }
    }

    /// <summary>A float16 copy of <paramref name="values"/> on the device (rounded to nearest even).</summary>
    private static Storage Half16(IBackend b, float[] values)
    {
        var f = G.Up(b, values);
        var h = b.Allocate(DType.Float16, values.Length);
        b.Cast(f, h);
        return h;
    }

    private static void HalfGemmCheck(GpuBackend gpu, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int seed,
                                      int pad = 0, int offset = 0, int batch = 1, bool alignedStrides = false, int ldMultiple = 1)
    {
        static int Round(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
        int lda = Round((ta ? m : k) + pad, ldMultiple), ldb = Round((tb ? k : n) + pad, ldMultiple), ldc = n + pad;
        int aSize = (ta ? k : m) * lda, bSize = (tb ? n : k) * ldb, cSize = m * ldc;
        int strideA = aSize + (alignedStrides ? 8 : 2), strideB = bSize + (alignedStrides ? 8 : 1), strideC = cSize + 3;
        var A = G.Rand(seed, offset + strideA * (batch - 1) + aSize + 1);
        var B = G.Rand(seed + 100, offset + strideB * (batch - 1) + bSize + 1);
        var C = G.Rand(seed + 200, offset + strideC * (batch - 1) + cSize + 1);
        if (beta == 0f) Array.Fill(C, float.NaN);      // never read when beta == 0
        var rounded = C.Select(v => (double)v).ToArray();   // reference from the float16-rounded inputs
        var exact = C.Select(v => (double)v).ToArray();     // reference from the float32 inputs
        static double H(float v) => (double)(float)(Half)v;
        for (int bt = 0; bt < batch; bt++)
        {
            int ao = offset + bt * strideA, bo = offset + bt * strideB, co = offset + bt * strideC;
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, se = 0;
                for (int p = 0; p < k; p++)
                {
                    float a = A[ao + (ta ? p * lda + i : i * lda + p)], b = B[bo + (tb ? j * ldb + p : p * ldb + j)];
                    s += H(a) * H(b);
                    se += (double)a * b;
                }
                double old = C[co + i * ldc + j];
                rounded[co + i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * old);
                exact[co + i * ldc + j] = alpha * se + (beta == 0 ? 0 : beta * old);
            }
        }
        var sc = G.Up(gpu, C);
        gpu.Gemm(ta, tb, m, n, k, alpha, Half16(gpu, A), offset, lda, Half16(gpu, B), offset, ldb, beta, sc, offset, ldc,
                 batch, strideA, strideB, strideC);
        var actual = G.Down(gpu, sc);
        string what = $"half gemm ({gpu.EffectiveHalfGemm}) ta={ta} tb={tb} m={m} n={n} k={k} batch={batch} pad={pad} offset={offset}";
        // float32 accumulation of exact float16 products: only the summation order differs
        G.Close(rounded, actual, 2e-5, what);
        // against the float32 inputs: the relative error of the norm is float16 input rounding, ~1e-3
        double num = 0, den = 0;
        for (int i = 0; i < exact.Length; i++)
        {
            if (double.IsNaN(exact[i])) continue;
            num += (actual[i] - exact[i]) * (actual[i] - exact[i]);
            den += exact[i] * exact[i];
        }
        double rel = den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
        Assert.True(rel < 5e-3, $"{what}: relative norm error {rel:E2} against the float32 inputs");
    }
}
