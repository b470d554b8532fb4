// Adam and AdamW with PyTorch's semantics (torch.optim.Adam / AdamW, bias-corrected moments):
// Adam adds L2 weight decay to the gradient; AdamW decays the weights directly (p *= 1 - lr*wd).
// A group's Momentum is beta1. The step counter is per parameter and 1-based.

namespace NativeCnn.Optim;

/// <summary>Adam (torch.optim.Adam): per parameter, moving averages m of the gradient (beta1) and v of its square (beta2), bias-corrected; step = lr m_hat / (sqrt(v_hat) + eps). Weight decay is L2 (added to the gradient); see <see cref="AdamW"/> for decoupled decay.</summary>
public class Adam : Optimizer
{
    private sealed class State
    {
        public required Tensor M;
        public required Tensor V;
        public int Step;
    }

    private readonly bool _decoupled;

    /// <summary>Adam over <paramref name="parameters"/> with learning rate <paramref name="lr"/>, averaging factors <paramref name="beta1"/> and <paramref name="beta2"/> in [0, 1), <paramref name="eps"/> added to the denominator, and L2 <paramref name="weightDecay"/>; torch's defaults.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0)
        : this(new[] { new ParamGroup(parameters) }, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>Several groups; a group's unset settings take these defaults.</summary>
    public Adam(IEnumerable<ParamGroup> groups, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0)
        : this(groups, lr, beta1, beta2, eps, weightDecay, decoupled: false, "Adam") { }

    /// <summary>Adam over parameter <paramref name="groups"/> (each group's own settings override the defaults given here); <paramref name="decoupled"/> selects AdamW's weight decay; <paramref name="name"/> is recorded in checkpoints.</summary>
    protected Adam(IEnumerable<ParamGroup> groups, float lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled, string name)
        : base(groups, name)
    {
        _decoupled = decoupled;
        foreach (var g in ParamGroups) g.ApplyDefaults(lr, beta1, beta2, weightDecay, eps);
        for (int i = 0; i < ParamGroups.Count; i++) CheckGroup(ParamGroups[i], i);
    }

    /// <summary>True for AdamW (decoupled weight decay).</summary>
    public bool Decoupled => _decoupled;

    /// <inheritdoc/>
    protected override void CheckGroup(ParamGroup group, int index)
    {
        base.CheckGroup(group, index);
        if (!(group.Momentum >= 0 && group.Momentum < 1)) throw new NativeCnnException($"{Name}: group {index} beta1 must be in [0, 1), got {group.Momentum}");
        if (!(group.Beta2 >= 0 && group.Beta2 < 1)) throw new NativeCnnException($"{Name}: group {index} beta2 must be in [0, 1), got {group.Beta2}");
        if (!(group.Eps >= 0)) throw new NativeCnnException($"{Name}: group {index} eps must be >= 0, got {group.Eps}");
    }

    /// <inheritdoc/>
    protected override object CreateState(Tensor parameter) => new State { M = ZerosLike(parameter), V = ZerosLike(parameter) };

    /// <inheritdoc/>
    protected override IReadOnlyDictionary<string, Tensor> ExportState(object state)
    {
        var s = (State)state;
        return new Dictionary<string, Tensor> { ["exp_avg"] = s.M, ["exp_avg_sq"] = s.V, ["step"] = MemoryScope.Outside(() => Tensor.FromArray(new[] { s.Step }, Array.Empty<int>())) };
    }

    /// <inheritdoc/>
    protected override object ImportState(Tensor parameter, IReadOnlyDictionary<string, Tensor> values, string source)
    {
        var step = Required(values, "step", source);
        // torch keeps step as a float tensor; we write int32. Either must hold one whole number >= 0.
        double v = step.Numel != 1 ? double.NaN : step.DType == DType.Int32 ? step.ToInt32Array()[0] : step.ToArray()[0];
        if (!(v >= 0 && v <= int.MaxValue && v == Math.Floor(v)))
            throw new NativeCnnException($"{Name}: state 'step' from {source} must be one whole number >= 0, got shape {Shape.Format(step.ShapeArray)} value {v}");
        return new State { M = CopyState(parameter, values, "exp_avg", source), V = CopyState(parameter, values, "exp_avg_sq", source), Step = (int)v };
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["decoupled"] = _decoupled ? "true" : "false" };

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, object state)
    {
        var s = (State)state;
        s.Step++;
        OptimOps.AdamStep(parameter, grad, s.M, s.V, group.Lr, group.Momentum, group.Beta2, group.Eps, group.WeightDecay, _decoupled, s.Step);
    }
}

/// <summary>Adam with decoupled weight decay (Loshchilov and Hutter), torch.optim.AdamW's defaults.</summary>
public sealed class AdamW : Adam
{
    /// <summary>AdamW over <paramref name="parameters"/>: Adam with decoupled weight decay (p -= lr wd p before the Adam step); torch's defaults (wd 1e-2).</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public AdamW(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 1e-2f)
        : this(new[] { new ParamGroup(parameters) }, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>AdamW over parameter <paramref name="groups"/> (one per layer group for discriminative learning rates); each group's own settings override these defaults.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public AdamW(IEnumerable<ParamGroup> groups, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 1e-2f)
        : base(groups, lr, beta1, beta2, eps, weightDecay, decoupled: true, "AdamW") { }
}
