// Section "device": what the engine and ILGPU see, before anything else runs. On a GPU host the first
// question is whether ILGPU 1.5.3 creates a CUDA accelerator on the card at all (its driver table
// predates CUDA 13), so this prints the engine's device list with the reason for every device it
// cannot use, then creates the backend and prints ILGPU's own description of the accelerator.
// Must hold: a failure here is recorded with the full exception, and the lab stops (exit code 2).
using System.Text.Json.Nodes;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends.Gpu;

namespace NativeCnn.GpuLab;

internal static class LabDevice
{
    /// <summary>The backend the other sections use, or null (recorded) when it cannot be had.</summary>
    public static GpuBackend? Open(LabOptions o, LabResults results)
    {
        Console.WriteLine("== device");
        foreach (var d in Devices.List())
        {
            Console.WriteLine($"  {d}");
            results.Add("device", new JsonObject
            {
                ["kind"] = "listed", ["device"] = d.Device.ToString(), ["name"] = d.Name, ["memory_bytes"] = d.MemoryBytes,
                ["compute_capability"] = d.ComputeCapability, ["warp"] = d.WarpSize, ["usable"] = d.Usable, ["reason"] = d.Reason,
            });
        }
        if (!o.Simulator && Devices.CudaUnavailableReason() is { } why)
            Console.WriteLine($"  cuda: {why}");

        GpuBackend backend;
        try
        {
            backend = o.Simulator ? Devices.SimulatorBackend() : Devices.CudaBackend(0);
        }
        catch (Exception e)
        {
            results.Add("device", new JsonObject
            {
                ["kind"] = "open", ["ok"] = false, ["wanted"] = o.Simulator ? "gpu-simulator:0" : "cuda:0",
                ["type"] = e.GetType().Name, ["message"] = e.Message, ["trace"] = e.ToString(),
            });
            Console.WriteLine($"FAIL opening {(o.Simulator ? "the simulator" : "cuda:0")}: {e}");
            return null;
        }

        var acc = backend.Accelerator;
        var info = new StringWriter();
        acc.PrintInformation(info);
        Console.Write(info.ToString());
        var record = new JsonObject
        {
            ["kind"] = "open", ["ok"] = true, ["device"] = backend.Device.ToString(), ["name"] = acc.Name,
            ["memory_bytes"] = acc.MemorySize, ["warp"] = acc.WarpSize, ["multiprocessors"] = acc.NumMultiprocessors,
            ["max_threads_per_group"] = acc.MaxNumThreadsPerGroup, ["max_shared_memory_per_group"] = acc.MaxSharedMemoryPerGroup,
            ["ilgpu"] = typeof(Accelerator).Assembly.GetName().Version?.ToString(), ["information"] = info.ToString(),
        };
        if (acc is CudaAccelerator cuda)
        {
            record["architecture"] = cuda.Architecture.ToString();
            record["instruction_set"] = cuda.InstructionSet.ToString();
            record["driver_version"] = $"{cuda.DriverVersion.Major}.{cuda.DriverVersion.Minor}";
            record["clock_khz"] = cuda.ClockRate;
            record["l2_bytes"] = cuda.L2CacheSize;
        }
        results.Add("device", record);
        File.WriteAllText(Path.Combine(results.OutDir, "device.txt"), info.ToString());
        return backend;
    }
}
