// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void DropoutForward(Storage x, Storage y, Storage mask, int n, float p, ulong seed) => throw new NotImplementedException();
    public void SgdStep(Storage param, Storage grad, Storage? momentumBuffer, int n, float lr, float momentum,
                        float dampening, float weightDecay, bool nesterov, bool firstStep) => throw new NotImplementedException();
    public void AdamStep(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                         float eps, float weightDecay, bool decoupled, int step) => throw new NotImplementedException();
}
