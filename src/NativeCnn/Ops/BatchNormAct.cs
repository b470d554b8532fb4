// Batch norm in training mode fused with what follows it in a CNN block: relu(batch_norm(x) + residual)
// as one op (IBackend.BatchNormActForwardTraining / BatchNormActBackward), so the GPU makes one
// elementwise pass each way instead of three, and, in mixed precision, reads and writes float16
// activations with float32 statistics (no casts around it). Same results as F.BatchNorm, the add
// and Relu composed (bitwise in float32; the batch norm's float16 output rounded before the add, as the
// composed float16 graph stores it). Must hold: the running statistics move exactly as F.BatchNorm's.
using NativeCnn.Autograd;

namespace NativeCnn;

public static partial class F
{
    /// <summary>relu(batch_norm(x) + residual) with batch statistics (training mode): the residual when
    /// given (x's shape), the ReLU when <paramref name="relu"/>. Running statistics as in
    /// <see cref="BatchNorm"/>. x and residual float16 together: float16 in and out, float32 statistics.</summary>
    public static Tensor BatchNormAct(Tensor x, Tensor? residual, bool relu, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
                                      float momentum = 0.1f, float eps = 1e-5f)
    {
        const string op = "BatchNormAct";
        if (x.Dim < 2 || x.Dim > 4)
            throw new NativeCnnException($"{op}: input must be (N, C), (N, C, L) or (N, C, H, W), got shape {Shape.Format(x.ShapeArray)}");
        Check.Float(x, op, "input");
        Check.SameDevice(op, x, residual, runningMean, runningVar, weight, bias);
        var sh = x.ShapeArray;
        if (residual is not null)
        {
            Check.Float(residual, op, "residual");
            if (!Shape.Equal(residual.ShapeArray, sh))
                throw new NativeCnnException($"{op}: residual must have the input's shape {Shape.Format(sh)}, got {Shape.Format(residual.ShapeArray)}");
        }
        int n = sh[0], c = sh[1];
        int hw = 1;
        for (int i = 2; i < sh.Length; i++) hw *= sh[i];
        CheckChannelVector(op, "weight", weight, c, needsDense: false);
        CheckChannelVector(op, "bias", bias, c, needsDense: false);
        CheckChannelVector(op, "runningMean", runningMean, c, needsDense: true);
        CheckChannelVector(op, "runningVar", runningVar, c, needsDense: true);
        if (!(eps > 0)) throw new NativeCnnException($"{op}: eps must be positive, got {eps}");
        if ((long)n * hw <= 1)
            throw new NativeCnnException($"{op}: expected more than 1 value per channel when training, got input shape {Shape.Format(sh)}");
        if (!(momentum >= 0 && momentum <= 1)) throw new NativeCnnException($"{op}: momentum must be in [0, 1], got {momentum}");

        var backend = x.Backend;
        bool half = x.DType == DType.Float16 && (residual is null || residual.DType == DType.Float16);
        var dtype = half ? DType.Float16 : DType.Float32;
        var xd = half ? x.DenseHalf() : x.Dense32();
        var rd = residual is null ? null : half ? residual.DenseHalf() : residual.Dense32();
        var gd = weight?.Dense32();
        var bd = bias?.Dense32();
        var y = Tensor.Empty(sh, dtype, backend);
        var saveMean = Tensor.Empty(new[] { c }, DType.Float32, backend);
        var saveInvStd = Tensor.Empty(new[] { c }, DType.Float32, backend);
        backend.BatchNormActForwardTraining(xd.Storage, rd?.Storage, gd?.Storage, bd?.Storage, y.Storage, saveMean.Storage, saveInvStd.Storage,
                                            runningMean?.Storage, runningVar?.Storage, n, c, hw, momentum, eps, relu);

        return Engine.Record("batch_norm_act", y, new[] { x, residual, weight, bias }, g =>
        {
            var gy = half ? g.DenseHalf() : g.Dense32();
            var gx = x.RequiresGrad ? Tensor.Empty(sh, dtype, backend) : null;
            var gr = residual is { RequiresGrad: true } ? Tensor.Empty(sh, dtype, backend) : null;
            var gw = weight is { RequiresGrad: true } ? Tensor.Empty(new[] { c }, DType.Float32, backend) : null;
            var gb = bias is { RequiresGrad: true } ? Tensor.Empty(new[] { c }, DType.Float32, backend) : null;
            backend.BatchNormActBackward(xd.Storage, y.Storage, gy.Storage, gd?.Storage, saveMean.Storage, saveInvStd.Storage,
                                         gx?.Storage, gr?.Storage, gw?.Storage, gb?.Storage, n, c, hw, relu);
            return new[] { gx, gr, gw, gb };
        });
    }
}
