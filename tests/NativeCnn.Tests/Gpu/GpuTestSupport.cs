// xunit pieces of the GPU suites: the collection that serialises them, and the attributes that skip
// CUDA-only tests (with the reason) where no usable CUDA device is present, tests that assemble PTX where
// NVIDIA's ptxas (and cuobjdump) is not installed, and minutes-long simulator tests unless asked for. The helpers the cases use (G, Both) are in GpuTestHelpers.cs, which the GPU
// lab (benchmarks/NativeCnn.GpuLab) compiles too, without xunit's runner.
using Xunit;

namespace NativeCnn.Tests.Gpu;

/// <summary>All GPU tests share one simulator accelerator, so they run one at a time.</summary>
[CollectionDefinition("Gpu", DisableParallelization = true)]
public sealed class GpuCollection { }

/// <summary>A fact that runs only where a usable CUDA device exists and is skipped, with the reason, elsewhere.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (CudaSkip.Reason is { } r) Skip = r;
    }
}

/// <summary>A theory that runs only where a usable CUDA device exists.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute()
    {
        if (CudaSkip.Reason is { } r) Skip = r;
    }
}

/// <summary>A fact that takes minutes on ILGPU's CPU simulator: runs only with NATIVECNN_SLOW_SIMULATOR_TESTS=1,
/// and is skipped, saying how to run it, otherwise.</summary>
public sealed class SlowSimulatorFactAttribute : FactAttribute
{
    public const string Variable = "NATIVECNN_SLOW_SIMULATOR_TESTS";

    public SlowSimulatorFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
            Skip = $"minutes on the CPU simulator; runs on CUDA, and here with {Variable}=1";
    }
}

internal static class CudaSkip
{
    private static readonly Lazy<string?> Why = new(() =>
    {
        try { return Devices.CudaUnavailableReason() is { } r ? $"no usable CUDA device: {r}" : null; }
        catch (Exception e) { return $"no usable CUDA device: {e.GetType().Name}: {e.Message}"; }
    });

    public static string? Reason => Why.Value;
}

/// <summary>A fact that assembles PTX with NVIDIA's ptxas (and, with <see cref="Sass"/>, disassembles with
/// cuobjdump): skipped, with the reason, where they are not installed in /opt/cuda-ptxas.</summary>
public sealed class PtxasFactAttribute : FactAttribute
{
    public PtxasFactAttribute()
    {
        if (PtxasSkip.Reason(sass: false) is { } r) Skip = r;
    }

    /// <summary>Whether the test reads the machine code too (cuobjdump -sass).</summary>
    public bool Sass
    {
        get => _sass;
        set { _sass = value; if (PtxasSkip.Reason(value) is { } r) Skip = r; }
    }

    private bool _sass;
}

/// <summary>A theory that assembles PTX with ptxas (see <see cref="PtxasFactAttribute"/>).</summary>
public sealed class PtxasTheoryAttribute : TheoryAttribute
{
    public PtxasTheoryAttribute()
    {
        if (PtxasSkip.Reason(sass: false) is { } r) Skip = r;
    }

    /// <summary>Whether the test reads the machine code too (cuobjdump -sass).</summary>
    public bool Sass
    {
        get => _sass;
        set { _sass = value; if (PtxasSkip.Reason(value) is { } r) Skip = r; }
    }

    private bool _sass;
}

internal static class PtxasSkip
{
    /// <summary>Why a test that needs ptxas (and cuobjdump with <paramref name="sass"/>) cannot run here, or null.</summary>
    public static string? Reason(bool sass) =>
        PtxKernels.Ptxas is null ? $"skipped: no ptxas ({PtxKernels.PtxasPath}; ../shared/gpu/install-ptxas.sh installs it)"
        : sass && !File.Exists(PtxKernels.CuobjdumpPath) ? $"skipped: no cuobjdump ({PtxKernels.CuobjdumpPath}; ../shared/gpu/install-ptxas.sh installs it)"
        : null;
}
