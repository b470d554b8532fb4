// The float16 GEMM kernels the lab times: the backend's default for 16-byte-aligned 128x128 products (the
// cp.async ldmatrix kernel with 4 warps of 64x64, GemmFp16Async.cs) and, beside it, the others it can
// run instead: GemmFp16.cs's 128x128 mma.sync kernel (loads through registers, fragments assembled
// from shared memory by hand), the register-staged ldmatrix kernels (Kernels/GemmFp16Variants.cs) with 8 warps
// of 64x32 or 4 of 64x64, the cp.async one with 64x32 warps; and the wgmma kernel (Kernels/GemmFp16Wgmma.cs,
// compute capability 9.0 only), which the lab times only when asked for by name, in a process of its
// own (run.sh). One value names each: its backend settings, its variant name in the records
// ("mma-w64x32", "ldmatrix-w64x32", "async-w64x32", "wgmma", ...; none for the default) and its
// --half-ldmatrix spelling ("mma", "64x32", "64x64+async", "wgmma", ...). The default and GemmFp16.cs's
// kernel are the backend's; the others are the lab's (Kernels/), run through LabHalfGemm.
using NativeCnn.Backends.Gpu;

namespace NativeCnn.GpuLab;

/// <summary>The ldmatrix float16 GEMM kernels by warp tile.</summary>
public enum HalfLdmatrixKernel
{
    /// <summary>None: GemmFp16.cs's 128x128 kernel.</summary>
    Off,
    /// <summary>8 warps of 64x32 per 128x128 tile (GemmFp16.cs's warp tiles).</summary>
    Warp64x32,
    /// <summary>4 warps of 64x64 per 128x128 tile (GemmFp16Warp64.cs): 1.5 times fewer shared-memory bytes per mma.</summary>
    Warp64x64,
}

/// <summary>A float16 GEMM kernel the lab can make the backend's: the warp tile, cp.async or register staging,
/// wgmma, and (register-staged only) the L1 prefetch.</summary>
internal readonly record struct HalfKernel(HalfLdmatrixKernel Tile, bool Async, bool Wgmma = false, bool Prefetch = false)
{
    /// <summary>The backend's default (the cp.async kernel with 64x64 warps): no variant name.</summary>
    public static HalfKernel Default => new(HalfLdmatrixKernel.Warp64x64, true);

    /// <summary>The wgmma kernel (not among Others: an unproven Hopper kernel must not share the lab's CUDA context).</summary>
    public static HalfKernel WgmmaKernel => new(HalfLdmatrixKernel.Off, false, Wgmma: true);

    /// <summary>Every kernel but the default and wgmma, in the order the lab times them.</summary>
    public static readonly HalfKernel[] Others =
    {
        new(HalfLdmatrixKernel.Off, false), new(HalfLdmatrixKernel.Warp64x32, false), new(HalfLdmatrixKernel.Warp64x64, false),
        new(HalfLdmatrixKernel.Warp64x32, true),
    };

    public bool IsDefault => this == Default;

    /// <summary>Whether the lab runs it (LabHalfGemm); else the backend's own (the cp.async 64x64 kernel, which
    /// prefetch does not apply to, or GemmFp16.cs's).</summary>
    public bool IsLabKernel => Wgmma || Tile != HalfLdmatrixKernel.Off && !(Async && Tile == HalfLdmatrixKernel.Warp64x64);

    /// <summary>The variant name in results.jsonl and summary.md; null for the default kernel.</summary>
    public string? Variant => Wgmma ? "wgmma" : IsDefault ? null
        : Tile == HalfLdmatrixKernel.Off ? "mma-w64x32"
        : (Async ? "async-" : "ldmatrix-") + (Tile == HalfLdmatrixKernel.Warp64x64 ? "w64x64" : "w64x32");

    /// <summary>The --half-ldmatrix value that selects it.</summary>
    public string Option => Wgmma ? "wgmma" : Tile == HalfLdmatrixKernel.Off ? "mma"
        : (Tile == HalfLdmatrixKernel.Warp64x64 ? "64x64" : "64x32") + (Async ? "+async" : "");

    /// <summary>The kernel the backend runs now.</summary>
    public static HalfKernel Of(GpuBackend gpu) =>
        gpu.Options.HalfTensorCoreOverride?.Target is LabHalfGemm lab ? lab.Kernel
        : gpu.Options.HalfLdmatrix ? Default : new(HalfLdmatrixKernel.Off, false);

    /// <summary>Makes this kernel the backend's: the default and GemmFp16.cs's are the backend's own, the
    /// others run through the lab's override (LabHalfGemm).</summary>
    public void ApplyTo(GpuBackend gpu)
    {
        gpu.Options.HalfLdmatrix = Tile != HalfLdmatrixKernel.Off;
        gpu.Options.HalfTensorCoreOverride = IsLabKernel ? LabHalfGemm.Of(gpu, this).Run : null;
    }

    private static IEnumerable<HalfKernel> All => Others.Prepend(Default).Append(WgmmaKernel);

    /// <summary>The kernel a --half-ldmatrix value names.</summary>
    public static HalfKernel Parse(string value) =>
        All.Where(k => k.Option == value).Select(k => (HalfKernel?)k).FirstOrDefault()
        ?? throw new ArgumentException($"--half-ldmatrix expects {string.Join(", ", All.Select(k => k.Option))} " +
                                       $"(mma: GemmFp16.cs's kernel; else the warp tile, and +async for the cp.async kernel), got '{value}'");
}
