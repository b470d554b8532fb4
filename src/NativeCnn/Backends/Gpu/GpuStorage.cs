// A device buffer: one ILGPU MemoryBuffer1D of the storage's element type. Float16 lives as its
// bit pattern (ushort); kernels convert with NativeCnn.Kernels.HalfBits. The buffer may be larger
// than Length only when it was made for an empty storage (ILGPU needs at least one element).
using ILGPU;
using ILGPU.Runtime;

namespace NativeCnn.Backends.Gpu;

internal sealed class GpuStorage : Storage
{
    private MemoryBuffer? _buffer;

    public GpuStorage(GpuBackend backend, DType dtype, MemoryBuffer buffer, int length) : base(backend, dtype, length)
    {
        _buffer = buffer;
        backend.CountInUse(Bytes);
    }

    /// <summary>The bytes this storage's elements take (what the backend's in-use count books for it).</summary>
    private long Bytes => (long)Length * (DType == DType.Float16 ? 2 : 4);

    /// <summary>float32 elements [0, Length).</summary>
    public ArrayView<float> F32 => Typed<float>(DType.Float32);
    /// <summary>float16 bit patterns [0, Length).</summary>
    public ArrayView<ushort> F16 => Typed<ushort>(DType.Float16);
    /// <summary>int32 elements [0, Length).</summary>
    public ArrayView<int> I32 => Typed<int>(DType.Int32);

    public MemoryBuffer Buffer
    {
        get { ThrowIfReleased(); return _buffer!; }
    }

    private ArrayView<T> Typed<T>(DType wanted) where T : unmanaged
    {
        ThrowIfReleased();
        if (DType != wanted)
            throw new InvalidOperationException($"internal: a {DType} storage was used where {wanted} was expected");
        return ((MemoryBuffer1D<T, Stride1D.Dense>)_buffer!).View.SubView(0, Length);
    }

    /// <summary>Hands the buffer back for pooling; the storage is unusable afterwards.</summary>
    public MemoryBuffer DetachForPool()
    {
        var b = _buffer!;
        _buffer = null;
        ((GpuBackend)Backend).CountInUse(-Bytes);
        return b;
    }
}
