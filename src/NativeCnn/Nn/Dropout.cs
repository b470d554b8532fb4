// Dropout layer: zeroes each element with probability p in training mode and scales the rest by
// 1/(1-p); the identity in eval mode. Draws from its own Rng if given, else Rng.Global.
namespace NativeCnn.Nn;

public sealed class Dropout : Module
{
    private readonly Rng? _rng;

    public Dropout(float p = 0.5f, Rng? rng = null)
    {
        if (!(p >= 0 && p < 1)) throw new NativeCnnException($"Dropout: p must be in [0, 1), got {p}");
        P = p;
        _rng = rng;
    }

    public float P { get; }

    public override Tensor Forward(Tensor x) => F.Dropout(x, P, Training, _rng);

    protected override string ExtraRepr() => $"p={P}";
}
