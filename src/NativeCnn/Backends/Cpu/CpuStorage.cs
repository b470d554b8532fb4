// A CPU buffer: a managed array of the storage's dtype. Kernels read it through spans.
namespace NativeCnn.Backends.Cpu;

internal sealed class CpuStorage : Storage
{
    private float[]? _f32;
    private Half[]? _f16;
    private int[]? _i32;

    public CpuStorage(CpuBackend backend, DType dtype, Array data, int length) : base(backend, dtype, length)
    {
        switch (dtype)
        {
            case DType.Float32: _f32 = (float[])data; break;
            case DType.Float16: _f16 = (Half[])data; break;
            default: _i32 = (int[])data; break;
        }
    }

    public Array Data
    {
        get { ThrowIfReleased(); return (Array?)_f32 ?? (Array?)_f16 ?? _i32!; }
    }

    public float[] F32 { get { ThrowIfReleased(); return _f32 ?? throw WrongType(DType.Float32); } }
    public Half[] F16 { get { ThrowIfReleased(); return _f16 ?? throw WrongType(DType.Float16); } }
    public int[] I32 { get { ThrowIfReleased(); return _i32 ?? throw WrongType(DType.Int32); } }

    public Span<float> Floats => F32.AsSpan(0, Length);
    public Span<int> Ints => I32.AsSpan(0, Length);

    /// <summary>Hands the array back for pooling; the storage is unusable afterwards.</summary>
    public Array DetachForPool()
    {
        Array a = (Array?)_f32 ?? (Array?)_f16 ?? _i32!;
        _f32 = null; _f16 = null; _i32 = null;
        return a;
    }

    private InvalidOperationException WrongType(DType wanted) =>
        new($"internal: a {DType} storage was used where {wanted} was expected");
}
