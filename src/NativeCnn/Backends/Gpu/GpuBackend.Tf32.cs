// GPU TF32 (opt-in: NativeCnn.Precision.AllowTf32, or Options.Tf32 for one backend): float32 convolutions
// and GEMMs on tensor cores with TF32 operands (kernels/NativeCnn.Kernels/ConvImplicitTf32.cs, GemmTf32.cs).
// Taken where the backend would run the float32 implicit conv or a float32 GEMM, on CUDA devices of
// sm_80 and above, and on ILGPU's CPU simulator (emulated: the tests' way in). Same launches as the
// float32 implicit path (tap tables, split-k partials summed by the split-k pass, the bias kernels).
// What must hold: with the flag off nothing here runs; y, gx, gw and C are written as by the float32 path.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>? _convTf32Forward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>? _convTf32BackwardData;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int, int>? _convTf32BackwardWeight;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs, int>? _gemmTf32;

    /// <summary>Whether float32 convs and GEMMs run in TF32 here: asked for (Options.Tf32, else the library's
    /// Precision.AllowTf32) and possible (CUDA sm_80+, or the simulator, which emulates the mma).</summary>
    internal bool EffectiveTf32 => (Options.Tf32 ?? Precision.AllowTf32) && (_acc is not CudaAccelerator cuda || cuda.Architecture.Major >= 8);

    private bool ImplicitTf32Conv(Storage a, Storage b) =>
        Options.ImplicitConv && a.DType == DType.Float32 && b.DType == DType.Float32 && EffectiveTf32;

    private static KernelConfig Tf32Config(long columns, int rows, int segments) => ImplicitHalfConfig(columns, rows, segments);

    /// <summary>x, w -> y (=) in TF32, then the bias.</summary>
    private void ConvImplicitTf32Forward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        long columns = (long)g.N * g.P * g.Q;
        if (columns == 0 || g.K == 0) return;
        CheckImplicitSize(g);
        if (g.Crs == 0) Fill(y, 0f);
        else
            Load(ref _convTf32Forward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>(
                    ConvImplicitTf32Kernels.ConvImplicitTf32ForwardKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : ConvName(g))
                (Tf32Config(columns, g.K, 1), F(x), F(w), ConvTaps(g, false), F(y), Shape(g), Exact);
        if (bias is not null)
            Load(ref _convBias, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ConvKernels.ConvBiasForwardKernel))
                (Flat(columns * g.K), F(y), F(bias), g.N, g.K, g.P * g.Q);
    }

    /// <summary>gy, w -> gx (=) in TF32.</summary>
    private void ConvImplicitTf32BackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        long columns = (long)g.N * g.H * g.W;
        if (columns == 0 || g.C == 0) return;
        CheckImplicitSize(g);
        if (g.K == 0 || g.P * g.Q == 0) { Fill(gx, 0f); return; }
        Load(ref _convTf32BackwardData, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>(
                ConvImplicitTf32Kernels.ConvImplicitTf32BackwardDataKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : ConvName(g))
            (Tf32Config(columns, g.C, 1), F(gy), F(w), ConvTaps(g, true), F(gx), Shape(g), Exact);
    }

    /// <summary>x, gy -> gw (=) in TF32, in k segments of whole 16-deep slices; gbias as the float32 path.</summary>
    private void ConvImplicitTf32BackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        long pixels = (long)g.N * g.P * g.Q;
        if (pixels == 0)
        {
            Fill(gw, 0f);
            if (gbias is not null) Fill(gbias, 0f);
            return;
        }
        CheckImplicitSize(g);
        int crs = g.Crs;
        if (crs > 0 && g.K > 0)
        {
            const int K = ConvImplicitTf32Kernels.TileK;
            var (segment, segments) = SplitKSegments(g.K, crs, pixels, K);
            int mn = g.K * crs;
            var parts = segments > 1 ? Scratch((long)segments * mn) : null;
            Load(ref _convTf32BackwardWeight, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int, int>(
                    ConvImplicitTf32Kernels.ConvImplicitTf32BackwardWeightKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : $"{ConvName(g)} split{segments}")
                (Tf32Config(crs, g.K, segments), F(gy), F(x), ConvTaps(g, false), parts?.F32 ?? F(gw), Shape(g), segment, Exact);
            if (parts is not null) SumSplitKParts(parts, gw, segments, mn);
        }
        else Fill(gw, 0f);
        if (gbias is not null) ConvBiasBackward(gy, gbias, g);
    }

    /// <summary>One unsplit float32 GEMM launch in TF32 (GemmViews splits around it).</summary>
    private void GemmTf32(GemmArgs args, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        var grid = new Index3D((args.N + GemmTf32Kernels.TileN - 1) / GemmTf32Kernels.TileN,
                               (args.M + GemmTf32Kernels.TileM - 1) / GemmTf32Kernels.TileM, Math.Min(args.Batch, 65535));
        Load(ref _gemmTf32, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs, int>(
                GemmTf32Kernels.GemmTf32Kernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : GemmShape(args))
            (new KernelConfig(grid, new Index3D(GemmTf32Kernels.GroupThreads, 1, 1)), a, b, c, args, Exact);
    }
}
