// GPU float16 convolution as implicit GEMM on tensor cores (kernels/NativeCnn.Kernels/ConvImplicitFp16.cs):
// the float16 conv path where the float16 GEMM runs on tensor cores (EffectiveHalfGemm == TensorCore:
// CUDA sm_80+, or the simulator when asked, emulating each mma). Same launches as the float32 implicit
// path (GpuBackend.ConvImplicit.cs: tap tables, split-k partials summed by the split-k pass, the bias
// kernels), float16 operands, float32 outputs. Elsewhere float16 convs take the im2col path.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>? _convImplicitHalfForward;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>? _convImplicitHalfBackwardData;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int, int>? _convImplicitHalfBackwardWeight;

    /// <summary>Whether float16 convs with float16 operands run as implicit GEMM on tensor cores here.</summary>
    private bool ImplicitHalfConv(Storage a, Storage b) =>
        Options.ImplicitConv && a.DType == DType.Float16 && b.DType == DType.Float16 && EffectiveHalfGemm == HalfGemmPath.TensorCore;

    /// <summary>The kernels' exact argument: 1 runs their mma emulated instruction by instruction on the simulator.</summary>
    private int Exact => Options.ExactTensorCoreEmulation ? 1 : 0;

    private static KernelConfig ImplicitHalfConfig(long columns, int rows, int segments) =>
        new(new Index3D((int)((columns + GemmHalfKernels.ConvTileN - 1) / GemmHalfKernels.ConvTileN),
                        (rows + GemmHalfKernels.ConvTileM - 1) / GemmHalfKernels.ConvTileM, segments),
            new Index3D(GemmHalfKernels.ConvThreads, 1, 1));

    /// <summary>x, w (float16) -> y (float32 =), then the bias.</summary>
    private void ConvImplicitHalfForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        long columns = (long)g.N * g.P * g.Q;
        if (columns == 0 || g.K == 0) return;
        CheckImplicitSize(g);
        if (g.Crs == 0) Fill(y, 0f);
        else
            Load(ref _convImplicitHalfForward, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>(
                    GemmHalfKernels.ConvImplicitHalfForwardKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : ConvName(g))
                (ImplicitHalfConfig(columns, g.K, 1), S(x).F16, S(w).F16, ConvTaps(g, false), F(y), Shape(g), Exact);
        if (bias is not null)
            Load(ref _convBias, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ConvKernels.ConvBiasForwardKernel))
                (Flat(columns * g.K), F(y), F(bias), g.N, g.K, g.P * g.Q);
    }

    /// <summary>gy, w (float16) -> gx (float32 =).</summary>
    private void ConvImplicitHalfBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        long columns = (long)g.N * g.H * g.W;
        if (columns == 0 || g.C == 0) return;
        CheckImplicitSize(g);
        if (g.K == 0 || g.P * g.Q == 0) { Fill(gx, 0f); return; }
        Load(ref _convImplicitHalfBackwardData, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>(
                GemmHalfKernels.ConvImplicitHalfBackwardDataKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : ConvName(g))
            (ImplicitHalfConfig(columns, g.C, 1), S(gy).F16, S(w).F16, ConvTaps(g, true), F(gx), Shape(g), Exact);
    }

    /// <summary>x, gy (float16) -> gw (float32 =) in k segments of whole 32-deep slices; gbias as the im2col path.</summary>
    private void ConvImplicitHalfBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
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
            const int K = GemmHalfKernels.ConvTileK;
            var (segment, segments) = SplitKSegments(g.K, crs, pixels, K);
            int mn = g.K * crs;
            var parts = segments > 1 ? Scratch((long)segments * mn) : null;
            Load(ref _convImplicitHalfBackwardWeight, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int, int>(
                    GemmHalfKernels.ConvImplicitHalfBackwardWeightKernel, GemmHalfKernels.ConvSpecialization), Profile is null ? null : $"{ConvName(g)} split{segments}")
                (ImplicitHalfConfig(crs, g.K, segments), S(gy).F16, S(x).F16, ConvTaps(g, false), parts?.F32 ?? F(gw), Shape(g), segment, Exact);
            if (parts is not null) SumSplitKParts(parts, gw, segments, mn);
        }
        else Fill(gw, 0f);
        if (gbias is not null) ConvBiasBackward(gy, gbias, g);
    }
}
