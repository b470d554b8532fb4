// The GPU lab's float16 GEMM on Hopper's warpgroup mma (wgmma, sm_90a): the kernel of
// Kernels/GemmFp16Wgmma.cs and the probe of Kernels/WgmmaProbe.cs (LabHalfGemm's wgmma variant),
// both loaded through the PTX passes with an sm_90a header (CompiledPtx.cs). The GEMM takes operands
// K-major (op(A) as (m, k) rows, op(B) as (n, k) rows) with 16-byte-aligned rows: an operand stored
// otherwise is first copied into that form (pooled scratch, rows padded to a multiple of 8 halves; a
// tiled transpose where the operand runs the other way). On the simulator the kernel runs with wgmma
// emulated through its descriptors, so it is tested there; on CUDA it runs on compute
// capability 9.0 devices only, with the descriptors' byte offsets read the way the probe, run once on
// the device before the first product, finds they multiply (an error where neither reading does).
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.GpuLab.Kernels;
using NativeCnn.Kernels;

namespace NativeCnn.GpuLab;

internal sealed partial class LabHalfGemm
{
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs>? _gemmHalfWgmma;

    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabWgmmaKernels.WgmmaProbeArgs>? _wgmmaProbe;

    /// <summary>Whether a device runs sm_90a code such as wgmma: CUDA compute capability 9.0 exactly.</summary>
    public static bool SupportsWgmma(GpuBackend gpu) => gpu.Accelerator is CudaAccelerator { Architecture: { Major: 9, Minor: 0 } };

    /// <summary>One launch of the wgmma probe on <paramref name="gpu"/> (LabHalfGemm.Of(gpu, HalfKernel.WgmmaKernel)'s).</summary>
    public static float[] RunWgmmaProbe(GpuBackend gpu, ushort[] a, ushort[] b, LabWgmmaKernels.WgmmaProbeArgs p) =>
        Of(gpu, HalfKernel.WgmmaKernel).RunWgmmaProbe(a, b, p);

    /// <summary>One launch of the wgmma probe (kernels/NativeCnn.Kernels/WgmmaProbe.cs) on <paramref name="a"/> (64 x 16,
    /// row-major) and <paramref name="b"/> (b[16n + k] = B[k][n]) float16 bits, with the descriptors' byte offsets
    /// and B's placement as given: the 4 accumulators of each of its 128 threads.</summary>
    internal float[] RunWgmmaProbe(ushort[] a, ushort[] b, LabWgmmaKernels.WgmmaProbeArgs p)
    {
        if (!SupportsWgmma(_gpu)) throw new NativeCnnException($"GPU lab: the wgmma probe needs a CUDA device of compute capability 9.0, not {_gpu.Device}");
        if (a.Length != 64 * 16 || b.Length != 16 * 8)
            throw new ArgumentException($"the wgmma probe takes A of 1024 and B of 128 halves, got {a.Length} and {b.Length}");
        var acc0 = _gpu.Accelerator;
        using var da = acc0.Allocate1D(a);
        using var db = acc0.Allocate1D(b);
        using var dd = acc0.Allocate1D<float>(4 * LabWgmmaKernels.WgmmaProbeThreads);
        _gpu.Load(ref _wgmmaProbe, acc => CompiledPtx.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabWgmmaKernels.WgmmaProbeArgs>(
                acc, LabWgmmaKernels.WgmmaProbeKernel, new KernelSpecialization(LabWgmmaKernels.WgmmaProbeThreads, 1), sm90a: true))
            (new KernelConfig(1, LabWgmmaKernels.WgmmaProbeThreads), da.View, db.View, dd.View, p);
        acc0.Synchronize();
        return dd.GetAsArray1D();
    }

    private int? _wgmmaOffsetsSwapped;

    /// <summary>How this device reads a wgmma descriptor's byte offsets, found once by the probe: 0 as the PTX ISA
    /// documents (leading byte offset along k), 1 the other way round. The simulator's emulation reads them as
    /// documented.</summary>
    private int WgmmaOffsetsSwapped() => _gpu.Accelerator is CudaAccelerator ? _wgmmaOffsetsSwapped ??= ProbeWgmmaReading() : 0;

    /// <summary>The probe with both readings on its operands (LabWgmmaKernels.WgmmaProbeOperands): 0 or 1 for the
    /// reading that gives every element of D where the documented accumulator layout puts it.</summary>
    private int ProbeWgmmaReading()
    {
        var (a, b) = LabWgmmaKernels.WgmmaProbeOperands();
        static bool Exact(float[] d) => Enumerable.Range(0, d.Length).All(i => d[i] == LabWgmmaKernels.WgmmaProbeExpected(i));
        // the probe's A and B: core (8-row group i, k chunk j) at byte 256 i + 128 j
        if (Exact(RunWgmmaProbe(a, b, new() { LeadingA = 128, StrideA = 256, LeadingB = 128, StrideB = 256 }))) return 0;
        if (Exact(RunWgmmaProbe(a, b, new() { LeadingA = 256, StrideA = 128, LeadingB = 256, StrideB = 128 }))) return 1;
        throw new NativeCnnException($"GPU lab: on {_gpu.Device} neither reading of a wgmma descriptor's byte offsets gives the probe's " +
                                     "product (GpuCases.Wgmma.cs reports what it gives); run another --half-ldmatrix kernel");
    }

    /// <summary>C (float32) = alpha op(A) op(B) + beta C by the wgmma kernel, on K-major copies of operands not already so.</summary>
    private void GemmHalfWgmma(GemmArgs args, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c)
    {
        var w = args;
        int swapped = WgmmaOffsetsSwapped();   // the probe's launch on the first product
        // op(A) (m, k): A stored (m, k) as it is when its rows are 16-byte aligned; op(B) (k, n): B stored (n, k) likewise
        var sa = args.TransA == 0 && GpuBackend.ChunkAligned(GpuBackend.ViewIndex(a), args.Lda, args.StrideA, args.Batch) ? null
            : KMajorCopy(a, args.TransA != 0, args.M, args.K, args.Lda, args.StrideA, args.Batch, out w.Lda, out w.StrideA);
        var sb = args.TransB != 0 && GpuBackend.ChunkAligned(GpuBackend.ViewIndex(b), args.Ldb, args.StrideB, args.Batch) ? null
            : KMajorCopy(b, args.TransB == 0, args.N, args.K, args.Ldb, args.StrideB, args.Batch, out w.Ldb, out w.StrideB);
        var va = sa?.F16 ?? a;
        var vb = sb?.F16 ?? b;
        (w.TransA, w.TransB) = (0, 1);
        (w.AddressA, w.AddressB) = (va.LoadEffectiveAddressAsPtr().ToInt64(), vb.LoadEffectiveAddressAsPtr().ToInt64());
        const int E = GemmHalfKernels.Tile128;
        var tiles = new Index3D((args.N + E - 1) / E, (args.M + E - 1) / E, Math.Min(args.Batch, 65535));
        _gpu.Load(ref _gemmHalfWgmma, acc => CompiledPtx.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs>(
                acc, LabWgmmaKernels.GemmHalfWgmmaKernel, LabWgmmaKernels.SpecializationWgmma, sm90a: acc is CudaAccelerator),
             _gpu.Profile is null ? null : GpuBackend.GemmShape(args), "gemmHalfWgmma")
            (new KernelConfig(tiles, new Index3D(LabWgmmaKernels.GroupThreadsWgmma, 1, 1)), va, vb, c, new LabGemmArgs { G = w, WgmmaOffsetsSwapped = swapped });
        if (sa is not null) _gpu.ReturnToPool(sa);
        if (sb is not null) _gpu.ReturnToPool(sb);
    }

    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, TransposeKernels.TransposeShape>? _transposeF16;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, StridedLayout, int>? _copyF16;

    /// <summary>A pooled (rows x k) row-major copy of each batch entry of an operand whose element (r, k) is at
    /// r * ld + k (<paramref name="transposed"/>: k * ld + r), rows padded to a multiple of 8 halves: a
    /// strided copy (coalesced on both sides) or a tiled transpose.</summary>
    private GpuStorage KMajorCopy(ArrayView<ushort> v, bool transposed, int rows, int k, int ld, int stride, int batch,
                                 out int copyLd, out int copyStride)
    {
        copyLd = (k + 7) / 8 * 8;
        copyStride = rows * copyLd;
        var copy = _gpu.Scratch((long)batch * copyStride, DType.Float16);
        if ((long)batch * rows * k == 0) return copy;
        if (transposed)
        {
            // the operand as stored is (k x rows): its transpose
            const int T = TransposeKernels.TransposeTile;
            var shape = new TransposeKernels.TransposeShape
            {
                Rows = k, Cols = rows, Batch = batch, SrcLd = ld, SrcStride = stride, DstLd = copyLd, DstStride = copyStride,
            };
            _gpu.Load(ref _transposeF16, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, TransposeKernels.TransposeShape>(TransposeKernels.TransposeKernel))
                (new KernelConfig(new Index3D((rows + T - 1) / T, (k + T - 1) / T, Math.Min(batch, 65535)), new Index3D(T, TransposeKernels.TransposeGroupRows, 1)),
                 v, copy.F16, shape);
        }
        else
            _gpu.StridedCopy(v, 0, new[] { stride, ld, 1 }, copy.F16, 0, new[] { copyStride, copyLd, 1 }, new[] { batch, rows, k },
                        _gpu.Load(ref _copyF16, acc => acc.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, StridedLayout, int>(MemoryKernels.StridedCopyKernel)));
        return copy;
    }
}
