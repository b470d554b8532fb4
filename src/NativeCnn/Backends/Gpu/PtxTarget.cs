// Sets a PTX module's target to sm_90a, which ILGPU 1.5.3 cannot write: Hopper's architecture-specific
// instructions (wgmma, used by the GPU lab's wgmma probe and kernel) assemble only for
// it, and only from PTX ISA 8.0 on. The `.target` line becomes `.target sm_90a` (anything after the
// architecture, such as a debug flag, is kept) and a `.version` below 8.0 becomes 8.0. Code for sm_90a
// runs on compute capability 9.0 devices only: the caller (the GPU lab's wgmma kernels) checks the device.
using System.Globalization;
using System.Text.RegularExpressions;

namespace NativeCnn.Backends.Gpu;

internal static partial class PtxTarget
{
    /// <summary><paramref name="ptx"/> for sm_90a; throws if it has no .target or .version line.</summary>
    public static string ForSm90a(string ptx)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        var version = Version().Match(ptx);
        var target = Target().Match(ptx);
        if (!version.Success || !target.Success)
            throw new NativeCnnException("PtxTarget: the PTX has no .version or .target line to set for sm_90a");
        int major = int.Parse(version.Groups[1].Value, CultureInfo.InvariantCulture);
        string result = Target().Replace(ptx, m => m.Groups[1].Value + "sm_90a", 1);
        return major >= 8 ? result : Version().Replace(result, ".version 8.0", 1);
    }

    [GeneratedRegex(@"^\.version (\d+)\.(\d+)", RegexOptions.Multiline)]
    private static partial Regex Version();

    [GeneratedRegex(@"^(\.target\s+)sm_\d+a?", RegexOptions.Multiline)]
    private static partial Regex Target();
}
