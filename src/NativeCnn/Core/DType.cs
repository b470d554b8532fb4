// Element types a tensor can hold. Float32 is the compute type; Float16 is storage for mixed
// precision (arithmetic happens in float32); Int32 holds labels and arg-max indices.
namespace NativeCnn;

public enum DType { Float32, Float16, Int32 }

public static class DTypeExtensions
{
    public static int SizeInBytes(this DType t) => t switch
    {
        DType.Float32 => 4,
        DType.Float16 => 2,
        DType.Int32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public static bool IsFloatingPoint(this DType t) => t is DType.Float32 or DType.Float16;
}
