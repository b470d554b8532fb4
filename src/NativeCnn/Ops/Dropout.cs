// Inverted dropout, like torch.nn.functional.dropout: in training each element is kept with
// probability 1 - p and scaled by 1 / (1 - p); in evaluation (or with p = 0) the input passes
// through unchanged. Must always hold: the mask depends only on the seed drawn from the Rng and the
// element index, so a seeded run is reproducible on any backend and thread count.
using NativeCnn.Autograd;

namespace NativeCnn;

public static partial class F
{
    /// <summary>Zeroes each element with probability <paramref name="p"/> (in [0, 1)) and scales the
    /// rest by 1 / (1 - p) when <paramref name="training"/>; returns <paramref name="x"/> itself otherwise.
    /// The mask's seed comes from <paramref name="rng"/> (<see cref="Rng.Global"/> if null).</summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng? rng = null)
    {
        if (!(p >= 0f && p < 1f))
            throw new NativeCnnException($"Dropout: p must be in [0, 1), got {p}");
        Check.Float(x, "Dropout", "input");
        if (!training || p == 0f) return x;

        var backend = x.Backend;
        var xd = x.Dense32();
        var y = Tensor.Empty(x.ShapeArray, DType.Float32, backend);
        var mask = Tensor.Empty(x.ShapeArray, DType.Float32, backend);
        backend.DropoutForward(xd.Storage, y.Storage, mask.Storage, x.Numel, p, (rng ?? Rng.Global).NextSeed());
        // the gradient of x * mask is gy * mask
        return Engine.Record("dropout", Tensor.ResultAs(y, x.DType), new[] { x }, g => new[] { g.Dense32() * mask });
    }
}
