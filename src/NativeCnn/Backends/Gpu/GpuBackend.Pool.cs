// GPU pooling launchers (kernels: Pool.cs): one thread per output forward, one per input element
// backward (a gather: no atomics). MaxPool2dBackward reads only N, C, H, W, P, Q and the window of
// the geometry; AdaptiveMaxPool2d's backward passes R = 0 and the kernel then searches each plane.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape>? _maxPool;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape>? _adaptiveMaxPool;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape>? _maxPoolBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PoolShape>? _avgPool;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PoolShape>? _avgPoolBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PoolShape>? _adaptiveAvgPool;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PoolShape>? _adaptiveAvgPoolBackward;

    private static PoolShape Shape(PoolGeometry g) => new()
    {
        N = g.N, C = g.C, H = g.H, W = g.W, P = g.P, Q = g.Q, R = g.R, S = g.S,
        StrideH = g.StrideH, StrideW = g.StrideW, PadH = g.PadH, PadW = g.PadW,
        CountIncludePad = g.CountIncludePad ? 1 : 0,
    };

    private static PoolShape Adaptive(int n, int c, int h, int w, int p, int q) => new() { N = n, C = c, H = h, W = w, P = p, Q = q };

    private static long Outputs(PoolShape s) => (long)s.N * s.C * s.P * s.Q;
    private static long Inputs(PoolShape s) => (long)s.N * s.C * s.H * s.W;

    public void MaxPool2dForward(Storage x, Storage y, Storage indices, PoolGeometry g)
    {
        var s = Shape(g);
        if (Outputs(s) == 0) return;
        Load(ref _maxPool, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape>(PoolKernels.MaxPoolForwardKernel))
            (Flat(Outputs(s)), F(x), F(y), I(indices), s);
    }

    public void MaxPool2dBackward(Storage gy, Storage indices, Storage gx, PoolGeometry g)
    {
        var s = Shape(g);
        if (Inputs(s) == 0) return;
        Load(ref _maxPoolBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape>(PoolKernels.MaxPoolBackwardKernel))
            (Flat(Inputs(s)), F(gy), I(indices), F(gx), s);
    }

    public void AvgPool2dForward(Storage x, Storage y, PoolGeometry g)
    {
        var s = Shape(g);
        if (Outputs(s) == 0) return;
        Load(ref _avgPool, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, PoolShape>(PoolKernels.AvgPoolForwardKernel))
            (Flat(Outputs(s)), F(x), F(y), s);
    }

    public void AvgPool2dBackward(Storage gy, Storage gx, PoolGeometry g)
    {
        var s = Shape(g);
        if (Inputs(s) == 0) return;
        Load(ref _avgPoolBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, PoolShape>(PoolKernels.AvgPoolBackwardKernel))
            (Flat(Inputs(s)), F(gy), F(gx), s);
    }

    public void AdaptiveAvgPool2dForward(Storage x, Storage y, int n, int c, int h, int w, int p, int q)
    {
        var s = Adaptive(n, c, h, w, p, q);
        if (Outputs(s) == 0) return;
        Load(ref _adaptiveAvgPool, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, PoolShape>(PoolKernels.AdaptiveAvgPoolForwardKernel))
            (Flat(Outputs(s)), F(x), F(y), s);
    }

    public void AdaptiveAvgPool2dBackward(Storage gy, Storage gx, int n, int c, int h, int w, int p, int q)
    {
        var s = Adaptive(n, c, h, w, p, q);
        if (Inputs(s) == 0) return;
        Load(ref _adaptiveAvgPoolBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, PoolShape>(PoolKernels.AdaptiveAvgPoolBackwardKernel))
            (Flat(Inputs(s)), F(gy), F(gx), s);
    }

    public void AdaptiveMaxPool2dForward(Storage x, Storage y, Storage indices, int n, int c, int h, int w, int p, int q)
    {
        var s = Adaptive(n, c, h, w, p, q);
        if (Outputs(s) == 0) return;
        Load(ref _adaptiveMaxPool, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape>(PoolKernels.AdaptiveMaxPoolForwardKernel))
            (Flat(Outputs(s)), F(x), F(y), I(indices), s);
    }
}
