// Sequential: children run in order, named "0", "1", ... exactly like torch.nn.Sequential, so
// parameter names ("0.weight", "14.bias") match a torch state_dict of the same listing.
namespace NativeCnn.Nn;

/// <summary>Layers applied one after the other (torch.nn.Sequential); children are named "0", "1", ..., so state-dict keys read "0.weight", "1.running_mean" as in PyTorch.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    /// <summary>A sequence of <paramref name="layers"/>, run in the order given.</summary>
    /// <exception cref="ArgumentNullException">A layer is null.</exception>
    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Add(layer);
    }

    /// <summary>A sequence of <paramref name="layers"/>, run in the order given.</summary>
    public Sequential(IEnumerable<Module> layers) : this(layers.ToArray()) { }

    /// <summary>Appends a layer under the next index.</summary>
    public Sequential Add(Module layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>The layer at <paramref name="index"/> (0-based).</summary>
    /// <exception cref="ArgumentException">The index is outside 0..Count-1.</exception>
    public Module this[int index] => index >= 0 && index < _layers.Count
        ? _layers[index]
        : throw new NativeCnnException($"Sequential: index {index} is out of range for {_layers.Count} layers");

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<Module> Layers => _layers;

    /// <summary>The layers in order; a batch norm followed by a ReLU runs as one fused op (BatchNormBase.ForwardAct).</summary>
    public override Tensor Forward(Tensor x)
    {
        for (int i = 0; i < _layers.Count; i++)
        {
            if (_layers[i] is BatchNormBase bn && i + 1 < _layers.Count && _layers[i + 1] is ReLU)
            {
                x = bn.ForwardAct(x, null, relu: true);
                i++;
            }
            else x = _layers[i].Forward(x);
        }
        return x;
    }

    /// <summary>The layers, one per line, as torch prints a Sequential.</summary>
    public override string ToString() =>
        "Sequential(\n" + string.Concat(_layers.Select((l, i) => $"  ({i}): {l.ToString()!.Replace("\n", "\n  ")}\n")) + ")";
}
