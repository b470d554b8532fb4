// Conv2d benchmarks. ConvBenchmarks times the reference cases of ../shared/reference/MODELS.md
// (method names = torch_baseline.py's case names, CPU batch 8): one conv layer forward + backward
// with the input requiring grad and a gradient of ones, as the script does (gradients accumulate
// across iterations there too). ConvPartsBenchmarks splits the same layers into the three backend
// primitives and the bare GEMMs they contain, so the im2col/col2im/layout overhead can be read off.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- --filter '*ConvBenchmarks*'
using BenchmarkDotNet.Attributes;
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

/// <summary>One of the reference conv layers (no bias, padding k/2, as torch_baseline.py builds them).</summary>
internal sealed record ConvCase(int C, int K, int Hw, int Kernel, int Stride, int Batch = 8)
{
    public static readonly Dictionary<string, ConvCase> All = new()
    {
        ["conv7x7_3to64_128px_s2"] = new(3, 64, 128, 7, 2),
        ["conv3x3_64to64_32px_s1"] = new(64, 64, 32, 3, 1),
        ["conv3x3_128to128_16px_s1"] = new(128, 128, 16, 3, 1),
        ["conv3x3_256to256_8px_s1"] = new(256, 256, 8, 3, 1),
        ["conv3x3_512to512_4px_s1"] = new(512, 512, 4, 3, 1),
    };

    public int Pad => Kernel / 2;

    public ConvGeometry Geometry => new(Batch, C, Hw, Hw, K, Kernel, Kernel, Stride, Stride, Pad, Pad, 1, 1);
}

[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 15)]
public class ConvBenchmarks
{
    private sealed record Layer(ConvCase Case, Tensor X, Tensor W, Tensor Ones);

    private readonly Dictionary<string, Layer> _layers = new();

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(0);
        foreach (var (name, c) in ConvCase.All)
        {
            var x = Tensor.Randn(new[] { c.Batch, c.C, c.Hw, c.Hw }, rng);
            var w = Tensor.Randn(new[] { c.K, c.C, c.Kernel, c.Kernel }, rng, std: 0.05f);
            x.RequiresGrad = true;
            w.RequiresGrad = true;
            var g = c.Geometry;
            var ones = Tensor.Ones(new[] { c.Batch, c.K, g.P, g.Q }, DType.Float32);
            _layers[name] = new Layer(c, x, w, ones);
        }
    }

    private void Run(string name)
    {
        var l = _layers[name];
        using var _ = MemoryScope.Begin();
        var y = F.Conv2d(l.X, l.W, null, l.Case.Stride, l.Case.Pad);
        y.Backward(l.Ones);
    }

    [Benchmark] public void conv7x7_3to64_128px_s2_fwdbwd() => Run("conv7x7_3to64_128px_s2");
    [Benchmark] public void conv3x3_64to64_32px_s1_fwdbwd() => Run("conv3x3_64to64_32px_s1");
    [Benchmark] public void conv3x3_128to128_16px_s1_fwdbwd() => Run("conv3x3_128to128_16px_s1");
    [Benchmark] public void conv3x3_256to256_8px_s1_fwdbwd() => Run("conv3x3_256to256_8px_s1");
    [Benchmark] public void conv3x3_512to512_4px_s1_fwdbwd() => Run("conv3x3_512to512_4px_s1");
}

[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 15)]
public class ConvPartsBenchmarks
{
    [Params("conv7x7_3to64_128px_s2", "conv3x3_64to64_32px_s1", "conv3x3_128to128_16px_s1",
            "conv3x3_256to256_8px_s1", "conv3x3_512to512_4px_s1")]
    public string Case { get; set; } = "";

    private readonly CpuBackend _b = CpuBackend.Instance;
    private ConvGeometry _g;
    private Storage _x = null!, _w = null!, _y = null!, _gy = null!, _gx = null!, _gw = null!;
    private Storage _col = null!, _gemmOut = null!;

    [GlobalSetup]
    public void Setup()
    {
        _g = ConvCase.All[Case].Geometry;
        var g = _g;
        long npq = (long)g.N * g.P * g.Q;
        _x = Filled(g.N * g.C * g.H * g.W, 1);
        _w = Filled(g.K * g.Crs, 2);
        _y = _b.Allocate(DType.Float32, (int)(g.K * npq));
        _gy = Filled((int)(g.K * npq), 3);
        _gx = _b.Allocate(DType.Float32, g.N * g.C * g.H * g.W);
        _gw = _b.Allocate(DType.Float32, g.K * g.Crs);
        _col = Filled((int)(g.Crs * npq), 4);
        _gemmOut = _b.Allocate(DType.Float32, (int)(Math.Max(g.K, g.Crs) * npq));
    }

    private Storage Filled(int n, ulong seed)
    {
        var s = _b.Allocate(DType.Float32, n);
        _b.RandomNormal(s, seed, 0f, 1f);
        return s;
    }

    [Benchmark] public void Forward() => _b.Conv2dForward(_x, _w, null, _y, _g);
    [Benchmark] public void BackwardData() => _b.Conv2dBackwardData(_gy, _w, _gx, _g);
    [Benchmark] public void BackwardWeight() => _b.Conv2dBackwardWeight(_x, _gy, _gw, null, _g);

    // The GEMMs alone, on ready-made operands: what each primitive would cost with free layout work.
    private int Npq => _g.N * _g.P * _g.Q;
    [Benchmark] public void GemmForward() => _b.Gemm(false, false, _g.K, Npq, _g.Crs, 1f, _w, 0, _g.Crs, _col, 0, Npq, 0f, _gemmOut, 0, Npq);
    [Benchmark] public void GemmBackwardData() => _b.Gemm(true, false, _g.Crs, Npq, _g.K, 1f, _w, 0, _g.Crs, _gy, 0, Npq, 0f, _gemmOut, 0, Npq);
    // The layout work alone (whole batch in one chunk, as the primitives do below 64 MB of col).
    [Benchmark] public void Im2Col() => CpuBackend.Im2Col(Arr(_x), 0, _g.N, Arr(_col), _g);
    [Benchmark] public void Col2Im() => CpuBackend.Col2Im(Arr(_col), 0, _g.N, Arr(_gx), _g);
    [Benchmark] public void GyToGemmLayout() => CpuBackend.SwapImageAndChannel(Arr(_gy), Arr(_gemmOut), 0, _g.N, _g.K, _g.P * _g.Q, false, null);
    private static float[] Arr(Storage s) => ((CpuStorage)s).F32;

    [Benchmark] public void GemmBackwardWeight() => _b.Gemm(false, true, _g.K, _g.Crs, Npq, 1f, _gy, 0, Npq, _col, 0, Npq, 0f, _gw, 0, _g.Crs);
}
