// A flat buffer of elements owned by one backend. Tensors are views on a storage (offset, shape,
// strides). A storage made inside a MemoryScope goes back to its backend's pool when the scope
// ends, unless it was kept; touching it afterwards is a clear error, never stale data.
namespace NativeCnn.Backends;

internal abstract class Storage
{
    protected Storage(IBackend backend, DType dtype, int length)
    {
        Backend = backend;
        DType = dtype;
        Length = length;
    }

    public IBackend Backend { get; }
    public DType DType { get; }
    public int Length { get; }
    public Device Device => Backend.Device;

    /// <summary>True once the memory went back to the pool; any further use throws.</summary>
    public bool IsReleased { get; private set; }

    /// <summary>Survives the end of the MemoryScope it was made in (parameters, grads, optimizer state).</summary>
    public bool IsPersistent { get; internal set; }

    internal void Release()
    {
        if (IsReleased || IsPersistent) return;
        IsReleased = true;
        Backend.ReturnToPool(this);
    }

    protected void ThrowIfReleased()
    {
        if (IsReleased)
            throw new InvalidOperationException(
                "This tensor's memory was returned to the pool: the MemoryScope it was created in ended (or, for a " +
                "BatchIterator batch, the iterator's next epoch began). Read values (Item, ToArray) before that, or " +
                "Keep() / Clone() tensors that must outlive it.");
    }
}
