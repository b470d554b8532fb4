// GPU lab cases (compiled into the lab with the test suite's GpuCases, run by its "cases" section and by
// GpuLabTests on the simulator): the lab's float16 GEMM variants (Kernels/GemmFp16Variants.cs) made the
// backend's through LabHalfGemm, on the shapes the suite runs the default kernel on (GpuCases.GemmHalf.cs:
// LdmatrixShapes, LdmatrixInstructionByInstruction, LdmatrixAgreesBitwise): the register-staged ldmatrix
// kernels with 64x32 and 64x64 warps (and the L1 prefetch, a no-op on the simulator), the cp.async kernel
// with 64x32 warps. What must hold: each variant's products are the default kernel's, bit for bit.
using NativeCnn.Backends.Gpu;
using NativeCnn.GpuLab;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    private static Action Select(GpuBackend gpu, HalfKernel kernel) => () => kernel.ApplyTo(gpu);

    private static readonly HalfKernel LdmatrixW64x32 = new(HalfLdmatrixKernel.Warp64x32, false);
    private static readonly HalfKernel LdmatrixW64x64 = new(HalfLdmatrixKernel.Warp64x64, false);
    private static readonly HalfKernel AsyncW64x32 = new(HalfLdmatrixKernel.Warp64x32, true);

    /// <summary>The register-staged ldmatrix kernel with 8 warps of 64x32.</summary>
    public static void GemmHalfLab_LdmatrixKernel(GpuBackend gpu) => LdmatrixShapes(gpu, "gemmHalfLdmatrix", Select(gpu, LdmatrixW64x32));

    /// <summary>The register-staged ldmatrix kernel with 4 warps of 64x64 (4 chunks of each operand per thread).</summary>
    public static void GemmHalfLab_LdmatrixWarp64Kernel(GpuBackend gpu) => LdmatrixShapes(gpu, "gemmHalfLdmatrixW64", Select(gpu, LdmatrixW64x64));

    /// <summary>The cp.async kernel with 8 warps of 64x32.</summary>
    public static void GemmHalfLab_AsyncKernel(GpuBackend gpu) => LdmatrixShapes(gpu, "gemmHalfAsync", Select(gpu, AsyncW64x32));

    /// <summary>The register-staged kernels with the L1 prefetch of the slice after next (a no-op where PTX cannot run).</summary>
    public static void GemmHalfLab_LdmatrixPrefetch(GpuBackend gpu)
    {
        LdmatrixShapes(gpu, "gemmHalfLdmatrix", Select(gpu, LdmatrixW64x32 with { Prefetch = true }));
        LdmatrixShapes(gpu, "gemmHalfLdmatrixW64", Select(gpu, LdmatrixW64x64 with { Prefetch = true }));
    }

    /// <summary>The GPU path of each lab variant with ldmatrix and mma emulated instruction by instruction: every
    /// transpose pair for the register-staged kernels, one for the cp.async one (it runs the default's steps).</summary>
    public static void GemmHalfLab_LdmatrixInstructionByInstruction(GpuBackend gpu)
    {
        LdmatrixInstructionByInstruction(gpu, Select(gpu, LdmatrixW64x32), allPairsOnSimulator: true);
        LdmatrixInstructionByInstruction(gpu, Select(gpu, LdmatrixW64x64), allPairsOnSimulator: true);
        LdmatrixInstructionByInstruction(gpu, Select(gpu, AsyncW64x32));
    }

    /// <summary>The float16 conv through each lab variant (ConvHalf_LdmatrixPath's geometries).</summary>
    public static void GemmHalfLab_ConvPath(GpuBackend gpu)
    {
        ConvHalfLdmatrixPath(gpu, "gemmHalfLdmatrix", Select(gpu, LdmatrixW64x32));
        ConvHalfLdmatrixPath(gpu, "gemmHalfLdmatrixW64", Select(gpu, LdmatrixW64x64));
        ConvHalfLdmatrixPath(gpu, "gemmHalfAsync", Select(gpu, AsyncW64x32));
    }

    /// <summary>Each lab variant gives bitwise GemmFp16.cs's 128x128 kernel's (and the default's) C.</summary>
    public static void GemmHalfLab_LdmatrixAgreesBitwise(GpuBackend gpu) =>
        LdmatrixAgreesBitwise(gpu, Select(gpu, LdmatrixW64x32), Select(gpu, LdmatrixW64x64), Select(gpu, AsyncW64x32));
}
