// GPU batch norm fused with its ReLU and residual add (kernels: BatchNormFused.cs, and BatchNorm.cs's
// combine kernels): forward = statistics (segments per channel), combine, one fused elementwise pass;
// backward = masked sums, combine, one fused elementwise pass that writes gx and the residual's
// gradient. float32 or float16 activations (statistics and parameters float32), with no casts.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<float>, int, int, int, int, int>? _bnStatsHalf;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                   BatchNormActArgs>? _bnActForward;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>,
                   BatchNormActArgs>? _bnActForwardHalf;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormActArgs>? _bnActSums;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, BatchNormActArgs>? _bnActSumsHalf;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                   ArrayView<float>, ArrayView<float>, BatchNormActArgs>? _bnActBackward;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                   ArrayView<ushort>, ArrayView<ushort>, BatchNormActArgs>? _bnActBackwardHalf;
    private MemoryBuffer1D<ushort, Stride1D.Dense>? _placeholderHalf;

    /// <summary>The storage's float16 bits, or a one-element placeholder for an absent optional argument.</summary>
    private ArrayView<ushort> OrPlaceholderHalf(Storage? s)
    {
        if (s is not null) return S(s).F16;
        lock (_loadLock) _placeholderHalf ??= _acc.Allocate1D<ushort>(1);
        return _placeholderHalf.View;
    }

    public void BatchNormActForwardTraining(Storage x, Storage? residual, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                            Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps, bool relu)
    {
        if (c == 0) return;
        bool half = x.DType == DType.Float16;
        bool running = runningMean is not null && runningVar is not null;
        var (segLen, segments) = ChannelSegments(n, c, hw);
        var part = Scratch(3L * c * segments);
        if (half)
            Load(ref _bnStatsHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<float>, int, int, int, int, int>(BatchNormFusedKernels.BatchNormPartialStatsHalfKernel))
                (Groups((long)c * segments), S(x).F16, part.F32, n, c, hw, segLen, segments);
        else
            Load(ref _bnStats, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(BatchNormKernels.BatchNormPartialStatsKernel))
                (Groups((long)c * segments), F(x), part.F32, n, c, hw, segLen, segments);
        Load(ref _bnCombineStats, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float, int>(BatchNormKernels.BatchNormCombineStatsKernel))
            (Flat(c), part.F32, F(saveMean), F(saveInvStd), OrPlaceholder(runningMean), OrPlaceholder(runningVar), c, segments, momentum, eps, running ? 1 : 0);
        ReturnToPool(part);
        long total = (long)n * c * hw;
        if (total == 0) return;
        var p = new BatchNormActArgs { N = n, C = c, Hw = hw, HasGamma = gamma is null ? 0 : 1, HasBeta = beta is null ? 0 : 1, HasResidual = residual is null ? 0 : 1, Relu = relu ? 1 : 0 };
        if (half)
            Load(ref _bnActForwardHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>,
                    BatchNormActArgs>(BatchNormFusedKernels.BatchNormActForwardHalfKernel))
                (Flat(total), S(x).F16, OrPlaceholderHalf(residual), F(saveMean), F(saveInvStd), OrPlaceholder(gamma), OrPlaceholder(beta), S(y).F16, p);
        else
            Load(ref _bnActForward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    BatchNormActArgs>(BatchNormFusedKernels.BatchNormActForwardKernel))
                (Flat(total), F(x), OrPlaceholder(residual), F(saveMean), F(saveInvStd), OrPlaceholder(gamma), OrPlaceholder(beta), F(y), p);
    }

    public void BatchNormActBackward(Storage x, Storage y, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                                     Storage? gx, Storage? gResidual, Storage? ggamma, Storage? gbeta, int n, int c, int hw, bool relu)
    {
        if (c == 0) return;
        bool half = x.DType == DType.Float16;
        var sums = Scratch(2L * c);
        var (segLen, segments) = ChannelSegments(n, c, hw);
        var p = new BatchNormActArgs
        {
            N = n, C = c, Hw = hw, SegLen = segLen, Segments = segments, HasGamma = gamma is null ? 0 : 1,
            HasGx = gx is null ? 0 : 1, HasGResidual = gResidual is null ? 0 : 1, Relu = relu ? 1 : 0,
        };
        var part = Scratch(2L * c * segments);
        if (half)
            Load(ref _bnActSumsHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, BatchNormActArgs>(
                    BatchNormFusedKernels.BatchNormActPartialSumsBackwardHalfKernel))
                (Groups((long)c * segments), S(x).F16, S(y).F16, S(gy).F16, F(saveMean), part.F32, p);
        else
            Load(ref _bnActSums, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BatchNormActArgs>(
                    BatchNormFusedKernels.BatchNormActPartialSumsBackwardKernel))
                (Groups((long)c * segments), F(x), F(y), F(gy), F(saveMean), part.F32, p);
        Load(ref _bnCombineSums, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BatchNormKernels.BatchNormCombineSumsBackwardKernel))
            (Flat(c), part.F32, F(saveInvStd), sums.F32, OrPlaceholder(ggamma), OrPlaceholder(gbeta), c, segments, ggamma is null ? 0 : 1, gbeta is null ? 0 : 1);
        ReturnToPool(part);
        long total = (long)n * c * hw;
        if ((gx is not null || gResidual is not null) && total > 0)
        {
            if (half)
                Load(ref _bnActBackwardHalf, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                        ArrayView<ushort>, ArrayView<ushort>, BatchNormActArgs>(BatchNormFusedKernels.BatchNormActBackwardHalfKernel))
                    (Flat(total), S(x).F16, S(y).F16, S(gy).F16, F(saveMean), F(saveInvStd), OrPlaceholder(gamma), sums.F32,
                     OrPlaceholderHalf(gx), OrPlaceholderHalf(gResidual), p);
            else
                Load(ref _bnActBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                        ArrayView<float>, ArrayView<float>, BatchNormActArgs>(BatchNormFusedKernels.BatchNormActBackwardKernel))
                    (Flat(total), F(x), F(y), F(gy), F(saveMean), F(saveInvStd), OrPlaceholder(gamma), sums.F32,
                     OrPlaceholder(gx), OrPlaceholder(gResidual), p);
        }
        ReturnToPool(sums);
    }
}
