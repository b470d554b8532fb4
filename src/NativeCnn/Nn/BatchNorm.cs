// BatchNorm2d (x: (N, C, H, W)) and BatchNorm1d (x: (N, C) or (N, C, L)) over F.BatchNorm.
// Parameters weight (1) and bias (0); buffers running_mean (0), running_var (1) and
// num_batches_tracked (an int32 scalar; PyTorch's is int64), named as in torch. Must hold: the
// running statistics are updated only in training mode, and num_batches_tracked counts those
// forward passes (mirrored on the host so counting needs no device round trip).
namespace NativeCnn.Nn;

/// <summary>What BatchNorm2d and BatchNorm1d share: per-channel normalisation y = (x - mean) / sqrt(var + eps) * weight + bias, with batch statistics in training mode and running statistics in evaluation mode (torch.nn.BatchNorm*).</summary>
public abstract class BatchNormBase : Module
{
    private long _batchesTracked;

    /// <summary>A batch norm over <paramref name="numFeatures"/> channels. <paramref name="momentum"/> is torch's: running = (1 - momentum) running + momentum batch (the running variance takes the unbiased batch variance); <paramref name="affine"/> adds the learnable weight and bias; <paramref name="trackRunningStats"/> keeps running statistics (without them evaluation also uses batch statistics).</summary>
    /// <exception cref="ArgumentException">numFeatures is not positive, eps is not positive, or momentum is outside [0, 1].</exception>
    protected BatchNormBase(int numFeatures, float eps, float momentum, bool affine, bool trackRunningStats)
    {
        Check.Positive(numFeatures, $"{GetType().Name}: numFeatures");
        if (!(eps > 0)) throw new NativeCnnException($"{GetType().Name}: eps must be > 0, got {eps}");
        if (!(momentum >= 0 && momentum <= 1)) throw new NativeCnnException($"{GetType().Name}: momentum must be in [0, 1], got {momentum}");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        if (affine)
        {
            Weight = RegisterParameter("weight", Persistent(() => Tensor.Ones(numFeatures)));
            Bias = RegisterParameter("bias", Persistent(() => Tensor.Zeros(numFeatures)));
        }
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Persistent(() => Tensor.Zeros(numFeatures)));
            RunningVar = RegisterBuffer("running_var", Persistent(() => Tensor.Ones(numFeatures)));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Persistent(() => Tensor.Zeros(Array.Empty<int>(), DType.Int32)));
        }
    }

    /// <summary>Channels (features) normalised.</summary>
    public int NumFeatures { get; }
    /// <summary>Added to the variance before the square root, for stability (default 1e-5).</summary>
    public float Eps { get; }
    /// <summary>Weight of the new batch statistic in the running average (PyTorch's convention).</summary>
    public float Momentum { get; set; }
    /// <summary>Per-channel scale (C), initialised to 1; null without affine.</summary>
    public Tensor? Weight { get; }
    /// <summary>Per-channel shift (C), initialised to 0; null without affine.</summary>
    public Tensor? Bias { get; }
    /// <summary>Running mean per channel (C), a buffer; null without running statistics.</summary>
    public Tensor? RunningMean { get; }
    /// <summary>Running (unbiased) variance per channel (C), a buffer; null without running statistics.</summary>
    public Tensor? RunningVar { get; }
    /// <summary>Training forward passes counted so far (an int32 scalar buffer); null without running statistics.</summary>
    public Tensor? NumBatchesTracked { get; }

    /// <summary>Throws unless x has a shape this layer accepts; returns the view F.BatchNorm takes.</summary>
    protected abstract Tensor Prepare(Tensor x);

    /// <summary>Normalises <paramref name="x"/> (shape as the subclass takes) per channel; in training mode with batch statistics (and updates the running ones), in evaluation mode with the running ones.</summary>
    /// <exception cref="ArgumentException">The input's rank or channel count does not fit.</exception>
    public override Tensor Forward(Tensor x)
    {
        var input = Prepare(x);
        if (input.Size(1) != NumFeatures)
            throw new NativeCnnException($"{GetType().Name}({NumFeatures}): input must have {NumFeatures} channels in dimension 1, got shape {Shape.Format(x.ShapeArray)}");
        // Without running statistics, batch statistics are used in eval mode too (as in torch).
        bool useBatchStats = Training || RunningMean is null;
        var y = F.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, useBatchStats, Momentum, Eps);
        CountBatch();
        return Shape.Equal(y.ShapeArray, x.ShapeArray) ? y : y.Reshape(x.ShapeArray);
    }

    /// <summary>relu(Forward(x) + residual) (the residual when not null, the ReLU when <paramref name="relu"/>):
    /// with batch statistics one fused op (F.BatchNormAct), otherwise composed. Same values either way.</summary>
    public Tensor ForwardAct(Tensor x, Tensor? residual, bool relu)
    {
        bool useBatchStats = Training || RunningMean is null;
        if (!useBatchStats || (residual is not null && !Shape.Equal(residual.ShapeArray, x.ShapeArray)))
        {
            var z = Forward(x);
            if (residual is not null) z = z + residual;
            return relu ? z.Relu() : z;
        }
        var input = Prepare(x);
        if (input.Size(1) != NumFeatures)
            throw new NativeCnnException($"{GetType().Name}({NumFeatures}): input must have {NumFeatures} channels in dimension 1, got shape {Shape.Format(x.ShapeArray)}");
        var r = residual is null || Shape.Equal(residual.ShapeArray, input.ShapeArray) ? residual : residual.Reshape(input.ShapeArray);
        var y = F.BatchNormAct(input, r, relu, RunningMean, RunningVar, Weight, Bias, Momentum, Eps);
        CountBatch();
        return Shape.Equal(y.ShapeArray, x.ShapeArray) ? y : y.Reshape(x.ShapeArray);
    }

    private void CountBatch()
    {
        if (Training && NumBatchesTracked is not null)
        {
            _batchesTracked++;
            NumBatchesTracked.Fill(_batchesTracked);
        }
    }

    /// <inheritdoc/>
    protected override void OnStateLoaded()
    {
        if (NumBatchesTracked is not null) _batchesTracked = (long)NumBatchesTracked.Item();
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{NumFeatures}, eps={Eps.ToString(System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant()}, momentum={Momentum.ToString(System.Globalization.CultureInfo.InvariantCulture)}, affine={(Weight is null ? "False" : "True")}, track_running_stats={(RunningMean is null ? "False" : "True")}";
}

/// <summary>Batch normalisation over (N, C, H, W), per channel.</summary>
public sealed class BatchNorm2d : BatchNormBase
{
    /// <summary>A batch norm over <paramref name="numFeatures"/> channels of (N, C, H, W) inputs; see <see cref="BatchNormBase"/> for the arguments.</summary>
    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats) { }

    /// <inheritdoc/>
    protected override Tensor Prepare(Tensor x)
    {
        if (x.Dim != 4)
            throw new NativeCnnException($"BatchNorm2d({NumFeatures}): expected a 4-D input (N, C, H, W), got shape {Shape.Format(x.ShapeArray)}");
        return x;
    }
}

/// <summary>Batch normalisation over (N, C) or (N, C, L), per feature.</summary>
public sealed class BatchNorm1d : BatchNormBase
{
    /// <summary>A batch norm over <paramref name="numFeatures"/> features of (N, C) or (N, C, L) inputs; see <see cref="BatchNormBase"/> for the arguments.</summary>
    public BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats) { }

    /// <inheritdoc/>
    protected override Tensor Prepare(Tensor x)
    {
        if (x.Dim == 2) return x;
        // (N, C, L) is normalised exactly like (N, C, L, 1).
        if (x.Dim == 3) return x.Reshape(x.Size(0), x.Size(1), x.Size(2), 1);
        throw new NativeCnnException($"BatchNorm1d({NumFeatures}): expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {Shape.Format(x.ShapeArray)}");
    }
}
