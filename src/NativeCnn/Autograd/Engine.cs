// Reverse-mode differentiation over the recorded graph: a topological order from the root, each
// node's gradient summed from its consumers, each leaf's gradient accumulated into .Grad.
// Gradients are computed with NoGrad on (no higher-order graphs).
namespace NativeCnn.Autograd;

internal static class Engine
{
    /// <summary>Connects <paramref name="output"/> to its inputs if any requires grad and recording is on.</summary>
    public static Tensor Record(string name, Tensor output, Tensor?[] inputs, BackwardFn backward)
    {
        OpCost.AddOutput(output, inputs);
        if (!NoGrad.IsGradEnabled) return output;
        bool any = false;
        var tracked = new Tensor?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            if (t is not null && t.RequiresGrad) { tracked[i] = t; any = true; }
        }
        if (!any) return output;
        output.GradFn = new GradNode(name, tracked, backward);
        output.MarkRequiresGrad();
        return output;
    }

    public static void Backward(Tensor root, Tensor? gradient, bool retainGraph)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward: this tensor does not require grad and has no graph (did an input set RequiresGrad, and was NoGrad off?)");
        if (gradient is null)
        {
            if (root.Numel != 1)
                throw new InvalidOperationException($"Backward: a gradient can be implied only for a one-element output, got shape {Shape.Format(root.ShapeArray)}; pass the gradient explicitly");
            gradient = Tensor.Full(root.ShapeArray, 1f, DType.Float32, root.Device);
        }
        else
        {
            if (!Shape.Equal(gradient.ShapeArray, root.ShapeArray))
                throw new NativeCnnException($"Backward: gradient shape {Shape.Format(gradient.ShapeArray)} does not match the output shape {Shape.Format(root.ShapeArray)}");
            // every backward closure runs on the output's backend: a gradient elsewhere must fail here, by name
            Check.SameDevice("Backward (output and its gradient)", root, gradient);
        }

        using var _ = new NoGrad();
        if (root.IsLeaf) { Accumulate(root, gradient); return; }

        var order = TopologicalOrder(root);
        var pending = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance) { [root] = gradient };
        foreach (var t in order)
        {
            if (!pending.Remove(t, out var g)) continue;
            var node = t.GradFn!;
            var grads = node.Apply(g, retainGraph);
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var input = node.Inputs[i];
                var gi = grads[i];
                if (input is null || gi is null) continue;
                if (!Shape.Equal(gi.ShapeArray, input.ShapeArray))
                    throw new InvalidOperationException($"internal: '{node.Name}' returned a gradient of shape {Shape.Format(gi.ShapeArray)} for an input of shape {Shape.Format(input.ShapeArray)}");
                if (input.IsLeaf) Accumulate(input, gi);
                else pending[input] = pending.TryGetValue(input, out var acc) ? acc.Add(gi) : gi;
            }
        }
    }

    /// <summary>Non-leaf tensors reachable from root, each after every tensor that consumes it.</summary>
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var postOrder = new List<Tensor>();
        var stack = new Stack<(Tensor, int)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, i) = stack.Pop();
            var inputs = t.GradFn!.Inputs;
            if (i < inputs.Length)
            {
                stack.Push((t, i + 1));
                var next = inputs[i];
                if (next is not null && !next.IsLeaf && visited.Add(next)) stack.Push((next, 0));
            }
            else postOrder.Add(t);
        }
        postOrder.Reverse();
        return postOrder;
    }

    /// <summary>leaf.Grad += g (dtype of the leaf; memory kept across MemoryScopes).</summary>
    private static void Accumulate(Tensor leaf, Tensor g)
    {
        if (g.DType != leaf.DType) g = g.To(leaf.DType);
        // a .Grad set by hand on another device (or left behind by a move) cannot take this gradient
        if (leaf.Grad is not null) Check.SameDevice("Backward (accumulating into a leaf's existing .Grad)", leaf.Grad, g);
        if (leaf.Grad is null)
        {
            // after ZeroGrad(setToNone: true): the gradient is written, not added to zeros, into the
            // tensor ZeroGrad set aside when it still fits (no fill, no add, no allocation)
            var spare = leaf.SpareGrad;
            leaf.SpareGrad = null;
            if (spare is not null && spare.Device == g.Device && spare.DType == g.DType && spare.IsDense && Shape.Equal(spare.ShapeArray, g.ShapeArray))
            {
                spare.CopyFrom(g);
                leaf.Grad = spare;
            }
            else leaf.Grad = MemoryScope.Outside(() => g.Clone()).Keep();
        }
        else
            leaf.Grad.AddInPlace(g);
    }
}
