// Pool of device buffers keyed by (dtype, exact length). Allocating and freeing device memory are
// synchronous driver calls, so a training step must reuse buffers: a loop asks for the same sizes
// every step and exact-length buckets hand them back perfectly. Reuse is safe without waiting for
// the device because every kernel and copy runs on the accelerator's one stream, in order.
using ILGPU.Runtime;

namespace NativeCnn.Backends.Gpu;

internal sealed class GpuBufferPool : IDisposable
{
    private readonly Dictionary<(DType, int), Stack<MemoryBuffer>> _free = new();
    private readonly object _lock = new();

    public MemoryBuffer? TryRent(DType dtype, int length)
    {
        lock (_lock)
        {
            return _free.TryGetValue((dtype, length), out var stack) && stack.Count > 0 ? stack.Pop() : null;
        }
    }

    public void Return(DType dtype, int length, MemoryBuffer buffer)
    {
        lock (_lock)
        {
            if (!_free.TryGetValue((dtype, length), out var stack)) _free[(dtype, length)] = stack = new Stack<MemoryBuffer>();
            stack.Push(buffer);
        }
    }

    /// <summary>Number of buffers waiting for reuse (for tests and diagnostics).</summary>
    public int FreeCount
    {
        get { lock (_lock) return _free.Values.Sum(s => s.Count); }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var stack in _free.Values)
                foreach (var b in stack) b.Dispose();
            _free.Clear();
        }
    }
}
