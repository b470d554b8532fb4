// Device discovery and choice: what ILGPU sees (CUDA GPUs through the driver, and its CPU
// simulator), whether the engine can use each, and the GpuBackend for a chosen device. Backends are
// made once per device and registered with DeviceRegistry, so tensors can move with To(device).
// What must hold: asking never crashes a machine without a GPU; a device that cannot be used says why.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends.Gpu;

namespace NativeCnn;

/// <summary>A device as the engine sees it.</summary>
/// <param name="Device">The engine's name for it (pass to <c>To(device)</c> and factories).</param>
/// <param name="Name">The driver's or simulator's name.</param>
/// <param name="MemoryBytes">Device memory (host memory for the CPU and the simulator).</param>
/// <param name="ComputeCapability">CUDA compute capability such as "9.0"; empty for non-CUDA devices.</param>
/// <param name="WarpSize">Threads per warp (0 for the CPU backend).</param>
/// <param name="Usable">Whether the engine can run on it.</param>
/// <param name="Reason">Why it cannot be used, when <paramref name="Usable"/> is false.</param>
public sealed record DeviceInfo(Device Device, string Name, long MemoryBytes, string ComputeCapability, int WarpSize, bool Usable, string? Reason)
{
    /// <summary>The device, its name, memory and compute capability, or why it cannot be used.</summary>
    public override string ToString()
    {
        string cc = ComputeCapability.Length > 0 ? $", compute capability {ComputeCapability}" : "";
        string warp = WarpSize > 0 ? $", warp {WarpSize}" : "";
        string use = Usable ? "usable" : $"not usable: {Reason}";
        return $"{Device}: {Name}, {MemoryBytes / (1024 * 1024)} MiB{cc}{warp} ({use})";
    }
}

/// <summary>Lists devices and picks one: <c>Devices.Auto()</c> gives CUDA when a usable NVIDIA GPU is
/// present and the CPU otherwise.</summary>
public static class Devices
{
    private static readonly object Lock = new();
    private static GpuBackend? _simulator;
    private static Context? _cudaContext;
    private static readonly Dictionary<int, GpuBackend> CudaBackends = new();

    /// <summary>Every device the engine knows of: the CPU backend, ILGPU's CPU simulator and each CUDA
    /// device the driver reports (with the reason when ILGPU 1.5.3 cannot use it).</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        long hostMemory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var list = new List<DeviceInfo>
        {
            new(Device.Cpu, $"managed CPU backend ({Environment.ProcessorCount} cores)", hostMemory, "", 0, true, null),
            new(new Device(DeviceKind.GpuSimulator), "ILGPU CPU simulator, NVIDIA-like (for kernel tests, slow)", hostMemory, "",
                CPUDevice.Nvidia.WarpSize, true, null),
        };
        list.AddRange(CudaDevices());
        return list;
    }

    /// <summary>Why no CUDA device can be used here, or null when at least one can.</summary>
    public static string? CudaUnavailableReason()
    {
        var cuda = CudaDevices();
        if (cuda.Any(d => d.Usable)) return null;
        if (cuda.Count == 0) return DriverProblem() ?? "the NVIDIA driver reports no CUDA devices";
        return string.Join("; ", cuda.Select(d => $"{d.Device}: {d.Reason}"));
    }

    /// <summary>The GPU backend over ILGPU's NVIDIA-like CPU simulator (warp 32, up to 1024 threads per
    /// group). Runs every GPU kernel on the CPU, slowly: for tests at tiny sizes, never for training.</summary>
    public static Device Simulator() => SimulatorBackend().Device;

    /// <summary>CUDA device <paramref name="index"/> (the driver's ordinal); throws when it cannot be used.</summary>
    public static Device Cuda(int index = 0) => CudaBackend(index).Device;

    /// <summary>CUDA device 0 when it is usable, else the CPU.</summary>
    public static Device Auto()
    {
        var first = CudaDevices().FirstOrDefault(d => d.Usable);
        if (first is null) return Device.Cpu;
        try { return Cuda(first.Device.Index); }
        catch (NativeCnnException) { return Device.Cpu; }
    }

    internal static GpuBackend SimulatorBackend()
    {
        lock (Lock)
        {
            if (_simulator is not null) return _simulator;
            // Assertions() turns on ILGPU's bounds checks, which is what kernel tests want. Profiling()
            // allows device-event markers on the stream (the GPU kernel lab times kernels with them).
            var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).Assertions().Optimize(OptimizationLevel.O2).EnableAlgorithms().Profiling());
            var accelerator = context.CreateCPUAccelerator(0);
            _simulator = new GpuBackend(accelerator, new Device(DeviceKind.GpuSimulator));
            NativeCnn.Backends.DeviceRegistry.Register(_simulator);
            return _simulator;
        }
    }

    internal static GpuBackend CudaBackend(int index)
    {
        lock (Lock)
        {
            if (CudaBackends.TryGetValue(index, out var existing)) return existing;
            var info = CudaDevices().FirstOrDefault(d => d.Device.Index == index)
                ?? throw new NativeCnnException($"Devices.Cuda: no CUDA device with index {index}; " +
                                                (CudaUnavailableReason() ?? $"found {string.Join(", ", CudaDevices().Select(d => d.Device))}"));
            if (!info.Usable) throw new NativeCnnException($"Devices.Cuda: {info.Device} ({info.Name}) cannot be used: {info.Reason}");
            var device = IlgpuCudaDevices()[index];
            CudaAccelerator accelerator;
            try { accelerator = device.CreateCudaAccelerator(CudaContext()); }
            catch (Exception e) when (e is CudaException or NotSupportedException or InvalidOperationException)
            {
                throw new NativeCnnException($"Devices.Cuda: creating an ILGPU accelerator on {info.Device} ({info.Name}) failed: {e.Message}");
            }
            var backend = new GpuBackend(accelerator, new Device(DeviceKind.Cuda, index));
            NativeCnn.Backends.DeviceRegistry.Register(backend);
            CudaBackends[index] = backend;
            return backend;
        }
    }

    private static Context CudaContext()
    {
        // Profiling() only allows CUDA events as stream markers (the kernel lab's timer); it costs nothing unless used.
        lock (Lock) return _cudaContext ??= Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O2).EnableAlgorithms().Profiling());
    }

    /// <summary>The CUDA devices ILGPU lists, by driver ordinal.</summary>
    private static Dictionary<int, CudaDevice> IlgpuCudaDevices()
    {
        var byId = new Dictionary<int, CudaDevice>();
        foreach (var d in CudaContext().GetCudaDevices()) byId[d.DeviceId] = d;
        return byId;
    }

    /// <summary>Asks the driver directly (ILGPU drops devices it cannot handle without saying why),
    /// then checks each against what ILGPU 1.5.3 supports.</summary>
    private static List<DeviceInfo> CudaDevices()
    {
        var result = new List<DeviceInfo>();
        if (DriverProblem() is not null) return result;
        var api = CudaAPI.CurrentAPI;
        if (api.GetDeviceCount(out int count) != CudaError.CUDA_SUCCESS) return result;
        var ilgpuDevices = IlgpuCudaDevices();
        for (int i = 0; i < count; i++)
        {
            if (api.GetDevice(out int id, i) != CudaError.CUDA_SUCCESS) continue;
            api.GetDeviceName(out string? name, id);
            api.GetTotalDeviceMemory(out long bytes, id);
            api.GetDeviceComputeCapability(out int major, out int minor, id);
            int warp = api.GetDeviceAttribute(DeviceAttributeKind.CU_DEVICE_ATTRIBUTE_WARP_SIZE, id);
            string? reason = null;
            if (!CudaDevice.TryGetArchitecture(major, minor, out _))
                reason = $"ILGPU 1.5.3 does not know compute capability {major}.{minor}";
            else if (!ilgpuDevices.TryGetValue(id, out var dev))
                reason = "ILGPU did not list this device";
            else if (dev.InstructionSet is null)
                reason = $"ILGPU 1.5.3 has no PTX instruction set for sm_{major}{minor} with driver {dev.DriverVersion}";
            result.Add(new DeviceInfo(new Device(DeviceKind.Cuda, id), name ?? "CUDA device", bytes, $"{major}.{minor}", warp, reason is null, reason));
        }
        return result;
    }

    /// <summary>Why the CUDA driver cannot be reached, or null when it can.</summary>
    private static string? DriverProblem()
    {
        try
        {
            var api = CudaAPI.CurrentAPI;
            if (api is null || !api.IsSupported)
                return "no NVIDIA driver found (the CUDA driver library libcuda / nvcuda could not be loaded)";
            var error = api.GetDeviceCount(out int count);
            if (error != CudaError.CUDA_SUCCESS) return $"the CUDA driver failed to list devices: {error} ({api.GetErrorString(error)})";
            return count == 0 ? "the NVIDIA driver reports no CUDA devices" : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            return $"no usable NVIDIA driver: {e.Message}";
        }
    }
}
