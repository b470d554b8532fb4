// Parameter-free layers that wrap one op: ReLU, Flatten. They exist so models read like torch's
// nn.Sequential listings (and keep torch's child numbering).
namespace NativeCnn.Nn;

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>Flattens dimensions startDim..endDim into one (torch default: all but the batch dimension).</summary>
public sealed class Flatten : Module
{
    public Flatten(int startDim = 1, int endDim = -1)
    {
        StartDim = startDim;
        EndDim = endDim;
    }

    public int StartDim { get; }
    public int EndDim { get; }

    public override Tensor Forward(Tensor x) => x.Flatten(StartDim, EndDim);

    protected override string ExtraRepr() => $"start_dim={StartDim}, end_dim={EndDim}";
}
