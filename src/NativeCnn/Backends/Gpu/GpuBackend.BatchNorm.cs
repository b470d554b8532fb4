// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void BatchNormForwardTraining(Storage x, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                         Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps) => throw new NotImplementedException();
    public void BatchNormForwardInference(Storage x, Storage? gamma, Storage? beta, Storage runningMean, Storage runningVar,
                                          Storage y, int n, int c, int hw, float eps) => throw new NotImplementedException();
    public void BatchNormBackward(Storage x, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                                  Storage? gx, Storage? ggamma, Storage? gbeta, int n, int c, int hw) => throw new NotImplementedException();
}
