// Sequential: children run in order, named "0", "1", ... exactly like torch.nn.Sequential, so
// parameter names ("0.weight", "14.bias") match a torch state_dict of the same listing.
namespace NativeCnn.Nn;

public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Add(layer);
    }

    public Sequential(IEnumerable<Module> layers) : this(layers.ToArray()) { }

    /// <summary>Appends a layer under the next index.</summary>
    public Sequential Add(Module layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;

    public Module this[int index] => index >= 0 && index < _layers.Count
        ? _layers[index]
        : throw new NativeCnnException($"Sequential: index {index} is out of range for {_layers.Count} layers");

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

    public override string ToString() =>
        "Sequential(\n" + string.Concat(_layers.Select((l, i) => $"  ({i}): {l.ToString()!.Replace("\n", "\n  ")}\n")) + ")";
}
