// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void MaxPool2dForward(Storage x, Storage y, Storage indices, PoolGeometry g) => throw new NotImplementedException();
    public void MaxPool2dBackward(Storage gy, Storage indices, Storage gx, PoolGeometry g) => throw new NotImplementedException();
    public void AvgPool2dForward(Storage x, Storage y, PoolGeometry g) => throw new NotImplementedException();
    public void AvgPool2dBackward(Storage gy, Storage gx, PoolGeometry g) => throw new NotImplementedException();
    public void AdaptiveAvgPool2dForward(Storage x, Storage y, int n, int c, int h, int w, int p, int q) => throw new NotImplementedException();
    public void AdaptiveAvgPool2dBackward(Storage gy, Storage gx, int n, int c, int h, int w, int p, int q) => throw new NotImplementedException();
    public void AdaptiveMaxPool2dForward(Storage x, Storage y, Storage indices, int n, int c, int h, int w, int p, int q) => throw new NotImplementedException();
}
