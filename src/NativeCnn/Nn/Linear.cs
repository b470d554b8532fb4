// Linear layer: y = x W^T + b with weight (out, in) and bias (out) as in PyTorch, default init
// U(-1/sqrt(in), 1/sqrt(in)) for both. Forward is F.Linear.
namespace NativeCnn.Nn;

public sealed class Linear : Module
{
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

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);

    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is null ? "False" : "True")}";
}
