// mnist_cnn_train_step: one training step of mnist_cnn at batch 64 exactly as torch_baseline.py's
// train_step_case (random input, forward, cross-entropy, backward, SGD lr 0.01 momentum 0.9
// weight decay 1e-4). Each step runs in a MemoryScope; MemoryDiagnoser's "Allocated" column shows
// what a step still allocates after warm-up (small bookkeeping objects, no tensor buffers).
using BenchmarkDotNet.Attributes;
using NativeCnn.Backends;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Benchmarks;

[MemoryDiagnoser]
public class TrainStepBenchmarks
{
    private Module _model = null!;
    private Optimizer _optimizer = null!;
    private Tensor _x = null!;
    private Tensor _y = null!;

    [Params(64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(0);
        _model = SimpleCnn.MnistCnn(rng: rng);
        _model.Train();
        _optimizer = new SGD(_model.Parameters(), lr: 0.01f, momentum: 0.9f, weightDecay: 1e-4f);
        _x = Tensor.Randn(new[] { Batch, 1, 28, 28 }, rng).Keep();
        var labels = new int[Batch];
        for (int i = 0; i < Batch; i++) labels[i] = rng.NextInt(10);
        _y = Tensor.FromArray(labels).Keep();
    }

    [Benchmark(Description = "mnist_cnn_train_step")]
    public float MnistCnnTrainStep()
    {
        using (MemoryScope.Begin())
        {
            _optimizer.ZeroGrad();
            var loss = F.CrossEntropy(_model.Forward(_x), _y);
            loss.Backward();
            _optimizer.Step();
            // Not read every step in training; here it keeps the work observable to the benchmark.
            return loss.Item();
        }
    }
}
