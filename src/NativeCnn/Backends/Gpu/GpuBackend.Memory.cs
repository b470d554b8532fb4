// Device memory in use: the bytes of every storage this backend has handed out and not yet taken
// back into its pool, and the high-water mark of that count, as PyTorch's torch.cuda.memory_allocated
// and max_memory_allocated (buffers resting in the pool are PyTorch's "reserved", not counted). The
// storages count themselves (GpuStorage: on creation, and when their buffer goes back to the pool), so
// scratch buffers inside a primitive count too. Not counted: the conv tap tables (a few KB per
// geometry, GpuBackend.ConvImplicit.cs) and the one-element placeholder.
namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private long _bytesInUse, _peakBytesInUse;

    /// <summary>Bytes of device memory held by this backend's live storages (tensors and scratch buffers) now.</summary>
    public long BytesInUse => Interlocked.Read(ref _bytesInUse);

    /// <summary>The most bytes <see cref="BytesInUse"/> has reached since the backend was made or
    /// <see cref="ResetPeakBytesInUse"/> was last called (PyTorch's torch.cuda.max_memory_allocated).</summary>
    public long PeakBytesInUse => Interlocked.Read(ref _peakBytesInUse);

    /// <summary>Starts a new high-water mark at the bytes in use now (torch.cuda.reset_peak_memory_stats).</summary>
    public void ResetPeakBytesInUse() => Interlocked.Exchange(ref _peakBytesInUse, Interlocked.Read(ref _bytesInUse));

    /// <summary>A storage of <paramref name="bytes"/> came into use (positive) or went back to the pool (negative).</summary>
    internal void CountInUse(long bytes)
    {
        long now = Interlocked.Add(ref _bytesInUse, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytesInUse)) &&
               Interlocked.CompareExchange(ref _peakBytesInUse, now, peak) != peak) { }
    }
}
