// Softmax and log-softmax over any dimension. The backend works on rows of the last dimension;
// another dimension is first moved last (a transposed view made dense) and moved back afterwards,
// so the gradient flows through the same view ops. Logits of any magnitude give finite results.
using NativeCnn.Autograd;

namespace NativeCnn;

public static partial class F
{
    /// <summary>exp(x) / sum(exp(x)) along <paramref name="dim"/> (computed with the row maximum subtracted).</summary>
    public static Tensor Softmax(Tensor x, int dim = -1) => SoftmaxAlong(x, dim, log: false);

    /// <summary>x - log(sum(exp(x))) along <paramref name="dim"/>; exact for logits of large magnitude.</summary>
    public static Tensor LogSoftmax(Tensor x, int dim = -1) => SoftmaxAlong(x, dim, log: true);

    private static Tensor SoftmaxAlong(Tensor x, int dim, bool log)
    {
        string op = log ? "LogSoftmax" : "Softmax";
        Check.Float(x, op, "input");
        int d = Check.Dim(dim, x.Dim, op);
        int last = x.Dim - 1;
        if (d != last) return SoftmaxLastDim(x.Transpose(d, last), log).Transpose(d, last).Contiguous();
        return SoftmaxLastDim(x, log);
    }

    private static Tensor SoftmaxLastDim(Tensor x, bool log)
    {
        var shape = x.ShapeArray;
        int cols = shape[^1];
        int rows = (int)Shape.Numel(shape.AsSpan(0, shape.Length - 1));
        var backend = x.Backend;
        var xd = x.Dense32();
        var y = Tensor.Empty(shape, DType.Float32, backend);
        backend.Softmax(xd.Storage, y.Storage, rows, cols, log);
        // the backward needs only the float32 output, never the input
        return Engine.Record(log ? "log_softmax" : "softmax", Tensor.ResultAs(y, x.DType), new[] { x }, g =>
        {
            var gy = g.Dense32();
            var gx = Tensor.Empty(shape, DType.Float32, backend);
            backend.SoftmaxBackward(y.Storage, gy.Storage, gx.Storage, rows, cols, log);
            return new[] { gx };
        });
    }
}
