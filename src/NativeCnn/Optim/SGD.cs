// Stochastic gradient descent with PyTorch's semantics (torch.optim.SGD): L2 weight decay added to
// the gradient, momentum buffer initialised to the first gradient, dampening, nesterov.
namespace NativeCnn.Optim;

/// <summary>Stochastic gradient descent with momentum (torch.optim.SGD): buf = momentum buf + (1 - dampening) g; p -= lr (nesterov ? g + momentum buf : buf), with L2 weight decay added to g.</summary>
public sealed class SGD : Optimizer
{
    private sealed class State
    {
        public Tensor? MomentumBuffer;
    }

    /// <summary>SGD over <paramref name="parameters"/> with learning rate <paramref name="lr"/>, <paramref name="momentum"/> (0: plain SGD), <paramref name="dampening"/>, L2 <paramref name="weightDecay"/> and Nesterov momentum when <paramref name="nesterov"/>.</summary>
    /// <exception cref="ArgumentException">A setting is out of range, or nesterov is asked with no momentum or with dampening.</exception>
    public SGD(IEnumerable<Tensor> parameters, float lr, float momentum = 0, float dampening = 0, float weightDecay = 0, bool nesterov = false)
        : this(new[] { new ParamGroup(parameters) }, lr, momentum, dampening, weightDecay, nesterov) { }

    /// <summary>Several groups; a group's unset lr, momentum and weight decay take these defaults.</summary>
    public SGD(IEnumerable<ParamGroup> groups, float lr, float momentum = 0, float dampening = 0, float weightDecay = 0, bool nesterov = false)
        : base(groups, "SGD")
    {
        Dampening = dampening;
        Nesterov = nesterov;
        foreach (var g in ParamGroups) g.ApplyDefaults(lr, momentum, 0f, weightDecay, 0f);
        for (int i = 0; i < ParamGroups.Count; i++) CheckGroup(ParamGroups[i], i);
    }

    /// <summary>Fraction of the new gradient left out of the momentum buffer (torch's dampening, default 0).</summary>
    public float Dampening { get; }
    /// <summary>Whether the step uses Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    protected override void CheckGroup(ParamGroup group, int index)
    {
        base.CheckGroup(group, index);
        if (!(group.Momentum >= 0)) throw new NativeCnnException($"SGD: group {index} momentum must be >= 0, got {group.Momentum}");
        if (Nesterov && (group.Momentum <= 0 || Dampening != 0))
            throw new NativeCnnException($"SGD: nesterov needs momentum > 0 and dampening 0, got momentum {group.Momentum} and dampening {Dampening} (group {index})");
    }

    /// <inheritdoc/>
    protected override object CreateState(Tensor parameter) => new State();

    /// <inheritdoc/>
    protected override IReadOnlyDictionary<string, Tensor> ExportState(object state)
    {
        var s = (State)state;
        var d = new Dictionary<string, Tensor>();
        if (s.MomentumBuffer is not null) d["momentum_buffer"] = s.MomentumBuffer;
        return d;
    }

    /// <inheritdoc/>
    protected override object ImportState(Tensor parameter, IReadOnlyDictionary<string, Tensor> values, string source) =>
        new State { MomentumBuffer = values.ContainsKey("momentum_buffer") ? CopyState(parameter, values, "momentum_buffer", source) : null };

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["dampening"] = Dampening.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        ["nesterov"] = Nesterov ? "true" : "false",
    };

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Tensor parameter, Tensor grad, object state)
    {
        var s = (State)state;
        bool firstStep = false;
        // The buffer is made the first time momentum is used (a schedule may turn it on later);
        // torch then starts it from the gradient itself.
        if (group.Momentum != 0 && s.MomentumBuffer is null)
        {
            s.MomentumBuffer = ZerosLike(parameter);
            firstStep = true;
        }
        OptimOps.SgdStep(parameter, grad, group.Momentum != 0 ? s.MomentumBuffer : null, group.Lr, group.Momentum,
                         Dampening, group.WeightDecay, Nesterov, firstStep);
    }
}
