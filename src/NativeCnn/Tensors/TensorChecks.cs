// The argument checks that take tensors (rank, floating point, one device): Check's part above Core, which
// knows no Tensor. Same rule as Core/Errors.cs: the error names the op, the input, the expected and the actual.
namespace NativeCnn;

internal static partial class Check
{
    public static void Rank(Tensor t, int rank, string op, string name)
    {
        if (t.Dim != rank)
            throw new NativeCnnException($"{op}: {name} must have {rank} dimensions, got shape {Shape.Format(t.ShapeArray)}");
    }

    public static void Float(Tensor t, string op, string name)
    {
        if (!t.DType.IsFloatingPoint())
            throw new NativeCnnException($"{op}: {name} must be a floating-point tensor, got {t.DType}");
    }

    public static void SameDevice(string op, params Tensor?[] tensors)
    {
        Device? first = null;
        foreach (var t in tensors)
        {
            if (t is null) continue;
            if (first is null) first = t.Device;
            else if (t.Device != first)
                throw new NativeCnnException($"{op}: all inputs must be on one device, got {first} and {t.Device}; move them with To(device)");
        }
    }
}
