// Optimizer base: parameter groups, per-parameter state, Step and ZeroGrad. State (momentum buffers,
// Adam moments) is allocated on a parameter's first step, outside any MemoryScope and kept, so after
// the first step Step() allocates nothing. Parameters without a gradient are skipped (as in torch).
// Must hold: the update itself is one fused, in-place OptimOps call per parameter, never recorded.
using NativeCnn.Autograd;

namespace NativeCnn.Optim;

/// <summary>The base of every optimizer (torch.optim.Optimizer): parameter groups with their own hyper-parameters, per-parameter state kept across steps, ZeroGrad and Step, and state export for checkpoints.</summary>
public abstract class Optimizer
{
    private readonly List<ParamGroup> _groups;
    // One state slot per parameter, parallel to each group's parameter list (no lookups per step).
    private readonly List<object?[]> _state;

    /// <summary>An optimizer over <paramref name="groups"/>; <paramref name="name"/> ("SGD", "AdamW") is recorded in checkpoints.</summary>
    /// <exception cref="ArgumentException">There is no group, or a parameter is null, not a float32 leaf requiring grad, or appears twice, or a setting is out of range.</exception>
    protected Optimizer(IEnumerable<ParamGroup> groups, string name)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Name = name;
        _groups = groups.ToList();
        if (_groups.Count == 0) throw new NativeCnnException($"{name}: needs at least one parameter group, got none");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int g = 0; g < _groups.Count; g++)
        {
            // An empty group is allowed: a Learner keeps one group per layer group, and a frozen
            // layer group may have no trainable parameter left.
            var ps = _groups[g].Parameters;
            for (int i = 0; i < ps.Count; i++)
            {
                var p = ps[i] ?? throw new NativeCnnException($"{name}: parameter {i} of group {g} is null");
                if (!p.IsLeaf || !p.RequiresGrad)
                    throw new NativeCnnException($"{name}: parameter {i} of group {g} (shape {Shape.Format(p.ShapeArray)}) must be a leaf with RequiresGrad = true");
                if (p.DType != DType.Float32)
                    throw new NativeCnnException($"{name}: parameter {i} of group {g} must be float32 (keep float32 master weights), got {p.DType}");
                if (!seen.Add(p))
                    throw new NativeCnnException($"{name}: parameter {i} of group {g} (shape {Shape.Format(p.ShapeArray)}) appears more than once");
            }
        }
        _state = _groups.Select(gr => new object?[gr.Parameters.Count]).ToList();
    }

    /// <summary>The optimizer's name as recorded in checkpoints ("SGD", "Adam", "AdamW").</summary>
    public string Name { get; }

    /// <summary>The parameter groups, each with its own learning rate, momentum, weight decay (schedules change them between steps).</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        using var _ = new NoGrad();
        for (int g = 0; g < _groups.Count; g++)
        {
            var group = _groups[g];
            CheckGroup(group, g);
            var ps = group.Parameters;
            var states = _state[g];
            for (int i = 0; i < ps.Count; i++)
            {
                var p = ps[i];
                var grad = p.Grad;
                if (grad is null) continue;
                if (!Shape.Equal(grad.ShapeArray, p.ShapeArray))
                    throw new NativeCnnException($"{Name}: the gradient of parameter {i} in group {g} has shape {Shape.Format(grad.ShapeArray)}, expected {Shape.Format(p.ShapeArray)}");
                Update(group, p, grad, states[i] ??= NewState(p));
            }
        }
    }

    // A separate method: a lambda in Step's loop would allocate its closure on every iteration.
    private object NewState(Tensor p) => MemoryScope.Outside(() => CreateState(p));

    /// <summary>Zero-fills every existing gradient in place (no allocation).</summary>
    public void ZeroGrad() => ZeroGrad(setToNone: false);

    /// <summary>Zero-fills every existing gradient in place (no allocation); with
    /// <paramref name="setToNone"/> (torch's zero_grad(set_to_none=True)) sets every .Grad to null
    /// instead, so the next Backward writes each gradient rather than adding it to zeros (no fill and
    /// no add: a train step's gradients cost one pass instead of three). The tensors taken away are
    /// reused for those gradients: a reference to an old .Grad kept across the next Backward sees it
    /// overwritten (Clone it to keep it).</summary>
    public void ZeroGrad(bool setToNone)
    {
        foreach (var group in _groups)
            foreach (var p in group.Parameters)
            {
                if (!setToNone) Nn.Module.ZeroGradOf(p);
                else if (p.Grad is { } g)
                {
                    p.SpareGrad = g;
                    p.Grad = null;
                }
            }
    }

    /// <summary>Makes the per-parameter state on the first step (runs outside any MemoryScope).</summary>
    protected abstract object CreateState(Tensor parameter);

    /// <summary>Updates <paramref name="parameter"/> in place from its <paramref name="grad"/> with <paramref name="group"/>'s settings and the parameter's <paramref name="state"/> (made by CreateState).</summary>
    protected abstract void Update(ParamGroup group, Tensor parameter, Tensor grad, object state);

    /// <summary>Validates hyper-parameters before a step (they may have been changed by a schedule).</summary>
    protected virtual void CheckGroup(ParamGroup group, int index)
    {
        if (!(group.Lr >= 0) || float.IsInfinity(group.Lr)) throw new NativeCnnException($"{Name}: group {index} lr must be a finite value >= 0, got {group.Lr}");
        if (!(group.WeightDecay >= 0)) throw new NativeCnnException($"{Name}: group {index} weight decay must be >= 0, got {group.WeightDecay}");
    }

    /// <summary>The state of <paramref name="parameter"/> under PyTorch's keys (Adam: exp_avg, exp_avg_sq,
    /// step; SGD: momentum_buffer), as the optimizer's own tensors (copy to keep a snapshot); empty before
    /// the parameter's first step. Used by checkpoints.</summary>
    public IReadOnlyDictionary<string, Tensor> GetState(Tensor parameter)
    {
        var (g, i) = Locate(parameter, "GetState");
        return _state[g][i] is { } s ? ExportState(s) : new Dictionary<string, Tensor>();
    }

    /// <summary>Replaces the state of <paramref name="parameter"/> with copies of <paramref name="state"/>
    /// (keys as <see cref="GetState"/> gives them; an empty map clears it, as before a first step).
    /// <paramref name="source"/> names where the values came from in error messages.</summary>
    public void SetState(Tensor parameter, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (g, i) = Locate(parameter, "SetState");
        _state[g][i] = state.Count == 0 ? null : MemoryScope.Outside(() => ImportState(parameter, state, source));
    }

    /// <summary>Optimizer-wide settings that are not per group (e.g. SGD's nesterov), for checkpoints.</summary>
    public virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    /// <summary>Per-parameter state as named tensors (the optimizer's own, not copies).</summary>
    protected virtual IReadOnlyDictionary<string, Tensor> ExportState(object state) =>
        throw new NativeCnnException($"{Name}: this optimizer cannot export its state");

    /// <summary>Makes a state object holding copies of <paramref name="values"/> on the parameter's device (runs outside any MemoryScope).</summary>
    protected virtual object ImportState(Tensor parameter, IReadOnlyDictionary<string, Tensor> values, string source) =>
        throw new NativeCnnException($"{Name}: this optimizer cannot import state");

    /// <summary>A persistent float32 copy of state entry <paramref name="key"/> (shaped like the parameter) on its device.</summary>
    protected Tensor CopyState(Tensor parameter, IReadOnlyDictionary<string, Tensor> values, string key, string source)
    {
        var value = Required(values, key, source);
        if (value.DType != DType.Float32 || !Shape.Equal(value.ShapeArray, parameter.ShapeArray))
            throw new NativeCnnException($"{Name}: state '{key}' from {source} is {value.DType} of shape {Shape.Format(value.ShapeArray)}, expected float32 of the parameter's shape {Shape.Format(parameter.ShapeArray)}");
        var t = ZerosLike(parameter);
        t.CopyFrom(value.Device == parameter.Device ? value : value.To(parameter.Device));
        return t;
    }

    /// <summary>Reads a required entry of imported state, naming the key and the source when it is missing.</summary>
    protected Tensor Required(IReadOnlyDictionary<string, Tensor> values, string key, string source) =>
        values.TryGetValue(key, out var t) ? t
            : throw new NativeCnnException($"{Name}: state from {source} has no '{key}' (found: {string.Join(", ", values.Keys)})");

    private (int Group, int Index) Locate(Tensor parameter, string where)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        for (int g = 0; g < _groups.Count; g++)
        {
            var ps = _groups[g].Parameters;
            for (int i = 0; i < ps.Count; i++)
                if (ReferenceEquals(ps[i], parameter)) return (g, i);
        }
        throw new NativeCnnException($"{Name}.{where}: the tensor of shape {Shape.Format(parameter.ShapeArray)} is not one of this optimizer's parameters");
    }

    /// <summary>A zero-filled persistent tensor shaped like <paramref name="p"/>.</summary>
    protected static Tensor ZerosLike(Tensor p) => MemoryScope.Outside(() => Tensor.Zeros(p.ShapeArray, DType.Float32, p.Device)).Keep();
}
