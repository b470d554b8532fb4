// The opt-in float16 GEMM kernels the lab times beside the default one (GemmFp16.cs's 128x128): the
// ldmatrix kernels with their slices staged through registers (GemmFp16Ldmatrix.cs) and moved by
// cp.async (GemmFp16Async.cs), each with 8 warps of 64x32 or 4 of 64x64; and the wgmma kernel
// (GemmFp16Wgmma.cs, compute capability 9.0 only), which the lab times only when asked for by name,
// in a process of its own (run.sh). One value names each: its backend settings, its variant name in
// the records ("ldmatrix-w64x32", "async-w64x64", "wgmma", ...) and its --half-ldmatrix spelling
// ("64x32", "64x64+async", "wgmma", ...).
using NativeCnn.Backends.Gpu;

namespace NativeCnn.GpuLab;

public readonly record struct HalfKernel(HalfLdmatrixKernel Tile, bool Async, bool Wgmma = false)
{
    /// <summary>GemmFp16.cs's kernel: no variant.</summary>
    public static HalfKernel Default => new(HalfLdmatrixKernel.Off, false);

    /// <summary>The wgmma kernel (not among OptIn: an unproven Hopper kernel must not share the lab's CUDA context).</summary>
    public static HalfKernel WgmmaKernel => new(HalfLdmatrixKernel.Off, false, Wgmma: true);

    /// <summary>Every opt-in kernel, in the order the lab times them.</summary>
    public static readonly HalfKernel[] OptIn =
    {
        new(HalfLdmatrixKernel.Warp64x32, false), new(HalfLdmatrixKernel.Warp64x64, false),
        new(HalfLdmatrixKernel.Warp64x32, true), new(HalfLdmatrixKernel.Warp64x64, true),
    };

    public bool IsDefault => Tile == HalfLdmatrixKernel.Off && !Wgmma;

    /// <summary>The variant name in results.jsonl and summary.md; null for the default kernel.</summary>
    public string? Variant => Wgmma ? "wgmma" : IsDefault ? null
        : (Async ? "async-" : "ldmatrix-") + (Tile == HalfLdmatrixKernel.Warp64x64 ? "w64x64" : "w64x32");

    /// <summary>The --half-ldmatrix value that selects it.</summary>
    public string Option => Wgmma ? "wgmma" : (Tile == HalfLdmatrixKernel.Warp64x64 ? "64x64" : "64x32") + (Async ? "+async" : "");

    public static HalfKernel Of(GpuBackend gpu) => new(gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync, gpu.HalfWgmma);

    public void ApplyTo(GpuBackend gpu) =>
        (gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync, gpu.HalfWgmma) = (Tile, Async && Tile != HalfLdmatrixKernel.Off, Wgmma);

    /// <summary>The kernel a --half-ldmatrix value names.</summary>
    public static HalfKernel Parse(string value) =>
        OptIn.Append(WgmmaKernel).Where(k => k.Option == value).Select(k => (HalfKernel?)k).FirstOrDefault()
        ?? throw new ArgumentException($"--half-ldmatrix expects {string.Join(", ", OptIn.Append(WgmmaKernel).Select(k => k.Option))} " +
                                       $"(the warp tile, and +async for the cp.async kernel), got '{value}'");
}
