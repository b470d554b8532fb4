// GPU dropout and fused optimizer-step launchers (kernels: Optim.cs). The scalars torch.optim forms
// in Python (double) are formed here exactly as the CPU backend forms them, then rounded to float.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, ulong>? _dropout;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, float, float, int, int>? _sgd;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, float, float, float, float, float, float, float>? _adam;

    public void DropoutForward(Storage x, Storage y, Storage mask, int n, float p, ulong seed)
    {
        if (n == 0) return;
        Load(ref _dropout, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, ulong>(OptimKernels.DropoutForwardKernel))
            (Flat(n), F(x), F(y), F(mask), n, p, 1f / (1f - p), seed);
    }

    public void SgdStep(Storage param, Storage grad, Storage? momentumBuffer, int n, float lr, float momentum,
                        float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        if (n == 0) return;
        if (momentum != 0 && momentumBuffer is null) throw new InvalidOperationException("internal: SgdStep with momentum needs a momentum buffer");
        // PyTorch forms 1 - dampening in double (a Python float) and the kernel sees it as float
        float keep = (float)(1.0 - dampening);
        Load(ref _sgd, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, float, float, int, int>(OptimKernels.SgdStepKernel))
            (Flat(n), F(param), F(grad), OrPlaceholder(momentum != 0 ? momentumBuffer : null), n, lr, momentum, keep, weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0);
    }

    public void AdamStep(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                         float eps, float weightDecay, bool decoupled, int step)
    {
        if (n == 0) return;
        float l2 = decoupled ? 0f : weightDecay;
        float decay = decoupled ? (float)(1.0 - (double)lr * weightDecay) : 1f;
        float keep1 = (float)(1.0 - beta1), keep2 = (float)(1.0 - beta2);
        double bc1 = 1.0 - Math.Pow(beta1, step), bc2 = 1.0 - Math.Pow(beta2, step);
        float negStepSize = (float)-(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        Load(ref _adam, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, float, float, float, float, float, float, float>(OptimKernels.AdamStepKernel))
            (Flat(n), F(param), F(grad), F(m), F(v), n, l2, decay, beta1, beta2, keep1, keep2, negStepSize, bc2Sqrt, eps);
    }
}
