// Linear layer: y = x W^T + b with weight (out, in) and bias (out) as in PyTorch, default init
// U(-1/sqrt(in), 1/sqrt(in)) for both. Forward is F.Linear.
namespace NativeCnn.Nn;

/// <summary>A fully connected layer (torch.nn.Linear): y = x W^T + b for x (N, in) and W (out, in), initialised as torch's (Kaiming uniform, a = sqrt(5)).</summary>
public sealed class Linear : Module
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/> values, with a bias unless <paramref name="bias"/> is false; <paramref name="rng"/> draws the initial weights (null: <see cref="Rng.Global"/>).</summary>
    /// <exception cref="ArgumentException">A size is not positive.</exception>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        Check.Positive(inFeatures, "Linear: inFeatures");
        Check.Positive(outFeatures, "Linear: outFeatures");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", Persistent(() => Tensor.Zeros(outFeatures, inFeatures)));
        if (bias) Bias = RegisterParameter("bias", Persistent(() => Tensor.Zeros(outFeatures)));
        Init.DefaultLayer(Weight, Bias, rng);
    }

    /// <summary>Input features per row.</summary>
    public int InFeatures { get; }
    /// <summary>Output features per row.</summary>
    public int OutFeatures { get; }
    /// <summary>The weights (out, in), a parameter named "weight".</summary>
    public Tensor Weight { get; }
    /// <summary>The bias (out), named "bias"; null without bias.</summary>
    public Tensor? Bias { get; }

    /// <summary>Maps <paramref name="x"/> (N, in) to (N, out).</summary>
    /// <exception cref="ArgumentException">The input is not 2-D with <see cref="InFeatures"/> columns.</exception>
    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is null ? "False" : "True")}";
}
