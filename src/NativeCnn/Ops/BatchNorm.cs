// Batch normalisation over the channel dimension of (N, C), (N, C, L) or (N, C, H, W), like
// torch.nn.functional.batch_norm. Training uses batch statistics and updates the running
// statistics in place (momentum, unbiased variance); evaluation uses the running statistics.
// Must always hold: running statistics are dense float32 tensors of shape (C) and are never
// recorded for autograd; only x, weight and bias receive gradients.
using NativeCnn.Autograd;

namespace NativeCnn;

/// <summary>The functional API (torch.nn.functional): convolution, pooling, batch norm, linear, losses, softmax, dropout and their mixed-precision forms, each recorded for autograd.</summary>
public static partial class F
{
    /// <summary>Normalises each channel of <paramref name="x"/> ((N, C), (N, C, L) or (N, C, H, W)).
    /// Training: batch mean and biased variance; <paramref name="runningMean"/> and
    /// <paramref name="runningVar"/> (if given) become (1 - momentum) * old + momentum * batch value
    /// (the variance unbiased). Evaluation: the running statistics, which are then required.</summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
                                   bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        const string op = "BatchNorm";
        if (x.Dim < 2 || x.Dim > 4)
            throw new NativeCnnException($"{op}: input must be (N, C), (N, C, L) or (N, C, H, W), got shape {Shape.Format(x.ShapeArray)}");
        Check.Float(x, op, "input");
        Check.SameDevice(op, x, runningMean, runningVar, weight, bias);
        var sh = x.ShapeArray;
        int n = sh[0], c = sh[1];
        int hw = 1;
        for (int i = 2; i < sh.Length; i++) hw *= sh[i];
        CheckChannelVector(op, "weight", weight, c, needsDense: false);
        CheckChannelVector(op, "bias", bias, c, needsDense: false);
        CheckChannelVector(op, "runningMean", runningMean, c, needsDense: true);
        CheckChannelVector(op, "runningVar", runningVar, c, needsDense: true);
        if (!(eps > 0)) throw new NativeCnnException($"{op}: eps must be positive, got {eps}");

        if (!training)
        {
            if (runningMean is null || runningVar is null)
                throw new NativeCnnException($"{op}: runningMean and runningVar are required in evaluation mode (training = false)");
            return BatchNormInference(x, runningMean, runningVar, weight, bias, n, c, hw, eps);
        }

        if ((long)n * hw <= 1)
            throw new NativeCnnException($"{op}: expected more than 1 value per channel when training, got input shape {Shape.Format(sh)}");
        if (!(momentum >= 0 && momentum <= 1)) throw new NativeCnnException($"{op}: momentum must be in [0, 1], got {momentum}");

        var backend = x.Backend;
        var xd = x.Dense32();
        var gd = weight?.Dense32();
        var bd = bias?.Dense32();
        var y = Tensor.Empty(sh, DType.Float32, backend);
        var saveMean = Tensor.Empty(new[] { c }, DType.Float32, backend);
        var saveInvStd = Tensor.Empty(new[] { c }, DType.Float32, backend);
        backend.BatchNormForwardTraining(xd.Storage, gd?.Storage, bd?.Storage, y.Storage, saveMean.Storage, saveInvStd.Storage,
                                         runningMean?.Storage, runningVar?.Storage, n, c, hw, momentum, eps);

        return Engine.Record("batch_norm", Tensor.ResultAs(y, x.DType), new[] { x, weight, bias }, g =>
        {
            var gy = g.Dense32();
            var gx = x.RequiresGrad ? Tensor.Empty(sh, DType.Float32, backend) : null;
            var gw = weight is { RequiresGrad: true } ? Tensor.Empty(new[] { c }, DType.Float32, backend) : null;
            var gb = bias is { RequiresGrad: true } ? Tensor.Empty(new[] { c }, DType.Float32, backend) : null;
            backend.BatchNormBackward(xd.Storage, gy.Storage, gd?.Storage, saveMean.Storage, saveInvStd.Storage,
                                      gx?.Storage, gw?.Storage, gb?.Storage, n, c, hw);
            return new[] { gx, gw, gb };
        });
    }

    /// <summary>y = (x - runningMean) / sqrt(runningVar + eps) * weight + bias: an affine map per
    /// channel, so its backward is composed from elementwise ops.</summary>
    private static Tensor BatchNormInference(Tensor x, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias,
                                             int n, int c, int hw, float eps)
    {
        var backend = x.Backend;
        var sh = x.ShapeArray;
        var xd = x.Dense32();
        var gd = weight?.Dense32();
        var bd = bias?.Dense32();
        var y = Tensor.Empty(sh, DType.Float32, backend);
        backend.BatchNormForwardInference(xd.Storage, gd?.Storage, bd?.Storage, runningMean.Storage, runningVar.Storage,
                                          y.Storage, n, c, hw, eps);
        var result = Tensor.ResultAs(y, x.DType);
        bool recorded = NoGrad.IsGradEnabled && (x.RequiresGrad || weight is { RequiresGrad: true } || bias is { RequiresGrad: true });
        if (!recorded) return result;

        // the statistics may change in place later (next training step): snapshot what the backward needs
        var mean = runningMean.Detach().Clone();
        var invStd = (runningVar.Detach() + eps).Pow(-0.5f);

        return Engine.Record("batch_norm_eval", result, new[] { x, weight, bias }, g =>
        {
            // view per-channel vectors as (1, C, 1, ...) so they broadcast against (N, C, ...)
            var bshape = new int[sh.Length];
            Array.Fill(bshape, 1);
            bshape[1] = c;
            var reduceDims = Enumerable.Range(0, sh.Length).Where(d => d != 1).ToArray();
            var gy = g.Dense32();
            var istd = invStd.Reshape(bshape);
            Tensor? gx = null, gw = null, gb = null;
            if (x.RequiresGrad) gx = gd is null ? gy * istd : gy * (istd * gd.Reshape(bshape));
            if (weight is { RequiresGrad: true }) gw = (gy * ((xd - mean.Reshape(bshape)) * istd)).Sum(reduceDims);
            if (bias is { RequiresGrad: true }) gb = gy.Sum(reduceDims);
            return new[] { gx, gw, gb };
        });
    }

    private static void CheckChannelVector(string op, string name, Tensor? t, int c, bool needsDense)
    {
        if (t is null) return;
        if (t.Dim != 1 || t.ShapeArray[0] != c)
            throw new NativeCnnException($"{op}: {name} must have shape ({c}) to match the input's {c} channels, got {Shape.Format(t.ShapeArray)}");
        Check.Float(t, op, name);
        // running statistics are written in place by the backend, which needs a dense float32 buffer
        if (needsDense && (t.DType != DType.Float32 || !t.IsDense))
            throw new NativeCnnException($"{op}: {name} must be a dense float32 tensor (it is updated in place), got {t.DType}{(t.IsDense ? "" : ", not dense")}");
    }
}
