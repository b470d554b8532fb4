// Dropout layer: zeroes each element with probability p in training mode and scales the rest by
// 1/(1-p); the identity in eval mode. Draws from its own Rng if given, else Rng.Global.
namespace NativeCnn.Nn;

/// <summary>Dropout (torch.nn.Dropout): in training mode each element is zeroed with probability P and the rest scaled by 1 / (1 - P); in evaluation mode the identity.</summary>
public sealed class Dropout : Module
{
    private readonly Rng? _rng;

    /// <summary>Drops with probability <paramref name="p"/> in [0, 1); <paramref name="rng"/> draws the masks (null: <see cref="Rng.Global"/>).</summary>
    /// <exception cref="ArgumentException">p is outside [0, 1).</exception>
    public Dropout(float p = 0.5f, Rng? rng = null)
    {
        if (!(p >= 0 && p < 1)) throw new NativeCnnException($"Dropout: p must be in [0, 1), got {p}");
        P = p;
        _rng = rng;
    }

    /// <summary>Probability of zeroing an element.</summary>
    public float P { get; }

    /// <summary><paramref name="x"/> with elements dropped (training) or unchanged (evaluation); same shape.</summary>
    public override Tensor Forward(Tensor x) => F.Dropout(x, P, Training, _rng);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={P}";
}
