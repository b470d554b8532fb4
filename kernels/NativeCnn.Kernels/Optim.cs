// Dropout and the fused optimizer steps, elementwise and in place, with the CPU backend's formulas:
// PyTorch 1.13's single-tensor SGD / Adam / AdamW in float32, with the scalars PyTorch forms in
// double precomputed on the host (passed in already rounded to float). Products and sums are written
// plainly: ILGPU 1.5.3 cannot lower MathF.FusedMultiplyAdd (it leaves an unresolved call in the PTX),
// but it emits mul.f32/add.f32 without rounding modifiers, which ptxas contracts into FMAs where
// PyTorch's kernels have them; the simulator rounds twice, a last-bit difference the tests allow.
// Dropout's mask depends only on (seed, element index), as on the CPU.
using ILGPU;

namespace NativeCnn.Kernels;

internal static class OptimKernels
{
    // x: (n) -> mask: (n) = (U(seed, i) >= p) * scale, y: (n) = x * mask (=); scale = 1 / (1 - p)
    public static void DropoutForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, int n, float p, float scale, ulong seed)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            float m = CounterRng.Uniform(seed, i) >= p ? scale : 0f;
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }

    // param, buf: (n) updated in place; grad read. keep = 1 - dampening; buf unused when momentum == 0
    public static void SgdStepKernel(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> buf, int n,
                                     float lr, float momentum, float keep, float weightDecay, int nesterov, int firstStep)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            float g = grad[i];
            if (weightDecay != 0f) g = param[i] * weightDecay + g;          // g + wd * p
            if (momentum != 0f)
            {
                float b = firstStep != 0 ? g : buf[i] * momentum + g * keep;  // m * buf + (1 - d) * g
                buf[i] = b;
                g = nesterov != 0 ? b * momentum + g : b;
            }
            param[i] = param[i] - lr * g;
        }
    }

    // param, m, v: (n) updated in place; grad read. l2: Adam's weight decay added to the gradient (0 for AdamW);
    // decay: AdamW's factor 1 - lr*wd (1 for Adam); negStepSize = -lr / (1 - beta1^step); bc2Sqrt = sqrt(1 - beta2^step)
    public static void AdamStepKernel(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v, int n,
                                      float l2, float decay, float beta1, float beta2, float keep1, float keep2,
                                      float negStepSize, float bc2Sqrt, float eps)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            float g = grad[i], p = param[i];
            if (l2 != 0f) g = p * l2 + g;
            p *= decay;
            float mk = m[i] * beta1 + g * keep1;
            float vk = v[i] * beta2 + keep2 * g * g;
            float denom = MathF.Sqrt(vk) / bc2Sqrt + eps;
            param[i] = p + negStepSize * mk / denom;
            m[i] = mk;
            v[i] = vk;
        }
    }
}
