// Deterministic reuse of tensor memory in training loops. The Learner and the CLI open one scope per
// step; every storage allocated inside it (activations, saved tensors, temporary gradients) returns
// to the backend's pool when the scope ends, so after warm-up a step allocates no new buffers.
// Storages that must live on (parameters, their grads, optimizer state) are marked persistent.
// Scopes are per thread and nest; user code without a scope simply relies on the GC.
using NativeCnn.Backends;

namespace NativeCnn;

/// <summary>Deterministic reuse of tensor memory in a training loop: every buffer allocated inside a scope returns to its device's pool when the scope is disposed, so after warm-up a step allocates nothing new. <c>using (MemoryScope.Begin()) { ... }</c>; tensors made inside must not be used after it. The Learner and Predictor open their own.</summary>
public sealed class MemoryScope : IDisposable
{
    [ThreadStatic] private static MemoryScope? _current;

    private readonly MemoryScope? _parent;
    private readonly List<Storage> _owned = new();
    private bool _disposed;

    private MemoryScope()
    {
        _parent = _current;
        _current = this;
    }

    /// <summary>Opens a scope on this thread; dispose it to return its memory to the pools.</summary>
    public static MemoryScope Begin() => new();

    internal static MemoryScope? Current => _current;

    internal void Track(Storage storage) => _owned.Add(storage);

    /// <summary>Runs <paramref name="make"/> with no scope active, so what it allocates is never pooled back.</summary>
    internal static T Outside<T>(Func<T> make)
    {
        var saved = _current;
        _current = null;
        try { return make(); }
        finally { _current = saved; }
    }

    /// <summary>Ends the scope: its buffers go back to the pools.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        if (_current != this)
            throw new InvalidOperationException("MemoryScopes must be disposed in the reverse order they were begun.");
        _disposed = true;
        _current = _parent;
        foreach (var s in _owned) s.Release();
        _owned.Clear();
    }
}
