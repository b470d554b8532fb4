// Argument checks. Every error a user can cause names the input, what was expected and what was
// given, and is raised where the input enters the engine, never from deep inside a kernel.
namespace NativeCnn;

/// <summary>A shape, dtype, device or value that an operation cannot accept.</summary>
public sealed class NativeCnnException : ArgumentException
{
    /// <summary>An error whose <paramref name="message"/> names the input, what was expected and what was given.</summary>
    public NativeCnnException(string message) : base(message) { }
}

internal static partial class Check
{
    public static void That(bool condition, string message)
    {
        if (!condition) throw new NativeCnnException(message);
    }

    public static void Positive(int value, string name)
    {
        if (value <= 0) throw new NativeCnnException($"{name} must be positive, got {value}");
    }

    public static void NonNegative(int value, string name)
    {
        if (value < 0) throw new NativeCnnException($"{name} must be >= 0, got {value}");
    }

    /// <summary>Turns a possibly negative dimension index into 0..rank-1.</summary>
    public static int Dim(int dim, int rank, string op)
    {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank)
            throw new NativeCnnException($"{op}: dim {dim} is out of range for a tensor with {rank} dimensions");
        return d;
    }
}
