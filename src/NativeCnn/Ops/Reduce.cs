// Reductions over dimensions: sum, mean, max (values and arg-max), var. Each reduces one dimension
// of a dense float32 view shaped (outer, n, inner); several dimensions reduce one after another.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    /// <summary>Sum of all elements (a 0-d tensor).</summary>
    public Tensor Sum() => Reshape(Numel).ReduceDim(ReduceOp.Sum, 0, keepDim: false).Reshape(Array.Empty<int>());

    /// <summary>Mean of all elements (a 0-d tensor).</summary>
    public Tensor Mean()
    {
        if (Numel == 0) throw new NativeCnnException("Mean: the tensor is empty");
        return Reshape(Numel).ReduceDim(ReduceOp.Mean, 0, keepDim: false).Reshape(Array.Empty<int>());
    }

    /// <summary>The sum along dimension <paramref name="dim"/> (negative counts from the end), dropped from the shape unless <paramref name="keepDim"/> keeps it as size 1.</summary>
    /// <exception cref="ArgumentException">dim is out of range.</exception>
    public Tensor Sum(int dim, bool keepDim = false) => ReduceDim(ReduceOp.Sum, dim, keepDim);

    /// <summary>The mean along dimension <paramref name="dim"/> (negative counts from the end), dropped from the shape unless <paramref name="keepDim"/> keeps it as size 1.</summary>
    /// <exception cref="ArgumentException">dim is out of range.</exception>
    public Tensor Mean(int dim, bool keepDim = false)
    {
        if (_shape[Check.Dim(dim, Dim, "Mean")] == 0) throw new NativeCnnException($"Mean: dimension {dim} is empty");
        return ReduceDim(ReduceOp.Mean, dim, keepDim);
    }

    /// <summary>The sum over several dimensions <paramref name="dims"/>, each dropped unless <paramref name="keepDim"/>.</summary>
    public Tensor Sum(int[] dims, bool keepDim = false) => ReduceDims(dims, keepDim, (t, d) => t.Sum(d, true));
    /// <summary>The mean over several dimensions <paramref name="dims"/>, each dropped unless <paramref name="keepDim"/>.</summary>
    public Tensor Mean(int[] dims, bool keepDim = false) => ReduceDims(dims, keepDim, (t, d) => t.Mean(d, true));

    private Tensor ReduceDims(int[] dims, bool keepDim, Func<Tensor, int, Tensor> reduce)
    {
        var normalized = dims.Select(d => Check.Dim(d, Dim, "reduce")).Distinct().OrderByDescending(d => d).ToArray();
        var t = this;
        foreach (var d in normalized) t = reduce(t, d);
        if (keepDim) return t;
        var shape = _shape.Where((_, i) => !normalized.Contains(i)).ToArray();
        return t.Reshape(shape);
    }

    /// <summary>Variance over <paramref name="dim"/>; unbiased (n-1) by default, like torch.var.</summary>
    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false)
    {
        int d = Check.Dim(dim, Dim, "Var");
        int n = _shape[d];
        if (n - (unbiased ? 1 : 0) <= 0) throw new NativeCnnException($"Var: dimension {dim} has {n} elements, too few for {(unbiased ? "an unbiased" : "a")} variance");
        var centered = this - Mean(d, keepDim: true);
        var sq = (centered * centered).Sum(d, keepDim);
        return sq * (1f / (n - (unbiased ? 1 : 0)));
    }

    /// <summary>Variance of all elements (unbiased by default).</summary>
    public Tensor Var(bool unbiased = true) => Reshape(Numel).Var(0, unbiased);

    private static (int outer, int n, int inner) Split(int[] shape, int d)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= shape[i];
        for (int i = d + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[d], inner);
    }

    private static int[] ReducedShape(int[] shape, int d, bool keepDim)
    {
        var list = shape.ToList();
        if (keepDim) list[d] = 1; else list.RemoveAt(d);
        return list.ToArray();
    }

    private Tensor ReduceDim(ReduceOp op, int dim, bool keepDim)
    {
        Check.Float(this, "Sum/Mean", "input");
        int d = Check.Dim(dim, Dim, op == ReduceOp.Sum ? "Sum" : "Mean");
        var x = Dense32();
        var (outer, n, inner) = Split(_shape, d);
        var outShape = ReducedShape(_shape, d, keepDim);
        var y = Empty(outShape, DType.Float32, Backend);
        Backend.Reduce(op, x.Storage, y.Storage, outer, n, inner);
        var inShape = _shape;
        var keptShape = ReducedShape(_shape, d, true);
        return Engine.Record(op == ReduceOp.Sum ? "sum" : "mean", ResultAs(y, DType), new[] { this }, g =>
        {
            var gk = g.Reshape(keptShape);
            if (op == ReduceOp.Mean) gk = gk * (1f / n);
            return new[] { gk.Expand(inShape).Contiguous() };
        });
    }

    /// <summary>Maximum along <paramref name="dim"/> and its index (int32; the first index wins ties).</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false)
    {
        Check.Float(this, "Max", "input");
        int d = Check.Dim(dim, Dim, "Max");
        if (_shape[d] == 0) throw new NativeCnnException($"Max: dimension {dim} is empty");
        var x = Dense32();
        var (outer, n, inner) = Split(_shape, d);
        var outShape = ReducedShape(_shape, d, keepDim);
        var values = Empty(outShape, DType.Float32, Backend);
        var indices = Empty(outShape, DType.Int32, Backend);
        Backend.ReduceMax(x.Storage, values.Storage, indices.Storage, outer, n, inner);
        var inShape = _shape;
        var recorded = Engine.Record("max", ResultAs(values, DType), new[] { this }, g =>
        {
            var gy = g.Dense32();
            var gx = Empty(inShape, DType.Float32, Backend);
            Backend.ReduceMaxBackward(gy.Storage, indices.Storage, gx.Storage, outer, n, inner);
            return new[] { gx };
        });
        return (recorded, indices);
    }

    /// <summary>Maximum of all elements (a 0-d tensor).</summary>
    public Tensor Max() => Reshape(Numel).Max(0).Values;

    /// <summary>The index of the largest value along <paramref name="dim"/> (the first on ties), as an int32 tensor; not differentiable.</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => Max(dim, keepDim).Indices;
}
