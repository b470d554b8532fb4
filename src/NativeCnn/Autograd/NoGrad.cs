// A scope in which no graph is recorded (evaluation, optimizer steps, gradient computations).
namespace NativeCnn.Autograd;

public sealed class NoGrad : IDisposable
{
    [ThreadStatic] private static int _depth;

    private bool _disposed;

    public NoGrad() { _depth++; }

    /// <summary>True when operations on this thread record a graph.</summary>
    public static bool IsGradEnabled => _depth == 0;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _depth--;
    }
}
