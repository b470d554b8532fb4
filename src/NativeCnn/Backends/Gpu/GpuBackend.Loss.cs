// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void Softmax(Storage x, Storage y, int rows, int cols, bool log) => throw new NotImplementedException();
    public void SoftmaxBackward(Storage y, Storage gy, Storage gx, int rows, int cols, bool log) => throw new NotImplementedException();
    public void CrossEntropyForward(Storage logits, Storage labels, Storage losses, int rows, int classes, float smoothing) => throw new NotImplementedException();
    public void CrossEntropyBackward(Storage logits, Storage labels, Storage gLoss, Storage glogits, int rows, int classes, float smoothing) => throw new NotImplementedException();
    public void BceWithLogitsForward(Storage x, Storage target, Storage losses, int n) => throw new NotImplementedException();
    public void BceWithLogitsBackward(Storage x, Storage target, Storage gLoss, Storage gx, Storage? gt, int n) => throw new NotImplementedException();
}
