// GPU softmax and loss launchers (kernels: Loss.cs). Row kernels take one warp per row, so a launch
// asks for 32 threads per row; the kernels stride over rows beyond the grid.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _softmax;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _softmaxBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, float>? _ceForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, float>? _ceBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _bceForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _bceBackward;

    private KernelConfig Rows(int rows) => Flat((long)rows * 32);

    public void Softmax(Storage x, Storage y, int rows, int cols, bool log)
    {
        if (rows == 0 || cols == 0) return;
        Load(ref _softmax, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(LossKernels.SoftmaxForwardKernel))
            (Rows(rows), F(x), F(y), rows, cols, log ? 1 : 0);
    }

    public void SoftmaxBackward(Storage y, Storage gy, Storage gx, int rows, int cols, bool log)
    {
        if (rows == 0 || cols == 0) return;
        Load(ref _softmaxBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(LossKernels.SoftmaxBackwardKernel))
            (Rows(rows), F(y), F(gy), F(gx), rows, cols, log ? 1 : 0);
    }

    public void CrossEntropyForward(Storage logits, Storage labels, Storage losses, int rows, int classes, float smoothing)
    {
        if (rows == 0) return;
        Load(ref _ceForward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, float>(LossKernels.CrossEntropyForwardKernel))
            (Rows(rows), F(logits), I(labels), F(losses), rows, classes, smoothing);
    }

    public void CrossEntropyBackward(Storage logits, Storage labels, Storage gLoss, Storage glogits, int rows, int classes, float smoothing)
    {
        if (rows == 0 || classes == 0) return;
        Load(ref _ceBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, float>(LossKernels.CrossEntropyBackwardKernel))
            (Rows(rows), F(logits), I(labels), F(gLoss), F(glogits), rows, classes, smoothing);
    }

    public void BceWithLogitsForward(Storage x, Storage target, Storage losses, int n)
    {
        if (n == 0) return;
        Load(ref _bceForward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(LossKernels.BceWithLogitsForwardKernel))
            (Flat(n), F(x), F(target), F(losses), n);
    }

    public void BceWithLogitsBackward(Storage x, Storage target, Storage gLoss, Storage gx, Storage? gt, int n)
    {
        if (n == 0) return;
        Load(ref _bceBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LossKernels.BceWithLogitsBackwardKernel))
            (Flat(n), F(x), F(target), F(gLoss), F(gx), OrPlaceholder(gt), n, gt is null ? 0 : 1);
    }
}
