// In-place fills and random draws of a tensor's elements, as torch's tensor.fill_, uniform_ and normal_ (on
// which torch.nn.init is built): the way Nn (Init, BatchNorm's counter, ZeroGrad) and Data write values into
// an existing tensor without reaching for its backend. Not recorded by autograd.
// What must hold: a random draw is a pure function of (seed, element index), so it needs a dense float32
// tensor that owns its whole storage (anything else is refused, naming the tensor); Fill writes any layout.
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    /// <summary>Every element = <paramref name="value"/> (converted to this tensor's dtype), in place, as
    /// torch's fill_; returns this tensor.</summary>
    public Tensor Fill(float value)
    {
        if (IsDense && Numel == Storage.Length) Backend.Fill(Storage, value);
        else CopyFrom(FromArray(new[] { value }, Array.Empty<int>(), Device));
        return this;
    }

    /// <summary>Every element drawn from U(<paramref name="lo"/>, <paramref name="hi"/>), in place, as torch's
    /// uniform_; one seed from <paramref name="rng"/> (Rng.Global if null). Returns this tensor.</summary>
    public Tensor FillUniform(float lo, float hi, Rng? rng = null)
    {
        RequireOwnedFloat32("FillUniform");
        Backend.RandomUniform(Storage, (rng ?? Rng.Global).NextSeed(), lo, hi);
        return this;
    }

    /// <summary>Every element drawn from N(<paramref name="mean"/>, <paramref name="std"/>^2), in place, as
    /// torch's normal_; one seed from <paramref name="rng"/> (Rng.Global if null). Returns this tensor.</summary>
    public Tensor FillNormal(float mean = 0f, float std = 1f, Rng? rng = null)
    {
        RequireOwnedFloat32("FillNormal");
        Backend.RandomNormal(Storage, (rng ?? Rng.Global).NextSeed(), mean, std);
        return this;
    }

    private void RequireOwnedFloat32(string op)
    {
        if (DType != DType.Float32 || !IsDense || Numel != Storage.Length)
            throw new NativeCnnException($"{op}: expected a dense float32 tensor that owns its storage, got a {DType} {(IsDense ? "dense" : "strided")} view of shape {NativeCnn.Shape.Format(_shape)}");
    }

    /// <summary>Gives this tensor's storage back to its pool now (its data is gone); for a tensor nothing else
    /// will read, such as a finished epoch's staged batches.</summary>
    internal void ReleaseStorage() => Storage.Release();
}
