// A parameter group: a set of parameters with their own hyper-parameters (discriminative learning
// rates, no weight decay on BatchNorm and bias, ...). Values not given when the group is made take
// the optimizer's defaults; schedules (OneCycle) change Lr and Momentum between steps.
namespace NativeCnn.Optim;

/// <summary>A set of parameters that share hyper-parameters (torch's param_groups): one per layer group for discriminative learning rates.</summary>
public sealed class ParamGroup
{
    private readonly float? _lr, _momentum, _beta2, _weightDecay, _eps;

    /// <summary>A group; each setting left null takes the optimizer's default.</summary>
    public ParamGroup(IEnumerable<Tensor> parameters, float? lr = null, float? momentum = null, float? beta2 = null,
                      float? weightDecay = null, float? eps = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToList();
        _lr = lr; _momentum = momentum; _beta2 = beta2; _weightDecay = weightDecay; _eps = eps;
    }

    private readonly List<Tensor> _parameters;

    /// <summary>The parameters of the group.</summary>
    public IReadOnlyList<Tensor> Parameters => _parameters;

    /// <summary>Puts <paramref name="replacement"/> (same shape, a float32 leaf) in slot <paramref name="index"/>,
    /// keeping the slot's optimizer state: mixed precision swaps a float16 model parameter for its float32 master.</summary>
    internal void ReplaceParameter(int index, Tensor replacement)
    {
        var old = _parameters[index];
        if (!Shape.Equal(old.ShapeArray, replacement.ShapeArray) || replacement.DType != DType.Float32 || !replacement.IsLeaf || !replacement.RequiresGrad)
            throw new InvalidOperationException($"internal: parameter {index} ({Shape.Format(old.ShapeArray)}) replaced by a {replacement.DType} tensor of shape {Shape.Format(replacement.ShapeArray)}");
        _parameters[index] = replacement;
    }

    /// <summary>The learning rate.</summary>
    public float Lr { get; set; }
    /// <summary>SGD's momentum, or beta1 for Adam/AdamW.</summary>
    public float Momentum { get; set; }
    /// <summary>Adam's beta2 (unused by SGD).</summary>
    public float Beta2 { get; set; }
    /// <summary>The weight decay factor (L2 for SGD and Adam, decoupled for AdamW).</summary>
    public float WeightDecay { get; set; }
    /// <summary>Adam's epsilon (unused by SGD).</summary>
    public float Eps { get; set; }

    internal void ApplyDefaults(float lr, float momentum, float beta2, float weightDecay, float eps)
    {
        Lr = _lr ?? lr;
        Momentum = _momentum ?? momentum;
        Beta2 = _beta2 ?? beta2;
        WeightDecay = _weightDecay ?? weightDecay;
        Eps = _eps ?? eps;
    }
}
