// Layer groups, as in fastai v1: the model split into consecutive groups of modules (a pretrained body
// and a new head, say), each with its own optimizer ParamGroup and so its own learning rate.
// Freezing turns off RequiresGrad on the parameters of the frozen groups, except those of batch-norm
// layers, which keep learning (fastai's train_bn = True); the frozen parameters are left out of the
// optimizer, so neither a gradient step nor weight decay moves them.
// Must hold: every trainable parameter of the model is in exactly one group, and after Split, Freeze,
// FreezeTo or Unfreeze the optimizer is dropped and the next fit makes a fresh one (state reset, as
// fastai v1's create_opt does), whose groups match the layer groups one to one.
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Training;

public sealed partial class Learner
{
    private IReadOnlyList<IReadOnlyList<Module>> _layerGroups;

    /// <summary>The model's layer groups, first to last; one group holding the whole model until <see cref="Split"/>.</summary>
    public IReadOnlyList<IReadOnlyList<Module>> LayerGroups => _layerGroups;

    /// <summary>Replaces the layer groups. Every parameter of the model that requires grad must sit in exactly one
    /// group, and the groups may hold nothing else. Drops the optimizer (a fresh one is made by the next fit).</summary>
    public Learner Split(params IReadOnlyList<Module>[] groups)
    {
        if (groups is null || groups.Length == 0) throw new NativeCnnException("Learner.Split: needs at least one layer group, got none");
        var modelParams = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in Model.NamedParameters()) modelParams.TryAdd(p, name);
        var owner = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        for (int g = 0; g < groups.Length; g++)
        {
            if (groups[g] is null || groups[g].Count == 0) throw new NativeCnnException($"Learner.Split: layer group {g} is {(groups[g] is null ? "null" : "empty")}; expected at least one module");
            for (int m = 0; m < groups[g].Count; m++)
            {
                var module = groups[g][m] ?? throw new NativeCnnException($"Learner.Split: module {m} of layer group {g} is null");
                foreach (var p in module.Parameters())
                {
                    if (!modelParams.TryGetValue(p, out var name))
                        throw new NativeCnnException($"Learner.Split: layer group {g} holds a parameter of shape {Shape.Format(p.ShapeArray)} (in its module {m}, a {module.GetType().Name}) that is not part of the model");
                    if (owner.TryGetValue(p, out int other) && other != g)
                        throw new NativeCnnException($"Learner.Split: parameter '{name}' is in layer groups {other} and {g}; expected exactly one");
                    owner[p] = g;
                }
            }
        }
        var missing = modelParams.Where(kv => kv.Key.RequiresGrad && !owner.ContainsKey(kv.Key)).Select(kv => kv.Value).ToList();
        if (missing.Count > 0)
            throw new NativeCnnException($"Learner.Split: every trainable parameter must be in a layer group; missing: {string.Join(", ", missing)}");
        _layerGroups = groups.Select(g => (IReadOnlyList<Module>)g.ToArray()).ToArray();
        Opt = null;
        return this;
    }

    /// <summary>Splits a Sequential model before the children at <paramref name="splitIndices"/> (fastai's
    /// split_model_idx): Split(3, 10) makes groups children [0, 3), [3, 10), [10, end).</summary>
    public Learner SplitAt(params int[] splitIndices)
    {
        if (Model is not Sequential)
            throw new NativeCnnException($"Learner.SplitAt: the model must be a Sequential, got {Model.GetType().Name}; use Split with explicit module groups");
        var children = Model.NamedChildren().Select(c => c.Module).ToList();
        var cuts = (splitIndices ?? Array.Empty<int>()).ToList();
        for (int i = 0; i < cuts.Count; i++)
            if (cuts[i] <= (i == 0 ? 0 : cuts[i - 1]) || cuts[i] >= children.Count)
                throw new NativeCnnException($"Learner.SplitAt: split indices must increase strictly within (0, {children.Count}), got [{string.Join(", ", cuts)}]");
        var bounds = cuts.Prepend(0).Append(children.Count).ToList();
        return Split(Enumerable.Range(0, bounds.Count - 1).Select(i => (IReadOnlyList<Module>)children.GetRange(bounds[i], bounds[i + 1] - bounds[i])).ToArray());
    }

    /// <summary>Freezes every layer group but the last (batch-norm layers stay trainable). Needs at least two groups.</summary>
    public Learner Freeze()
    {
        if (_layerGroups.Count < 2)
            throw new NativeCnnException($"Learner.Freeze: needs at least two layer groups (Split the model first), got {_layerGroups.Count}");
        return FreezeTo(-1);
    }

    /// <summary>Freezes groups [0, n) and unfreezes [n, end); a negative n counts from the end, as in Python
    /// (FreezeTo(-1) freezes all but the last). Batch-norm layers in frozen groups stay trainable.</summary>
    public Learner FreezeTo(int n)
    {
        int count = _layerGroups.Count;
        int cut = n < 0 ? Math.Max(0, count + n) : Math.Min(n, count);
        for (int g = 0; g < count; g++)
            foreach (var module in _layerGroups[g])
                foreach (var (_, m) in module.NamedModules())
                {
                    bool trainable = g >= cut || m is BatchNormBase;
                    // Own parameters only (names without a dot); children are visited themselves.
                    foreach (var (name, p) in m.NamedParameters())
                    {
                        if (name.Contains('.')) continue;
                        p.RequiresGrad = trainable;
                        if (!trainable) p.Grad = null;
                    }
                }
        Opt = null;
        return this;
    }

    /// <summary>Makes every layer group trainable again.</summary>
    public Learner Unfreeze() => FreezeTo(0);

    // One ParamGroup per layer group, with the group's parameters that require grad (maybe none).
    private List<ParamGroup> TrainableGroups()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        // in mixed precision, once a fit has made them, the optimizer steps the float32 masters (an
        // optimizer made later, by the lr finder or Unfreeze, too)
        var mp = this.MixedPrecision();
        return _layerGroups.Select(g => new ParamGroup(g.SelectMany(m => m.Parameters()).Where(p => p.RequiresGrad && seen.Add(p))
                                                        .Select(p => mp?.MasterOf(p) ?? p).ToList())).ToList();
    }
}
