// Pool of managed arrays keyed by (dtype, exact length). A training loop asks for the same sizes
// every step, so exact-length buckets are reused perfectly and no array is larger than needed.
namespace NativeCnn.Backends.Cpu;

internal sealed class CpuBufferPool
{
    private readonly Dictionary<(DType, int), Stack<Array>> _free = new();
    private readonly object _lock = new();

    public Array Rent(DType dtype, int length)
    {
        lock (_lock)
        {
            if (_free.TryGetValue((dtype, length), out var stack) && stack.Count > 0) return stack.Pop();
        }
        return dtype switch
        {
            DType.Float32 => GC.AllocateUninitializedArray<float>(length),
            DType.Float16 => GC.AllocateUninitializedArray<Half>(length),
            _ => GC.AllocateUninitializedArray<int>(length),
        };
    }

    public void Return(DType dtype, int length, Array array)
    {
        lock (_lock)
        {
            if (!_free.TryGetValue((dtype, length), out var stack)) _free[(dtype, length)] = stack = new Stack<Array>();
            stack.Push(array);
        }
    }
}
