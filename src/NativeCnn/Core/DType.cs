// Element types a tensor can hold. Float32 is the compute type; Float16 is storage for mixed
// precision (arithmetic happens in float32); Int32 holds labels and arg-max indices.
namespace NativeCnn;

/// <summary>The element type of a tensor.</summary>
public enum DType
{
    /// <summary>32-bit IEEE floating point: the default for values, weights and gradients.</summary>
    Float32,
    /// <summary>16-bit IEEE floating point: activation and weight storage in mixed precision (math in float32).</summary>
    Float16,
    /// <summary>32-bit signed integers: class labels and indices.</summary>
    Int32,
}

/// <summary>Facts about a <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>Bytes per element: 4 for Float32 and Int32, 2 for Float16.</summary>
    public static int SizeInBytes(this DType t) => t switch
    {
        DType.Float32 => 4,
        DType.Float16 => 2,
        DType.Int32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>True for Float32 and Float16 (the types that can carry gradients).</summary>
    public static bool IsFloatingPoint(this DType t) => t is DType.Float32 or DType.Float16;
}
