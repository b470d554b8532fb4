// The CPU kernel paths (CpuInfo.cs): every path this CPU runs is forced in turn and the GEMM and
// convolution cases (shapes of the benchmark's layers, scaled down, with edges, depth blocks and the
// parallel path) are checked against float64 references, forward and both gradients; the paths must
// also agree with each other. Plus the pieces the paths stand on: the detection's description, the
// override's parsing, the dynamic parallel loop and the per-primitive profile.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Backends;

// CpuInfo.Select is process-wide: classes that switch the path share one collection, so xunit
// never runs two of them at once.
[Collection("CPU path switching")]
public class CpuPathTests
{
    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        foreach (var p in CpuInfo.Supported()) data.Add(p.ToString());
        return data;
    }

    internal static void OnPath(string name, Action body)
    {
        var path = Enum.Parse<CpuPath>(name);
        CpuInfo.Select(path);
        try
        {
            Assert.Equal(path, CpuInfo.Path);
            body();
        }
        finally { CpuInfo.Select(CpuPath.Auto); }
    }

    private static double[] Rand(int seed, int n) =>
        Input.Rand(seed, n, -1, 1).Select(v => (double)(float)v).ToArray();

    private static Tensor T(double[] v, params int[] shape) => Tensor.FromArray(v.Select(x => (float)x).ToArray(), shape);

    // (m, n, k): edges of every tile, k across the 256-deep block, n across a 512-column block, and
    // sizes above the parallel threshold (the conv GEMMs of mnist_cnn, scaled)
    private static readonly (int M, int N, int K)[] GemmShapes =
        { (1, 1, 1), (7, 33, 17), (33, 65, 31), (64, 600, 288), (128, 196, 576), (130, 70, 300) };

    [Theory]
    [MemberData(nameof(Paths))]
    public void GemmMatchesFloat64OnEveryPath(string path) => OnPath(path, () =>
    {
        foreach (var (m, n, k) in GemmShapes)
        {
            var a = Rand(m * 3 + k, m * k);
            var b = Rand(n * 5 + k, k * n);
            var c = T(a, m, k).MatMul(T(b, k, n)).ToArray();
            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
                    expected[i * n + j] = s;
                }
            OpCheck.AssertClose(expected, c, 1e-5 * Math.Sqrt(k) + 1e-6, $"{path} gemm {m}x{n}x{k}");
        }
    });

    /// <summary>A convolution layer: batch, channels in/out, size, kernel, stride, padding.</summary>
    public sealed record ConvCase(int N, int C, int H, int K, int R, int Stride, int Pad)
    {
        public int P => (H + 2 * Pad - R) / Stride + 1;
    }

    // resnet18's stem, 3x3 s1 and s2, the 1x1 downsample, mnist_cnn's 1-channel first layer, one whose
    // 675 output pixels span two GEMM column blocks and three depth blocks that start mid-image (the
    // implicit im2col packing), one with 576 pixels per image (a GEMM per image, split over the cores),
    // one whose unfolded depth (576) spans three GEMM depth blocks, and 8 images of 256 pixels (run
    // side by side, one GEMM each, the weight gradient in groups of images summed in a fixed order)
    private static readonly ConvCase[] ConvCases =
    {
        new(2, 3, 20, 8, 7, 2, 3), new(2, 16, 10, 16, 3, 1, 1), new(3, 32, 9, 24, 3, 2, 1),
        new(2, 8, 6, 16, 1, 2, 0), new(2, 1, 12, 8, 3, 1, 1), new(3, 8, 15, 8, 3, 1, 1), new(2, 32, 24, 32, 3, 1, 1),
        new(8, 8, 16, 8, 3, 1, 1), new(4, 64, 8, 64, 3, 1, 1),
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void ConvForwardAndGradientsMatchFloat64OnEveryPath(string path) => OnPath(path, () =>
    {
        foreach (var g in ConvCases)
        {
            var (y, gx, gw) = RunConv(g);
            var (ey, egx, egw) = ReferenceConv(g);
            double tol = 2e-5 * Math.Sqrt(g.C * g.R * g.R) + 1e-6;
            OpCheck.AssertClose(ey, y, tol, $"{path} conv {g} forward");
            OpCheck.AssertClose(egx, gx, tol, $"{path} conv {g} input gradient");
            OpCheck.AssertClose(egw, gw, 4 * tol, $"{path} conv {g} weight gradient");
        }
    });

    [Fact]
    public void PathsAgreeWithEachOther()
    {
        var paths = CpuInfo.Supported();
        var g = ConvCases[^1];
        var results = paths.Select(p => { float[] y = null!; OnPath(p.ToString(), () => y = RunConv(g).Y); return y; }).ToList();
        for (int i = 1; i < results.Count; i++)
            OpCheck.AssertClose(results[0], results[i], 1e-5, $"{paths[i]} against {paths[0]}");
        Assert.Contains(CpuPath.Portable, paths);
    }

    private static (float[] Y, float[] Gx, float[] Gw) RunConv(ConvCase g)
    {
        var x = T(Rand(1, g.N * g.C * g.H * g.H), g.N, g.C, g.H, g.H);
        var w = T(Rand(2, g.K * g.C * g.R * g.R), g.K, g.C, g.R, g.R);
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        var y = F.Conv2d(x, w, null, g.Stride, g.Pad);
        y.Backward(T(Rand(3, g.N * g.K * g.P * g.P), g.N, g.K, g.P, g.P));
        return (y.ToArray(), x.Grad!.ToArray(), w.Grad!.ToArray());
    }

    /// <summary>Forward, and the gradients of sum(y * gy) for the same upstream gy as RunConv, in float64.</summary>
    private static (double[] Y, double[] Gx, double[] Gw) ReferenceConv(ConvCase g) =>
        ConvReference.Float64(new ConvGeometry(g.N, g.C, g.H, g.H, g.K, g.R, g.R, g.Stride, g.Stride, g.Pad, g.Pad, 1, 1),
                              Rand(1, g.N * g.C * g.H * g.H), Rand(2, g.K * g.C * g.R * g.R), Rand(3, g.N * g.K * g.P * g.P));

    [Fact]
    public void DescriptionNamesTheCpuAndTheForcedPath()
    {
        var info = CpuInfo.Current;
        Assert.True(info.Cores >= 1);
        Assert.True(info.L1Bytes > 0 && info.L2Bytes >= info.L1Bytes && info.L3Bytes > 0);
        Assert.Contains(info.DetectedPath, CpuInfo.Supported());
        Assert.Contains($"family {info.Family} model {info.Model}", info.Describe());
        CpuInfo.Select(CpuPath.Portable);
        try
        {
            Assert.Contains("CPU path portable", CpuInfo.Current.Describe());
            Assert.Equal(info.DetectedPath == CpuPath.Portable, !CpuInfo.Current.Describe().Contains("forced"));
        }
        finally { CpuInfo.Select(CpuPath.Auto); }
    }

    [Fact]
    public void OverrideNamesParse()
    {
        Assert.Equal(CpuPath.Avx512, CpuInfo.Parse("AVX512"));
        Assert.Equal(CpuPath.Avx2, CpuInfo.Parse(" avx2 "));
        Assert.Equal(CpuPath.Portable, CpuInfo.Parse("portable"));
        Assert.Equal(CpuPath.Auto, CpuInfo.Parse("auto"));
        Assert.Null(CpuInfo.Parse("sse9"));
        Assert.Null(CpuInfo.Parse(null));
    }

    [Fact]
    public void BlockColumnsFollowL2()
    {
        Assert.Equal(512, CpuGemm.BlockColumns(1 << 20));     // Zen 4/5: 1 MiB
        Assert.Equal(128, CpuGemm.BlockColumns(256 << 10));   // older AVX2 cores: 256 KiB
        Assert.Equal(1024, CpuGemm.BlockColumns(8 << 20));    // capped
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1000, 1)]
    [InlineData(100_003, 7)]
    [InlineData(5, 100)]
    public void ParallelLoopVisitsEachIndexOnce(int n, int minChunk)
    {
        var seen = new int[n];
        CpuParallel.For(n, minChunk, (s, e) => { for (int i = s; i < e; i++) Interlocked.Increment(ref seen[i]); });
        Assert.All(seen, v => Assert.Equal(1, v));
    }

    [Theory]
    [InlineData(384, 4, 2, new[] { 0, 96, 168, 224, 264, 296, 320, 336, 348, 360, 368, 376, 384 })]   // layer3's row panels
    [InlineData(32, 1, 2, new[] { 0, 8, 14, 19, 23, 26, 28, 29, 30, 31, 32 })]                        // 8 images in quarters
    [InlineData(100, 1, 3, new[] { 0, 17, 31, 43, 53, 61, 68, 74, 79, 83, 86, 89, 91, 93, 95, 97, 99, 100 })]
    [InlineData(10, 4, 2, new[] { 0, 4, 8, 10 })]
    [InlineData(5, 1, 8, new[] { 0, 1, 2, 3, 4, 5 })]
    [InlineData(int.MaxValue, 1 << 20, 2, new[] { 0, 536870912, 939524096, 1241513984, 1468006400, 1637875712, 1765801984, 1861222400,
                                                  1933574144, 1987051520, 2027945984, 2061500416, 2095054848, 2128609280, int.MaxValue })]   // no overflow
    public void GuidedChunksShrinkOnTheGrain(int n, int grain, int threads, int[] expected) =>
        Assert.Equal(expected, CpuParallel.GuidedBounds(n, grain, threads));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1000, 1)]
    [InlineData(100_003, 7)]
    [InlineData(384, 4)]
    [InlineData(5, 100)]
    public void GuidedLoopVisitsEachIndexOnceInItsChunks(int n, int grain)
    {
        CpuThreads.With(2, () =>
        {
            var seen = new int[n];
            var chunks = new System.Collections.Concurrent.ConcurrentBag<(int, int)>();
            CpuParallel.ForGuided(n, grain, (s, e) =>
            {
                chunks.Add((s, e));
                for (int i = s; i < e; i++) Interlocked.Increment(ref seen[i]);
            });
            Assert.All(seen, v => Assert.Equal(1, v));
            int[] bounds = n <= grain ? new[] { 0, n } : CpuParallel.GuidedBounds(n, grain, 2);
            Assert.Equal(bounds.Zip(bounds.Skip(1)).ToArray(), chunks.OrderBy(c => c.Item1).ToArray());
        });
    }

    [Fact]
    public void NestedLoopsRunInlineOnTheChunksThread()
    {
        var seen = new int[64 * 100];
        int nestedOnOtherThread = 0;
        CpuParallel.For(64, 1, (s, e) =>
        {
            Assert.True(CpuParallel.Inside || Environment.ProcessorCount == 1);
            int thread = Environment.CurrentManagedThreadId;
            for (int i = s; i < e; i++)
                CpuParallel.For(100, 1, (a, b) =>
                {
                    if (Environment.CurrentManagedThreadId != thread) Interlocked.Increment(ref nestedOnOtherThread);
                    for (int j = a; j < b; j++) Interlocked.Increment(ref seen[i * 100 + j]);
                });
        });
        Assert.All(seen, v => Assert.Equal(1, v));
        Assert.Equal(0, nestedOnOtherThread);
        Assert.False(CpuParallel.Inside);
    }

    /// <summary>Holds every worker it reaches until released.</summary>
    private sealed class BlockingJob : ICpuJob
    {
        public readonly ManualResetEventSlim Release = new();
        public int Entered;
        public void Work()
        {
            Interlocked.Increment(ref Entered);
            Release.Wait();
        }
    }

    [Fact]
    public void ALoopFinishesWhileEveryWorkerIsHeldElsewhere()
    {
        // the caller never waits for a helper that has not started: with every worker stuck in another
        // job, a loop still visits each index once, on the calling thread
        int workers = Math.Max(Math.Max(1, CpuParallel.MaxThreads - 1), CpuWorkers.Count);
        var blocker = new BlockingJob();
        try
        {
            CpuWorkers.Post(blocker, workers);
            var until = DateTime.UtcNow.AddSeconds(10);
            while (Volatile.Read(ref blocker.Entered) < workers && DateTime.UtcNow < until) Thread.Sleep(1);
            Assert.Equal(workers, Volatile.Read(ref blocker.Entered));
            var seen = new int[10_000];
            int caller = Environment.CurrentManagedThreadId, elsewhere = 0;
            CpuParallel.For(seen.Length, 1, (s, e) =>
            {
                if (Environment.CurrentManagedThreadId != caller) Interlocked.Increment(ref elsewhere);
                for (int i = s; i < e; i++) Interlocked.Increment(ref seen[i]);
            });
            Assert.All(seen, v => Assert.Equal(1, v));
            Assert.Equal(0, elsewhere);
        }
        finally { blocker.Release.Set(); }
    }

    [Fact]
    public void ParallelLoopRethrowsAChunksException()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            CpuParallel.For(1000, 1, (s, _) => { if (s > 500) throw new InvalidOperationException("chunk " + s); }));
        Assert.StartsWith("chunk ", e.Message);
    }

    [Fact]
    public void ProfileBooksAConvolutionsGemmUnderIt()
    {
        var backend = CpuBackend.Instance;
        var profile = new CpuProfile();
        backend.Profile = profile;
        try { RunConv(new ConvCase(2, 4, 6, 5, 3, 1, 1)); }
        finally { backend.Profile = null; }
        var entries = profile.Entries;
        Assert.Contains(entries, e => e.Op == "conv_fwd 4->5 6x6 3x3 s1 b2" && e.Calls == 1);
        Assert.Contains(entries, e => e.Op.StartsWith("conv_fwd 4->5 6x6 3x3 s1 b2 > gemm 5x", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Op.StartsWith("conv_bwd_weight", StringComparison.Ordinal));
        Assert.Equal(entries.Sum(e => e.Ms), profile.TotalMs, 9);
        Assert.Contains("| total |", profile.Format());
    }
}
