// The architecture registry: a model is named by its architecture and the arguments it was built
// with, so an export bundle can rebuild it before loading the weights. Adding an architecture is one
// line in Builders. Must hold: Build(name, args) with the same name and arguments gives a model with
// the same state-dict keys and shapes; a model built here remembers its spec (SpecOf), nothing else does.
using System.Runtime.CompilerServices;
using NativeCnn.Nn;

namespace NativeCnn.Models;

/// <summary>The arguments a registry architecture is built with: input channels, number of outputs,
/// and free-form string settings an architecture may read (saved with the model).</summary>
public sealed record ArchArgs(int InChannels, int Classes)
{
    /// <summary>Free-form settings an architecture reads (e.g. "ps", the head dropout of cnn_resnet*; "type", a custom model's type name); saved with the model.</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();
}

/// <summary>A built model's architecture name and arguments.</summary>
public sealed record ArchSpec(string Name, ArchArgs Args);

/// <summary>The architecture registry: models named by architecture and arguments, so an export bundle can rebuild its model. Built-in: mnist_cnn, resnet18, resnet34, cnn_resnet18, cnn_resnet34; add yours with <see cref="Register"/>.</summary>
public static class Architectures
{
    // name -> (arguments, init generator or null for Rng.Global) -> model.
    private static readonly Dictionary<string, Func<ArchArgs, Rng?, Module>> Builders = new(StringComparer.Ordinal)
    {
        ["mnist_cnn"] = (a, rng) => SimpleCnn.MnistCnn(a.Classes, rng, a.InChannels),
        ["resnet18"] = (a, rng) => ResNet.ResNet18(a.Classes, a.InChannels, rng),
        ["resnet34"] = (a, rng) => ResNet.ResNet34(a.Classes, a.InChannels, rng),
        // cnn_learner's model: the ResNet body (cut before its pooling) and fastai's head; "ps" = head dropout
        ["cnn_resnet18"] = (a, rng) => CnnModel.Create(ResNet.ResNet18(1000, a.InChannels, rng), a.Classes, HeadDropout(a), rng: rng),
        ["cnn_resnet34"] = (a, rng) => CnnModel.Create(ResNet.ResNet34(1000, a.InChannels, rng), a.Classes, HeadDropout(a), rng: rng),
    };

    private static readonly ConditionalWeakTable<Module, ArchSpec> Specs = new();

    private static float HeadDropout(ArchArgs a) =>
        a.Extra.TryGetValue("ps", out var v) ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : 0.5f;

    /// <summary>The registered names, sorted.</summary>
    public static IReadOnlyList<string> Names => Builders.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>True when <paramref name="name"/> is registered.</summary>
    public static bool Contains(string name) => Builders.ContainsKey(name);

    /// <summary>Adds (or replaces) an architecture at run time (user models; the engine's own are in Builders).</summary>
    public static void Register(string name, Func<ArchArgs, Rng?, Module> build)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new NativeCnnException("Architectures.Register: the name is empty");
        lock (Builders) Builders[name] = build ?? throw new NativeCnnException($"Architectures.Register: the builder of '{name}' is null");
    }

    /// <summary>Builds architecture <paramref name="name"/>; the model remembers its spec (see <see cref="SpecOf"/>).</summary>
    public static Module Build(string name, ArchArgs args, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(args);
        if (!Builders.TryGetValue(name, out var build))
            throw new NativeCnnException($"architecture '{name}' is not known; expected one of: {string.Join(", ", Names)}");
        Check.Positive(args.InChannels, $"architecture '{name}': input channels");
        Check.Positive(args.Classes, $"architecture '{name}': classes");
        var model = build(args, rng);
        Specs.AddOrUpdate(model, new ArchSpec(name, args));
        return model;
    }

    /// <summary>The spec <paramref name="model"/> was built with by <see cref="Build"/>; null for any other model.</summary>
    public static ArchSpec? SpecOf(Module model) => Specs.TryGetValue(model, out var spec) ? spec : null;
}
