// Shape arithmetic on int[] shapes: element counts, contiguous strides, broadcasting.
// Shapes are never mutated after a tensor is made; every helper here returns fresh arrays.
namespace NativeCnn;

/// <summary>Helpers for shapes given as int spans: element counts, row-major strides, formatting.</summary>
public static class Shape
{
    /// <summary>The number of elements of a shape (the product of its sizes; 1 for an empty shape), as a long.</summary>
    public static long Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        return n;
    }

    /// <summary>Row-major strides of a shape: the last dimension has stride 1, each earlier one the product of the sizes after it.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    /// <summary>A shape as PyTorch prints it, e.g. "(64, 1, 28, 28)".</summary>
    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    /// <summary>True when two shapes have the same sizes in the same order.</summary>
    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>NumPy broadcasting: align from the right; sizes must match or be 1.</summary>
    public static int[] Broadcast(int[] a, int[] b, string op)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new NativeCnnException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together (dimension {i}: {da} vs {db})");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    internal static void CheckValid(ReadOnlySpan<int> shape, string what)
    {
        foreach (var s in shape)
            if (s < 0) throw new NativeCnnException($"{what}: sizes must be >= 0, got shape {Format(shape)}");
        if (Numel(shape) > int.MaxValue)
            throw new NativeCnnException($"{what}: shape {Format(shape)} has more than {int.MaxValue} elements");
    }
}
