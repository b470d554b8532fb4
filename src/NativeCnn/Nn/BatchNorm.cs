// BatchNorm2d (x: (N, C, H, W)) and BatchNorm1d (x: (N, C) or (N, C, L)) over F.BatchNorm.
// Parameters weight (1) and bias (0); buffers running_mean (0), running_var (1) and
// num_batches_tracked (an int32 scalar; PyTorch's is int64), named as in torch. Must hold: the
// running statistics are updated only in training mode, and num_batches_tracked counts those
// forward passes (mirrored on the host so counting needs no device round trip).
namespace NativeCnn.Nn;

public abstract class BatchNormBase : Module
{
    private long _batchesTracked;

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

    public int NumFeatures { get; }
    public float Eps { get; }
    /// <summary>Weight of the new batch statistic in the running average (PyTorch's convention).</summary>
    public float Momentum { get; set; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }

    /// <summary>Throws unless x has a shape this layer accepts; returns the view F.BatchNorm takes.</summary>
    protected abstract Tensor Prepare(Tensor x);

    public override Tensor Forward(Tensor x)
    {
        var input = Prepare(x);
        if (input.Size(1) != NumFeatures)
            throw new NativeCnnException($"{GetType().Name}({NumFeatures}): input must have {NumFeatures} channels in dimension 1, got shape {Shape.Format(x.ShapeArray)}");
        // Without running statistics, batch statistics are used in eval mode too (as in torch).
        bool useBatchStats = Training || RunningMean is null;
        var y = F.BatchNorm(input, RunningMean, RunningVar, Weight, Bias, useBatchStats, Momentum, Eps);
        if (Training && NumBatchesTracked is not null)
        {
            _batchesTracked++;
            NumBatchesTracked.Fill(_batchesTracked);
        }
        return Shape.Equal(y.ShapeArray, x.ShapeArray) ? y : y.Reshape(x.ShapeArray);
    }

    protected override void OnStateLoaded()
    {
        if (NumBatchesTracked is not null) _batchesTracked = (long)NumBatchesTracked.Item();
    }

    protected override string ExtraRepr() =>
        $"{NumFeatures}, eps={Eps.ToString(System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant()}, momentum={Momentum.ToString(System.Globalization.CultureInfo.InvariantCulture)}, affine={(Weight is null ? "False" : "True")}, track_running_stats={(RunningMean is null ? "False" : "True")}";
}

/// <summary>Batch normalisation over (N, C, H, W), per channel.</summary>
public sealed class BatchNorm2d : BatchNormBase
{
    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats) { }

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
    public BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats) { }

    protected override Tensor Prepare(Tensor x)
    {
        if (x.Dim == 2) return x;
        // (N, C, L) is normalised exactly like (N, C, L, 1).
        if (x.Dim == 3) return x.Reshape(x.Size(0), x.Size(1), x.Size(2), 1);
        throw new NativeCnnException($"BatchNorm1d({NumFeatures}): expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {Shape.Format(x.ShapeArray)}");
    }
}
