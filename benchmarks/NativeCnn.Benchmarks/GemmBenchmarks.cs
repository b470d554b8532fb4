// CPU SGEMM throughput: the square cases of torch_baseline.py (gemm_256/512/1024, C = A*B, float32)
// and the GEMM shapes the im2col convolution sends (forward NN, backward-data TN, backward-weight
// NT; names stay under 20 characters so BenchmarkDotNet prints them whole). Reports GFLOP/s from the median in its own column. Every case runs on all cores and on one
// (SingleThread), because the two vCPUs here share one core's FMA throughput and other work on the
// machine slows the two-thread run first.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- --filter '*GemmBenchmarks*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

[Config(typeof(GemmBenchmarkConfig))]
public class GemmBenchmarks
{
    /// <summary>name -> (transA, transB, m, n, k).</summary>
    internal static readonly Dictionary<string, (bool TransA, bool TransB, int M, int N, int K)> Shapes = new()
    {
        ["gemm_256"] = (false, false, 256, 256, 256),
        ["gemm_512"] = (false, false, 512, 512, 512),
        ["gemm_1024"] = (false, false, 1024, 1024, 1024),
        // conv forward: weight (64, 576) x columns (576, 8192)
        ["conv_64x8192x576"] = (false, false, 64, 8192, 576),
        // conv backward-data: weight^T (576, 64) x dy (64, 8192)
        ["conv_576x8192x64_tn"] = (true, false, 576, 8192, 64),
        // conv backward-weight: dy (64, 8192) x columns^T (8192, 576)
        ["conv_64x576x8192_nt"] = (false, true, 64, 576, 8192),
        ["conv_128x3136x1152"] = (false, false, 128, 3136, 1152),
        ["conv_32x50176x9"] = (false, false, 32, 50176, 9),
    };

    public static IEnumerable<string> Cases => Shapes.Keys;

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "gemm_256";

    [Params(false, true)]
    public bool SingleThread { get; set; }

    private readonly IBackend _backend = CpuBackend.Instance;
    private Storage _a = null!, _b = null!, _c = null!;
    private (bool TransA, bool TransB, int M, int N, int K) _s;
    private int _previousThreads;

    [GlobalSetup]
    public void Setup()
    {
        _s = Shapes[Case];
        var rng = new Random(1);
        float[] Fill(int n) { var v = new float[n]; for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1); return v; }
        _a = _backend.FromHost(Fill(_s.M * _s.K));
        _b = _backend.FromHost(Fill(_s.K * _s.N));
        _c = _backend.FromHost(new float[_s.M * _s.N]);
        _previousThreads = CpuGemm.MaxThreads;
        if (SingleThread) CpuGemm.MaxThreads = 1;
    }

    [GlobalCleanup]
    public void Cleanup() => CpuGemm.MaxThreads = _previousThreads;

    [Benchmark]
    public void Gemm()
    {
        var (ta, tb, m, n, k) = _s;
        _backend.Gemm(ta, tb, m, n, k, 1f, _a, 0, ta ? m : k, _b, 0, tb ? k : n, 0f, _c, 0, n);
    }
}

public sealed class GemmBenchmarkConfig : ManualConfig
{
    public GemmBenchmarkConfig()
    {
        // A fixed, modest iteration count: the machine is shared, and the median of 15 runs with
        // min alongside says more about noise than BenchmarkDotNet's open-ended auto-tuning.
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(15));
        AddColumn(new GflopsColumn());
        AddColumn(StatisticColumn.Median);
        AddColumn(StatisticColumn.Min);
    }
}

/// <summary>2mnk / median time, in GFLOP/s, next to each case.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "2*m*n*k / median time, 1e9 floating-point operations per second";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        var name = benchmarkCase.Parameters["Case"] as string;
        if (stats is null || name is null || !GemmBenchmarks.Shapes.TryGetValue(name, out var s)) return "-";
        double flops = 2.0 * s.M * s.N * s.K;
        return (flops / stats.Median).ToString("F1"); // ns -> GFLOP/s
    }
}
