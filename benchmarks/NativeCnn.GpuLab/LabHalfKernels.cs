// The float16 GEMM kernels the lab times: the backend's default for 16-byte-aligned 128x128 products (the
// cp.async ldmatrix kernel with 4 warps of 64x64, GemmFp16Async.cs) and, beside it, the others it can
// run instead: GemmFp16.cs's 128x128 mma.sync kernel (loads through registers, fragments assembled
// from shared memory by hand), the register-staged ldmatrix kernels (GemmFp16Ldmatrix.cs) with 8 warps
// of 64x32 or 4 of 64x64, the cp.async one with 64x32 warps; and the wgmma kernel (GemmFp16Wgmma.cs,
// compute capability 9.0 only), which the lab times only when asked for by name, in a process of its
// own (run.sh). One value names each: its backend settings, its variant name in the records
// ("mma-w64x32", "ldmatrix-w64x32", "async-w64x32", "wgmma", ...; none for the default) and its
// --half-ldmatrix spelling ("mma", "64x32", "64x64+async", "wgmma", ...).
using NativeCnn.Backends.Gpu;

namespace NativeCnn.GpuLab;

public readonly record struct HalfKernel(HalfLdmatrixKernel Tile, bool Async, bool Wgmma = false)
{
    /// <summary>The backend's default (GpuBackend.HalfLdmatrix, HalfLdmatrixAsync): no variant name.</summary>
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

    /// <summary>The variant name in results.jsonl and summary.md; null for the default kernel.</summary>
    public string? Variant => Wgmma ? "wgmma" : IsDefault ? null
        : Tile == HalfLdmatrixKernel.Off ? "mma-w64x32"
        : (Async ? "async-" : "ldmatrix-") + (Tile == HalfLdmatrixKernel.Warp64x64 ? "w64x64" : "w64x32");

    /// <summary>The --half-ldmatrix value that selects it.</summary>
    public string Option => Wgmma ? "wgmma" : Tile == HalfLdmatrixKernel.Off ? "mma"
        : (Tile == HalfLdmatrixKernel.Warp64x64 ? "64x64" : "64x32") + (Async ? "+async" : "");

    public static HalfKernel Of(GpuBackend gpu) => new(gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync && gpu.HalfLdmatrix != HalfLdmatrixKernel.Off, gpu.HalfWgmma);

    public void ApplyTo(GpuBackend gpu) =>
        (gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync, gpu.HalfWgmma) = (Tile, Async && Tile != HalfLdmatrixKernel.Off, Wgmma);

    private static IEnumerable<HalfKernel> All => Others.Prepend(Default).Append(WgmmaKernel);

    /// <summary>The kernel a --half-ldmatrix value names.</summary>
    public static HalfKernel Parse(string value) =>
        All.Where(k => k.Option == value).Select(k => (HalfKernel?)k).FirstOrDefault()
        ?? throw new ArgumentException($"--half-ldmatrix expects {string.Join(", ", All.Select(k => k.Option))} " +
                                       $"(mma: GemmFp16.cs's kernel; else the warp tile, and +async for the cp.async kernel), got '{value}'");
}
