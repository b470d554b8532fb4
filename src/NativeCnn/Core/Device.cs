// Where a tensor lives. The CPU backend is always there; GPU devices are added by the GPU backend.
namespace NativeCnn;

/// <summary>The kind of a <see cref="Device"/>.</summary>
public enum DeviceKind
{
    /// <summary>The managed CPU backend (SIMD, all cores).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through CUDA (ILGPU's CUDA accelerator).</summary>
    Cuda,
    /// <summary>ILGPU's CPU simulator running the GPU kernels (slow; for tests and study).</summary>
    GpuSimulator,
}

/// <summary>A compute device: the managed CPU backend, a CUDA GPU, or ILGPU's CPU simulator.</summary>
public sealed record Device(DeviceKind Kind, int Index = 0)
{
    /// <summary>The managed CPU backend, always available.</summary>
    public static readonly Device Cpu = new(DeviceKind.Cpu);

    /// <summary>"cpu", "cuda:N" or "gpu-simulator:N".</summary>
    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => $"cuda:{Index}",
        _ => $"gpu-simulator:{Index}",
    };
}
