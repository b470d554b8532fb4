// CPU elementwise maps, broadcasts, reductions and the loss on CNN-shaped activations
// (64 x 32 x 28 x 28 floats, as after mnist_cnn's first conv). Each op runs in a MemoryScope so the
// pool hands back the same buffers and allocation does not blur the kernel time.
using BenchmarkDotNet.Attributes;
using NativeCnn.Backends;

namespace NativeCnn.Benchmarks;

[MemoryDiagnoser]
public class ElementwiseBenchmarks
{
    private Tensor _x = null!, _y = null!, _bias = null!, _logits = null!, _labels = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        _x = Tensor.Randn(new[] { 64, 32, 28, 28 }, rng);
        _y = Tensor.Randn(new[] { 64, 32, 28, 28 }, rng);
        _bias = Tensor.Randn(new[] { 32, 1, 1 }, rng);
        _logits = Tensor.Randn(new[] { 256, 10 }, rng);
        _labels = Tensor.FromArray(Enumerable.Range(0, 256).Select(i => i % 10).ToArray());
    }

    [Benchmark] public void Relu() { using var s = MemoryScope.Begin(); _x.Relu(); }
    [Benchmark] public void Affine() { using var s = MemoryScope.Begin(); _x.Affine(2f, 1f); }
    [Benchmark] public void AddSameShape() { using var s = MemoryScope.Begin(); _ = _x + _y; }
    [Benchmark] public void AddChannelBias() { using var s = MemoryScope.Begin(); _ = _x + _bias; }
    [Benchmark] public void SumLastAxis() { using var s = MemoryScope.Begin(); _x.Sum(3); }
    [Benchmark] public void SumBatchAxis() { using var s = MemoryScope.Begin(); _x.Sum(0); }
    [Benchmark] public void SumAll() { using var s = MemoryScope.Begin(); _x.Sum(); }
    [Benchmark] public float CrossEntropy() { using var s = MemoryScope.Begin(); return F.CrossEntropy(_logits, _labels, 0.1f).Item(); }
}
