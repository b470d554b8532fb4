// Parameter-free layers that wrap one op: ReLU, Flatten. They exist so models read like torch's
// nn.Sequential listings (and keep torch's child numbering).
namespace NativeCnn.Nn;

/// <summary>The rectified linear unit, max(x, 0) element-wise (torch.nn.ReLU); its gradient at 0 is 0, as torch's.</summary>
public sealed class ReLU : Module
{
    /// <summary>max(<paramref name="x"/>, 0), any shape.</summary>
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>Flattens dimensions startDim..endDim into one (torch default: all but the batch dimension).</summary>
public sealed class Flatten : Module
{
    /// <summary>Flattens dimensions <paramref name="startDim"/>..<paramref name="endDim"/> (negative counts from the end) into one.</summary>
    public Flatten(int startDim = 1, int endDim = -1)
    {
        StartDim = startDim;
        EndDim = endDim;
    }

    /// <summary>First dimension flattened (default 1: the batch dimension is kept).</summary>
    public int StartDim { get; }
    /// <summary>Last dimension flattened (default -1: the last).</summary>
    public int EndDim { get; }

    /// <summary><paramref name="x"/> as a view with dimensions StartDim..EndDim merged, e.g. (N, C, H, W) to (N, C H W).</summary>
    public override Tensor Forward(Tensor x) => x.Flatten(StartDim, EndDim);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"start_dim={StartDim}, end_dim={EndDim}";
}
