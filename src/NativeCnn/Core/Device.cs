// Where a tensor lives. The CPU backend is always there; GPU devices are added by the GPU backend.
namespace NativeCnn;

public enum DeviceKind { Cpu, Cuda, GpuSimulator }

/// <summary>A compute device: the managed CPU backend, a CUDA GPU, or ILGPU's CPU simulator.</summary>
public sealed record Device(DeviceKind Kind, int Index = 0)
{
    public static readonly Device Cpu = new(DeviceKind.Cpu);

    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => $"cuda:{Index}",
        _ => $"gpu-simulator:{Index}",
    };
}
