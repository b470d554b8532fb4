// A scope in which no graph is recorded (evaluation, optimizer steps, gradient computations).
namespace NativeCnn.Autograd;

/// <summary>A scope in which operations are not recorded for autograd (torch.no_grad): <c>using (new NoGrad()) { ... }</c> for inference and evaluation. Scopes nest and are per thread.</summary>
public sealed class NoGrad : IDisposable
{
    [ThreadStatic] private static int _depth;

    private bool _disposed;

    /// <summary>Opens the scope on this thread.</summary>
    public NoGrad() { _depth++; }

    /// <summary>True when operations on this thread record a graph.</summary>
    public static bool IsGradEnabled => _depth == 0;

    /// <summary>Closes the scope; recording resumes when no NoGrad scope is open on this thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _depth--;
    }
}
