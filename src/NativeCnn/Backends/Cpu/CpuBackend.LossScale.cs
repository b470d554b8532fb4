// CPU side of mixed precision's gradient pass (IBackend.UnscaleGradients): the scaled gradient of a
// parameter, float16 or float32, unscaled into its float32 master gradient, with an inf/NaN check in
// the same loop. Must hold: the flag is only set (to 1), never cleared, so one flag serves every
// parameter of a step; the master gradient is fully written even when the flag is set.
namespace NativeCnn.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void UnscaleGradients(Storage grad, Storage master, int n, float invScale, Storage found)
    {
        var m = F(master);
        bool bad = false;
        if (grad.DType == DType.Float16)
        {
            var g = ((CpuStorage)grad).F16;
            for (int i = 0; i < n; i++)
            {
                float v = (float)g[i];
                bad |= !float.IsFinite(v);
                m[i] = v * invScale;
            }
        }
        else
        {
            var g = F(grad);
            for (int i = 0; i < n; i++)
            {
                float v = g[i];
                bad |= !float.IsFinite(v);
                m[i] = v * invScale;
            }
        }
        if (bad) F(found)[0] = 1f;
    }
}
