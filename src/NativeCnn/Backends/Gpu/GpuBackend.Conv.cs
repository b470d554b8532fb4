// STUB (GPU): not yet written.
namespace NativeCnn.Backends.Gpu;

public sealed partial class GpuBackend
{
    public void Conv2dForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g) => throw new NotImplementedException();
    public void Conv2dBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g) => throw new NotImplementedException();
    public void Conv2dBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g) => throw new NotImplementedException();
}
