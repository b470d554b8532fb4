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

    public override Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }

    public override string ToString() =>
        "Sequential(\n" + string.Concat(_layers.Select((l, i) => $"  ({i}): {l.ToString()!.Replace("\n", "\n  ")}\n")) + ")";
}
