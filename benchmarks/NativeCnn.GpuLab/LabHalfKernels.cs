// The opt-in float16 GEMM kernels the lab times beside the default one (GemmFp16.cs's 128x128): the
// ldmatrix kernels with their slices staged through registers (GemmFp16Ldmatrix.cs) and moved by
// cp.async (GemmFp16Async.cs), each with 8 warps of 64x32 or 4 of 64x64. One value names each: its
// backend settings, its variant name in the records ("ldmatrix-w64x32", "async-w64x64", ...) and its
// --half-ldmatrix spelling ("64x32", "64x64+async", ...).
using NativeCnn.Backends.Gpu;

namespace NativeCnn.GpuLab;

public readonly record struct HalfKernel(HalfLdmatrixKernel Tile, bool Async)
{
    /// <summary>GemmFp16.cs's kernel: no variant.</summary>
    public static HalfKernel Default => new(HalfLdmatrixKernel.Off, false);

    /// <summary>Every opt-in kernel, in the order the lab times them.</summary>
    public static readonly HalfKernel[] OptIn =
    {
        new(HalfLdmatrixKernel.Warp64x32, false), new(HalfLdmatrixKernel.Warp64x64, false),
        new(HalfLdmatrixKernel.Warp64x32, true), new(HalfLdmatrixKernel.Warp64x64, true),
    };

    public bool IsDefault => Tile == HalfLdmatrixKernel.Off;

    /// <summary>The variant name in results.jsonl and summary.md; null for the default kernel.</summary>
    public string? Variant => IsDefault ? null : (Async ? "async-" : "ldmatrix-") + (Tile == HalfLdmatrixKernel.Warp64x64 ? "w64x64" : "w64x32");

    /// <summary>The --half-ldmatrix value that selects it.</summary>
    public string Option => (Tile == HalfLdmatrixKernel.Warp64x64 ? "64x64" : "64x32") + (Async ? "+async" : "");

    public static HalfKernel Of(GpuBackend gpu) => new(gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync);

    public void ApplyTo(GpuBackend gpu) => (gpu.HalfLdmatrix, gpu.HalfLdmatrixAsync) = (Tile, Async && !IsDefault);

    /// <summary>The kernel a --half-ldmatrix value names.</summary>
    public static HalfKernel Parse(string value) =>
        OptIn.Where(k => k.Option == value).Select(k => (HalfKernel?)k).FirstOrDefault()
        ?? throw new ArgumentException($"--half-ldmatrix expects {string.Join(", ", OptIn.Select(k => k.Option))} " +
                                       $"(the warp tile, and +async for the cp.async kernel), got '{value}'");
}
