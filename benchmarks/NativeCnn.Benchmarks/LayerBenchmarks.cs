// CPU layer primitives on mnist_cnn's shapes (batch 64, see ../shared/reference/MODELS.md): batch
// norm forward (training) and backward for the four BN layers, the global average pool, resnet's
// 3x3/2 max pool, and the fused optimizer steps over mnist_cnn's ~0.24M parameters. Buffers are
// made once; each call is one primitive on the backend, so the numbers are the kernels alone.
using BenchmarkDotNet.Attributes;
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn.Benchmarks;

[MemoryDiagnoser]
public class LayerBenchmarks
{
    private static readonly CpuBackend B = CpuBackend.Instance;

    // (C, H) of mnist_cnn's BN layers at batch 64
    private static readonly (int C, int H)[] BnLayers = { (32, 28), (64, 14), (128, 7), (128, 7) };
    private const int Batch = 64;

    private Storage[] _x = null!, _y = null!, _gx = null!;
    private Storage _gamma = null!, _beta = null!, _mean = null!, _invStd = null!, _rm = null!, _rv = null!, _gg = null!, _gb = null!;
    private Storage _poolX = null!, _poolY = null!, _poolIdx = null!, _poolGx = null!, _gapY = null!;
    private Storage _p = null!, _g = null!, _m = null!, _v = null!;
    private const int Params = 241_546;   // conv 288+18432+73728+147456, BN 2*352, linear 1290

    [GlobalSetup]
    public void Setup()
    {
        Storage Rand(int n, ulong seed) { var s = B.Allocate(DType.Float32, n); B.RandomNormal(s, seed, 0, 1); return s; }
        _x = BnLayers.Select((l, i) => Rand(Batch * l.C * l.H * l.H, (ulong)i)).ToArray();
        _y = BnLayers.Select(l => B.Allocate(DType.Float32, Batch * l.C * l.H * l.H)).ToArray();
        _gx = BnLayers.Select(l => B.Allocate(DType.Float32, Batch * l.C * l.H * l.H)).ToArray();
        _gamma = Rand(128, 10); _beta = Rand(128, 11);
        _mean = B.Allocate(DType.Float32, 128); _invStd = B.Allocate(DType.Float32, 128);
        _rm = B.Allocate(DType.Float32, 128); _rv = B.Allocate(DType.Float32, 128); B.Fill(_rv, 1f);
        _gg = B.Allocate(DType.Float32, 128); _gb = B.Allocate(DType.Float32, 128);
        // resnet18's stem max pool at 128px, batch 16: (16, 64, 64, 64) -> (16, 64, 32, 32)
        _poolX = Rand(16 * 64 * 64 * 64, 12);
        _poolY = B.Allocate(DType.Float32, 16 * 64 * 32 * 32);
        _poolIdx = B.Allocate(DType.Int32, 16 * 64 * 32 * 32);
        _poolGx = B.Allocate(DType.Float32, 16 * 64 * 64 * 64);
        _gapY = B.Allocate(DType.Float32, Batch * 128);
        _p = Rand(Params, 13); _g = Rand(Params, 14); _m = Rand(Params, 15); _v = Rand(Params, 16);
        B.Unary(UnaryOp.Affine, _v, _v, Params, 0f, 0.01f);
        B.Fill(_m, 0f);
    }

    [Benchmark(Description = "mnist_cnn_bn_forward_train_x4")]
    public void BatchNormForward()
    {
        for (int i = 0; i < BnLayers.Length; i++)
        {
            var (c, h) = BnLayers[i];
            B.BatchNormForwardTraining(_x[i], _gamma, _beta, _y[i], _mean, _invStd, _rm, _rv, Batch, c, h * h, 0.1f, 1e-5f);
        }
    }

    [Benchmark(Description = "mnist_cnn_bn_backward_x4")]
    public void BatchNormBackward()
    {
        for (int i = 0; i < BnLayers.Length; i++)
        {
            var (c, h) = BnLayers[i];
            B.BatchNormBackward(_x[i], _y[i], _gamma, _mean, _invStd, _gx[i], _gg, _gb, Batch, c, h * h);
        }
    }

    [Benchmark(Description = "mnist_cnn_global_avgpool_fwdbwd")]
    public void GlobalAvgPool()
    {
        B.AdaptiveAvgPool2dForward(_x[3], _gapY, Batch, 128, 7, 7, 1, 1);
        B.AdaptiveAvgPool2dBackward(_gapY, _gx[3], Batch, 128, 7, 7, 1, 1);
    }

    [Benchmark(Description = "resnet18_128px_maxpool_fwdbwd")]
    public void MaxPool()
    {
        var g = new PoolGeometry(16, 64, 64, 64, 32, 32, 3, 3, 2, 2, 1, 1, true);
        B.MaxPool2dForward(_poolX, _poolY, _poolIdx, g);
        B.MaxPool2dBackward(_poolY, _poolIdx, _poolGx, g);
    }

    [Benchmark(Description = "mnist_cnn_sgd_momentum_step")]
    public void Sgd() => B.SgdStep(_p, _g, _m, Params, 1e-3f, 0.9f, 0f, 5e-4f, false, false);

    [Benchmark(Description = "mnist_cnn_adamw_step")]
    public void AdamW() => B.AdamStep(_p, _g, _m, _v, Params, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, true, 10);
}
