// Mixed precision's gradient pass: a parameter's (scaled) gradient, float16 or float32, is unscaled
// into its float32 master gradient and checked for inf/NaN in the same read. Must hold: the flag is
// only ever written with 1 (never cleared here), so any number of launches can share one flag and
// the host reads it once per step; the master gradient is fully written even when the flag is set.
using ILGPU;

namespace NativeCnn.Kernels;

internal static class LossScaleKernels
{
    // grad: (n) float16 bits -> master: (n) = grad * invScale (=); found[0] = 1 if any grad is inf or NaN
    public static void UnscaleHalfKernel(ArrayView<ushort> grad, ArrayView<float> master, ArrayView<float> found, int n, float invScale)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            ushort h = grad[i];
            if ((h & 0x7C00) == 0x7C00) found[0] = 1f;   // exponent all ones: inf or NaN
            master[i] = HalfBits.ToFloat(h) * invScale;
        }
    }

    // grad: (n) float32 -> master: (n) = grad * invScale (=); found[0] = 1 if any grad is inf or NaN
    public static void UnscaleFloatKernel(ArrayView<float> grad, ArrayView<float> master, ArrayView<float> found, int n, float invScale)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            float g = grad[i];
            if ((Interop.FloatAsInt(g) & 0x7F800000u) == 0x7F800000u) found[0] = 1f;
            master[i] = g * invScale;
        }
    }
}
