// Making tensors: zeros, ones, full, arange, seeded rand/randn, and from host arrays.
// Factories place the tensor on a device (CPU unless told) and never require grad unless asked.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;

namespace NativeCnn;

public sealed partial class Tensor
{
    internal static IBackend BackendFor(Device? device)
    {
        device ??= Device.Cpu;
        if (device.Kind == DeviceKind.Cpu) return CpuBackend.Instance;
        return DeviceRegistry.Resolve(device);
    }

    /// <summary>An uninitialised contiguous tensor (internal: ops overwrite it fully).</summary>
    internal static Tensor Empty(int[] shape, DType dtype, IBackend backend)
    {
        NativeCnn.Shape.CheckValid(shape, "tensor");
        return new Tensor(backend.Allocate(dtype, (int)NativeCnn.Shape.Numel(shape)), (int[])shape.Clone());
    }

    /// <summary>A new tensor of <paramref name="shape"/> with every element <paramref name="value"/>, of <paramref name="dtype"/> on <paramref name="device"/> (the CPU if null); a leaf that records gradients if <paramref name="requiresGrad"/>.</summary>
    /// <exception cref="ArgumentException">A size is negative.</exception>
    public static Tensor Full(int[] shape, float value, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false)
    {
        var t = Empty(shape, dtype, BackendFor(device));
        t.Backend.Fill(t.Storage, value);
        if (requiresGrad) t.RequiresGrad = true;
        return t;
    }

    /// <summary>A float32 CPU tensor of zeros of the given shape.</summary>
    public static Tensor Zeros(params int[] shape) => Full(shape, 0f);
    /// <summary>A float32 CPU tensor of ones of the given shape.</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1f);
    /// <summary>A tensor of zeros of <paramref name="shape"/> and <paramref name="dtype"/> on <paramref name="device"/> (the CPU if null).</summary>
    public static Tensor Zeros(int[] shape, DType dtype, Device? device = null) => Full(shape, 0f, dtype, device);
    /// <summary>A tensor of ones of <paramref name="shape"/> and <paramref name="dtype"/> on <paramref name="device"/> (the CPU if null).</summary>
    public static Tensor Ones(int[] shape, DType dtype, Device? device = null) => Full(shape, 1f, dtype, device);
    /// <summary>A float32 scalar (shape ()) holding <paramref name="value"/>, on <paramref name="device"/> (the CPU if null).</summary>
    public static Tensor Scalar(float value, Device? device = null) => Full(Array.Empty<int>(), value, DType.Float32, device);

    /// <summary>start, start+step, ... below end (float32).</summary>
    public static Tensor Arange(float start, float end, float step = 1f, Device? device = null)
    {
        Check.That(step != 0, $"Arange: step must be non-zero, got {step}");
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / step));
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = start + i * step;
        return FromArray(values, new[] { n }, device);
    }

    /// <summary>Uniform in [0, 1), drawn from <paramref name="rng"/> (the global generator if null).</summary>
    public static Tensor Rand(int[] shape, Rng? rng = null, Device? device = null, float lo = 0f, float hi = 1f)
    {
        var t = Empty(shape, DType.Float32, BackendFor(device));
        t.Backend.RandomUniform(t.Storage, (rng ?? Rng.Global).NextSeed(), lo, hi);
        return t;
    }

    /// <summary>Standard normal, drawn from <paramref name="rng"/> (the global generator if null).</summary>
    public static Tensor Randn(int[] shape, Rng? rng = null, Device? device = null, float mean = 0f, float std = 1f)
    {
        var t = Empty(shape, DType.Float32, BackendFor(device));
        t.Backend.RandomNormal(t.Storage, (rng ?? Rng.Global).NextSeed(), mean, std);
        return t;
    }

    /// <summary>A float32 tensor of <paramref name="shape"/> holding a copy of <paramref name="values"/> (row-major), on <paramref name="device"/> (the CPU if null); a leaf that records gradients if <paramref name="requiresGrad"/>.</summary>
    /// <exception cref="ArgumentException">The number of values is not the product of the shape.</exception>
    public static Tensor FromArray(float[] values, int[] shape, Device? device = null, bool requiresGrad = false)
    {
        NativeCnn.Shape.CheckValid(shape, "FromArray");
        if (values.Length != NativeCnn.Shape.Numel(shape))
            throw new NativeCnnException($"FromArray: shape {NativeCnn.Shape.Format(shape)} needs {NativeCnn.Shape.Numel(shape)} values, got {values.Length}");
        var backend = BackendFor(device);
        var t = new Tensor(backend.FromHost(values), (int[])shape.Clone());
        if (requiresGrad) t.RequiresGrad = true;
        return t;
    }

    /// <summary>A 1-D float32 CPU tensor holding a copy of the values.</summary>
    public static Tensor FromArray(float[] values) => FromArray(values, new[] { values.Length });

    /// <summary>Int32 tensor, e.g. class labels.</summary>
    public static Tensor FromArray(int[] values, int[] shape, Device? device = null)
    {
        NativeCnn.Shape.CheckValid(shape, "FromArray");
        if (values.Length != NativeCnn.Shape.Numel(shape))
            throw new NativeCnnException($"FromArray: shape {NativeCnn.Shape.Format(shape)} needs {NativeCnn.Shape.Numel(shape)} values, got {values.Length}");
        return new Tensor(BackendFor(device).FromHost(values), (int[])shape.Clone());
    }

    /// <summary>A 1-D int32 CPU tensor holding a copy of the values (e.g. class labels).</summary>
    public static Tensor FromArray(int[] values) => FromArray(values, new[] { values.Length });
}
