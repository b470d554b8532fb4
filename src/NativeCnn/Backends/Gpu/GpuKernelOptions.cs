// Which GEMM kernels the GPU backend runs, for tests and the GPU lab: the one place that can steer the
// backend away from its defaults. Not public: an embedding user gets the defaults, which choose by device
// and size alone (GpuBackend.Gemm.cs, GpuBackend.Fp16.cs). The lab's kernel experiments
// (benchmarks/NativeCnn.GpuLab/Kernels) run through HalfTensorCoreOverride.
// What must hold: a new GpuBackend starts with the defaults below, and every setting only chooses among
// kernels that compute the same product (results change by summation order at most).
using ILGPU;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

/// <summary>Which tile size of a GEMM kernel the GPU backend runs (float32, and float16 on tensor cores).</summary>
internal enum GemmTile
{
    /// <summary>Tile128 for products with at least one 128x128 tile per SM, Tile64 otherwise.</summary>
    Auto,
    /// <summary>64x64 tiles, 128 threads (float32: an 8x4 register tile per thread; float16: 32x32 per warp).</summary>
    Tile64,
    /// <summary>128x128 tiles, 256 threads (float32: 8x8 per thread, 16-byte shared loads; float16: 64x32 per warp).</summary>
    Tile128,
}

/// <summary>How the GPU backend multiplies float16 matrices.</summary>
internal enum HalfGemmPath
{
    /// <summary>Tensor cores on CUDA devices of compute capability 8.0 and above, Widen elsewhere.</summary>
    Auto,
    /// <summary>The mma.sync kernels (on the simulator they emulate the instruction).</summary>
    TensorCore,
    /// <summary>Cast to float32 and use the float32 GEMM.</summary>
    Widen,
}

/// <summary>A tensor-core float16 GEMM run instead of the backend's own kernels: given the product (with
/// GemmArgs.Aligned and ExactEmulation already set) it launches a kernel and returns true, or returns false
/// to leave the product to the backend.</summary>
internal delegate bool HalfGemmOverride(GemmArgs args, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c);

/// <summary>The GPU backend's kernel choices (tests and the GPU lab set them; the defaults are the product's).</summary>
internal sealed class GpuKernelOptions
{
    /// <summary>Which float32 GEMM kernel runs.</summary>
    public GemmTile FloatGemmTile { get; set; } = GemmTile.Auto;

    /// <summary>Which float16 GEMM path runs.</summary>
    public HalfGemmPath HalfGemm { get; set; } = HalfGemmPath.Auto;

    /// <summary>Which tile of GemmFp16.cs's tensor-core kernels the TensorCore path runs.</summary>
    public GemmTile HalfGemmTile { get; set; } = GemmTile.Auto;

    /// <summary>Whether 128x128 tensor-core products of 16-byte-aligned operands run on the cp.async ldmatrix
    /// kernel (GemmFp16Async.cs, the default); false runs GemmFp16.cs's 128x128 kernel for them.</summary>
    public bool HalfLdmatrix { get; set; } = true;

    /// <summary>Whether the tensor-core kernels may read operands in 16-byte vectors where alignment allows
    /// (GpuBackend.HalfAlignment); off, they load word by word.</summary>
    public bool HalfVectorLoads { get; set; } = true;

    /// <summary>On ILGPU's CPU simulator, whether the ldmatrix kernels emulate ldmatrix and mma instruction by
    /// instruction (GemmArgs.ExactEmulation: exact but slow) instead of computing each product from shared
    /// memory. Ignored on a GPU.</summary>
    public bool ExactTensorCoreEmulation { get; set; }

    /// <summary>Force this many k segments (1: never split); null: GpuBackend.ChooseSplitK.</summary>
    public int? ForcedSplitK { get; set; }

    /// <summary>Whether convolutions run as implicit GEMM (GpuBackend.ConvImplicit.cs, ConvImplicitHalf.cs: the
    /// default) or as im2col + GEMM (GpuBackend.Conv.cs: the comparison, and its tests).</summary>
    public bool ImplicitConv { get; set; } = true;

    /// <summary>Force this many k segments in the implicit conv's backward-weight; null: GpuBackend.ConvSplitK.</summary>
    public int? ForcedConvSplitK { get; set; }

    /// <summary>Whether float32 convs and GEMMs run in TF32 on tensor cores (GpuBackend.Tf32.cs) for this backend;
    /// null (the default): as NativeCnn.Precision.AllowTf32 says. Tests set it, so as not to flip the process-wide flag.</summary>
    public bool? Tf32 { get; set; }

    /// <summary>The GPU lab's hook: tensor-core float16 products go here first (null: the backend's kernels).</summary>
    public HalfGemmOverride? HalfTensorCoreOverride { get; set; }
}
