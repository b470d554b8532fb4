// GPU batch norm launchers (kernels: BatchNorm.cs): per-channel statistics and gradient sums with one
// group per channel and segment (Segments, as for long sums: about eight groups per SM), a
// per-channel combine, then an elementwise pass. Optional tensors (gamma, beta, running stats, the
// parameter gradients) are passed as a one-float placeholder with a flag, since a kernel argument
// cannot be null.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private MemoryBuffer1D<float, Stride1D.Dense>? _placeholder;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _bnStats;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float, int>? _bnCombineStats;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float>? _bnInvStd;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _bnForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _bnSums;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _bnCombineSums;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _bnBackward;

    /// <summary>(segment length, segments) for per-channel sums over N*HW values: Segments' rule.</summary>
    private (int SegLen, int Segments) ChannelSegments(int n, int c, int hw)
    {
        int count = n * hw;
        int segments = Segments(c, count, _acc.NumMultiprocessors);
        int segLen = Math.Max(1, (count + segments - 1) / segments);
        return (segLen, Math.Max(1, (count + segLen - 1) / segLen));
    }

    /// <summary>The storage's floats, or a one-float placeholder for an absent optional argument.</summary>
    private ArrayView<float> OrPlaceholder(Storage? s)
    {
        if (s is not null) return F(s);
        lock (_loadLock) _placeholder ??= _acc.Allocate1D<float>(1);
        return _placeholder.View;
    }

    public void BatchNormForwardTraining(Storage x, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                         Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps)
    {
        if (c == 0) return;
        bool running = runningMean is not null && runningVar is not null;
        var (segLen, segments) = ChannelSegments(n, c, hw);
        var part = Scratch(3L * c * segments);
        Load(ref _bnStats, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(BatchNormKernels.BatchNormPartialStatsKernel))
            (Groups((long)c * segments), F(x), part.F32, n, c, hw, segLen, segments);
        Load(ref _bnCombineStats, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float, int>(BatchNormKernels.BatchNormCombineStatsKernel))
            (Flat(c), part.F32, F(saveMean), F(saveInvStd), OrPlaceholder(runningMean), OrPlaceholder(runningVar), c, segments, momentum, eps, running ? 1 : 0);
        ReturnToPool(part);
        Normalize(x, saveMean, saveInvStd, gamma, beta, y, n, c, hw);
    }

    public void BatchNormForwardInference(Storage x, Storage? gamma, Storage? beta, Storage runningMean, Storage runningVar,
                                          Storage y, int n, int c, int hw, float eps)
    {
        if (c == 0) return;
        var invStd = Scratch(c);
        Load(ref _bnInvStd, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float>(BatchNormKernels.BatchNormInvStdForwardKernel))
            (Flat(c), F(runningVar), invStd.F32, c, eps);
        Normalize(x, runningMean, invStd, gamma, beta, y, n, c, hw);
        ReturnToPool(invStd);
    }

    private void Normalize(Storage x, Storage mean, Storage invStd, Storage? gamma, Storage? beta, Storage y, int n, int c, int hw)
    {
        long total = (long)n * c * hw;
        if (total == 0) return;
        Load(ref _bnForward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(BatchNormKernels.BatchNormForwardKernel))
            (Flat(total), F(x), F(mean), F(invStd), OrPlaceholder(gamma), OrPlaceholder(beta), F(y), n, c, hw, gamma is null ? 0 : 1, beta is null ? 0 : 1);
    }

    public void BatchNormBackward(Storage x, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                                  Storage? gx, Storage? ggamma, Storage? gbeta, int n, int c, int hw)
    {
        if (c == 0) return;
        var sums = Scratch(2L * c);
        var (segLen, segments) = ChannelSegments(n, c, hw);
        var part = Scratch(2L * c * segments);
        Load(ref _bnSums, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(BatchNormKernels.BatchNormPartialSumsBackwardKernel))
            (Groups((long)c * segments), F(x), F(gy), F(saveMean), part.F32, n, c, hw, segLen, segments);
        Load(ref _bnCombineSums, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BatchNormKernels.BatchNormCombineSumsBackwardKernel))
            (Flat(c), part.F32, F(saveInvStd), sums.F32, OrPlaceholder(ggamma), OrPlaceholder(gbeta), c, segments, ggamma is null ? 0 : 1, gbeta is null ? 0 : 1);
        ReturnToPool(part);
        long total = (long)n * c * hw;
        if (gx is not null && total > 0)
            Load(ref _bnBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BatchNormKernels.BatchNormBackwardKernel))
                (Flat(total), F(x), F(gy), F(saveMean), F(saveInvStd), OrPlaceholder(gamma), sums.F32, F(gx), n, c, hw, gamma is null ? 0 : 1);
        ReturnToPool(sums);
    }
}
