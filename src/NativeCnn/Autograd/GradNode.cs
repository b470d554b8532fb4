// One recorded operation of the define-by-run graph: which tensors went in and how to turn the
// gradient of the output into gradients of the inputs. The backward closure holds the saved
// tensors; it is dropped after Backward() (unless the graph is retained), which frees them.
namespace NativeCnn.Autograd;

/// <summary>Maps the output gradient to one gradient per input (null where an input needs none).</summary>
public delegate Tensor?[] BackwardFn(Tensor gradOutput);

/// <summary>One recorded operation of the autograd graph (a tensor's <see cref="Tensor.GradFn"/>): its name, the tensors that went in, and how the output's gradient becomes theirs.</summary>
public sealed class GradNode
{
    private BackwardFn? _backward;

    internal GradNode(string name, Tensor?[] inputs, BackwardFn backward)
    {
        Name = name;
        Inputs = inputs;
        _backward = backward;
    }

    /// <summary>The op that made the output, e.g. "conv2d".</summary>
    public string Name { get; }

    /// <summary>The inputs that take part in the graph (null where an input does not require grad).</summary>
    internal Tensor?[] Inputs { get; }

    internal Tensor?[] Apply(Tensor gradOutput, bool retainGraph)
    {
        var fn = _backward ?? throw new InvalidOperationException(
            $"Trying to backward through the graph a second time (at '{Name}'): its saved tensors were freed by the first Backward(). " +
            "Call Backward(retainGraph: true) the first time if you need to backward twice.");
        if (!retainGraph) _backward = null;
        return fn(gradOutput);
    }

    /// <summary>The operation's name in angle brackets, e.g. "&lt;conv2d&gt;".</summary>
    public override string ToString() => $"<{Name}>";
}
