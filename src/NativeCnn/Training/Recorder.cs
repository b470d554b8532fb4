// Records a fit: per training batch the loss, lr and momentum (of group 0); per epoch the mean train
// loss, the valid loss (mean over items), each metric over the whole valid set, and the wall time.
// Must hold: losses are summed on the device (persistent buffers made outside any MemoryScope) and
// read on the host once per phase, never per batch; a batch cancelled before its loss records nothing.
using System.Diagnostics;
using NativeCnn.Autograd;

namespace NativeCnn.Training;

/// <summary>fastai's Recorder, added to every Learner: per training batch the loss, learning rate and momentum (of parameter group 0); per epoch the mean train loss, the valid loss, each metric and the wall time. Losses are summed on the device and read once per phase.</summary>
public sealed class Recorder : Callback
{
    private Tensor? _batchLosses;   // (train batches per epoch): this epoch's losses, one slot per batch
    private Tensor? _validSum;      // (): sum over valid items of the loss
    private readonly List<int> _slots = new();
    private long _validCount;
    private readonly Stopwatch _clock = new();
    private bool _epochHasTrain, _epochHasValid;

    /// <summary>Every training batch's loss, across fits, in order.</summary>
    public List<double> Losses { get; } = new();
    /// <summary>Every training batch's learning rate (parameter group 0).</summary>
    public List<double> Lrs { get; } = new();
    /// <summary>Every training batch's momentum or beta1 (parameter group 0).</summary>
    public List<double> Moms { get; } = new();
    /// <summary>Per epoch, the mean training loss (NaN if the phase was cancelled before any batch).</summary>
    public List<double> TrainLosses { get; } = new();
    /// <summary>Per epoch, the validation loss as a mean over items (NaN without validation batches).</summary>
    public List<double> ValidLosses { get; } = new();
    /// <summary>Per epoch, one value per metric in the order of <see cref="MetricNames"/>.</summary>
    public List<double[]> MetricValues { get; } = new();
    /// <summary>The metrics' names ("accuracy", "error_rate", ...), in the learner's order.</summary>
    public List<string> MetricNames { get; } = new();
    /// <summary>Per epoch, the wall time in seconds.</summary>
    public List<double> EpochSeconds { get; } = new();

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        Losses.Clear(); Lrs.Clear(); Moms.Clear(); TrainLosses.Clear(); ValidLosses.Clear();
        MetricValues.Clear(); EpochSeconds.Clear();
        MetricNames.Clear();
        MetricNames.AddRange(learn.Metrics.Select(m => m.Name));
        var device = learn.Model.Device;
        int n = Math.Max(1, learn.Data.Train.BatchCount);
        if (_batchLosses is null || _batchLosses.Numel != n || _batchLosses.Device != device)
            _batchLosses = MemoryScope.Outside(() => Tensor.Zeros(new[] { n }, DType.Float32, device)).Keep();
        if (_validSum is null || _validSum.Device != device)
            _validSum = MemoryScope.Outside(() => Tensor.Zeros(Array.Empty<int>(), DType.Float32, device)).Keep();
    }

    /// <inheritdoc/>
    public override void BeforeEpoch(Learner learn)
    {
        _clock.Restart();
        _epochHasTrain = _epochHasValid = false;
    }

    /// <inheritdoc/>
    public override void BeforeTrain(Learner learn) => _slots.Clear();

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        var loss = learn.Loss;
        if (loss is null) return;
        using var _ = new NoGrad();
        if (learn.Training)
        {
            int slot = _slots.Count;
            if (slot >= _batchLosses!.Numel)
                throw new NativeCnnException($"Recorder: the train source yielded more than its BatchCount of {_batchLosses.Numel} batches");
            _batchLosses.Slice(0, slot, slot + 1).CopyFrom(loss.Reshape(1));
            _slots.Add(slot);
            // the last group's, as fastai's Recorder (opt.lr is the last layer group's: the head's under slices)
            var g = learn.Opt!.ParamGroups[^1];
            Lrs.Add(g.Lr);
            Moms.Add(g.Momentum);
        }
        else
        {
            int b = learn.YB!.Size(0);
            _validSum!.CopyFrom(_validSum + loss * b);
            _validCount += b;
            foreach (var m in learn.Metrics) m.Accumulate(learn.Pred!, learn.YB!);
        }
    }

    /// <inheritdoc/>
    public override void AfterTrain(Learner learn)
    {
        _epochHasTrain = true;
        int n = _slots.Count;
        if (n == 0) { TrainLosses.Add(double.NaN); return; }
        var values = _batchLosses!.ToArray();
        double sum = 0;
        for (int i = 0; i < n; i++) { Losses.Add(values[i]); sum += values[i]; }
        TrainLosses.Add(sum / n);
    }

    /// <inheritdoc/>
    public override void BeforeValidate(Learner learn)
    {
        _validSum!.CopyFrom(Tensor.Scalar(0f, _validSum.Device));
        _validCount = 0;
        foreach (var m in learn.Metrics) m.Reset();
    }

    /// <inheritdoc/>
    public override void AfterValidate(Learner learn)
    {
        _epochHasValid = true;
        ValidLosses.Add(_validCount == 0 ? double.NaN : _validSum!.Item() / _validCount);
        MetricValues.Add(learn.Metrics.Select(m => m.Value).ToArray());
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        _clock.Stop();
        // A cancelled epoch may have skipped a phase: keep the per-epoch lists aligned.
        if (!_epochHasTrain) TrainLosses.Add(double.NaN);
        if (!_epochHasValid) { ValidLosses.Add(double.NaN); MetricValues.Add(learn.Metrics.Select(_ => double.NaN).ToArray()); }
        EpochSeconds.Add(_clock.Elapsed.TotalSeconds);
    }
}
