// `nativecnn devices` and the device choice of `--device`: what the engine sees (the CPU backend, the
// simulator, each CUDA device with name, memory and compute capability, or why there is none or why
// one cannot be used) and what auto picks. Must hold: asking never fails on a machine without an
// NVIDIA driver; `cuda` where no usable GPU exists is one error line naming why (exit code 1).
using System.Globalization;

namespace NativeCnn.Cli;

public static class DevicesCommand
{
    public const string Usage =
        "Usage: nativecnn devices\n" +
        "\n" +
        "Lists the devices NativeCnn sees: the managed CPU backend, ILGPU's CPU simulator of the GPU\n" +
        "backend (for tests), and each CUDA device with name, memory and compute capability, or why\n" +
        "it cannot be used; then the device --device auto picks.\n" +
        "\n" +
        "Options:\n" +
        "  -h, --help     show this help";

    /// <summary>Width of the name column ("gpu-simulator:0" and two spaces).</summary>
    public const int NameWidth = 17;

    /// <summary>Every flag devices takes.</summary>
    public static readonly string[] Flags = { "--help" };

    public static int Run(string[] args, TextWriter stdout)
    {
        foreach (var arg in args)
        {
            if (arg is "--help" or "-h")
            {
                stdout.WriteLine(Usage);
                return Cli.ExitOk;
            }
            throw arg.StartsWith('-') ? ArgReader.Unknown("devices", arg, Flags) : new UsageException($"devices: unexpected argument '{arg}'; devices takes no options");
        }
        stdout.Write(Listing(Devices.List(), Devices.CudaUnavailableReason(), Devices.Auto()));
        return Cli.ExitOk;
    }

    /// <summary>The listing as printed: one line per device, a line for CUDA when the driver lists none
    /// (with the reason), and the device auto picks.</summary>
    public static string Listing(IReadOnlyList<DeviceInfo> devices, string? cudaUnavailableReason, Device auto)
    {
        var text = new System.Text.StringBuilder();
        int width = Math.Max(NameWidth, devices.Max(d => d.Device.ToString().Length) + 2);
        foreach (var d in devices)
            text.Append(Line(d.Device.ToString(), width)).AppendLine(Describe(d));
        if (!devices.Any(d => d.Device.Kind == DeviceKind.Cuda))
            text.Append(Line("cuda", width)).AppendLine($"none: {cudaUnavailableReason ?? "the NVIDIA driver reports no CUDA devices"}");
        else if (cudaUnavailableReason is not null)
            text.Append(Line("cuda", width)).AppendLine($"no usable device: {cudaUnavailableReason}");
        text.Append(Line("auto", width)).AppendLine(auto.ToString());
        return text.ToString();
    }

    private static string Line(string name, int width) => name.PadRight(width);

    private static string Describe(DeviceInfo d)
    {
        var parts = new List<string> { d.Name, Memory(d) };
        if (d.ComputeCapability.Length > 0) parts.Add($"compute capability {d.ComputeCapability}");
        if (d.WarpSize > 0) parts.Add($"warp {d.WarpSize}");
        return string.Join(", ", parts) + (d.Usable ? "" : $" -- not usable: {d.Reason}");
    }

    private static string Memory(DeviceInfo d)
    {
        string gib = (d.MemoryBytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture);
        return d.Device.Kind == DeviceKind.Cuda ? $"{gib} GiB" : $"{gib} GiB host memory";
    }

    /// <summary>The device a --device value names: auto (CUDA when a usable NVIDIA GPU exists, else the
    /// CPU), cpu, cuda (device 0), cuda:N, or simulator. Throws NativeCnnException, naming why, when
    /// CUDA was asked for and cannot be used.</summary>
    public static Device Resolve(string spec)
    {
        switch (spec)
        {
            case "auto": return Devices.Auto();
            case "cpu": return Device.Cpu;
            case "simulator": return Devices.Simulator();
        }
        int index = spec == "cuda" ? 0
            : spec.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(spec.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i
            : throw new UsageException($"--device expects auto, cpu, cuda, cuda:N or simulator, got '{spec}'");
        if (Devices.CudaUnavailableReason() is { } why)
            throw new NativeCnnException($"--device {spec}: no usable NVIDIA GPU: {why}");
        try { return Devices.Cuda(index); }
        catch (NativeCnnException e) { throw new NativeCnnException($"--device {spec}: {e.Message}"); }
    }

    /// <summary>One line saying which device runs, e.g. "device: cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB, compute capability 9.0)".</summary>
    public static string Describe(Device device)
    {
        var info = Devices.List().FirstOrDefault(d => d.Device == device);
        return info is null ? $"device: {device}" : $"device: {device} ({Describe(info)})";
    }
}
