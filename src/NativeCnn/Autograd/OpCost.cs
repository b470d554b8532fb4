// Counts the work a piece of code asks of the engine, for the benchmark floors (Benchmarking reads it; the
// ops and the graph feed it from down here, so nothing below Benchmarking calls up into it): the FLOPs of its
// convolutions and matrix products (2 per multiply-add) and the bytes of every new tensor an op
// produced for the graph. A counter is per thread and only counts while a scope is open, so the
// hooks in the ops cost one thread-static read when nobody is counting.
// Must hold: a view (an output sharing its input's storage) adds no bytes; nested scopes are refused.
namespace NativeCnn.Autograd;

/// <summary>A per-thread count of FLOPs and output bytes while open (OpCost.Begin).</summary>
internal sealed class OpCost : IDisposable
{
    [ThreadStatic] private static OpCost? _current;

    private OpCost() { }

    /// <summary>Starts counting on this thread until the returned scope is disposed.</summary>
    public static OpCost Begin()
    {
        if (_current is not null) throw new InvalidOperationException("OpCost.Begin: a count is already running on this thread");
        return _current = new OpCost();
    }

    /// <summary>Floating-point operations of matrix products and convolutions (multiply-add = 2).</summary>
    public double Flops { get; private set; }

    /// <summary>Bytes of the op outputs recorded (activations and other new tensors; views excluded).</summary>
    public double OutputBytes { get; private set; }

    /// <summary>Number of op outputs counted in <see cref="OutputBytes"/>.</summary>
    public int Outputs { get; private set; }

    public void Dispose()
    {
        if (ReferenceEquals(_current, this)) _current = null;
    }

    internal static void AddFlops(double flops)
    {
        if (_current is { } c) c.Flops += flops;
    }

    internal static void AddOutput(Tensor output, Tensor?[] inputs)
    {
        if (_current is not { } c) return;
        foreach (var i in inputs)
            if (i is not null && ReferenceEquals(i.Storage, output.Storage)) return;
        c.OutputBytes += (double)output.Numel * output.DType.SizeInBytes();
        c.Outputs++;
    }
}
