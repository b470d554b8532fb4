// fastai v1's tracker callbacks: each epoch they read one monitored value from the Recorder
// ("train_loss", "valid_loss" or a metric's name) and compare it with the best so far — lower is
// better in mode "min", higher in "max"; "auto" picks "min" when the name holds "loss" or "error".
// EarlyStoppingCallback ends the fit after `patience` epochs without improvement; SaveModelCallback
// writes the model's state dict (safetensors, written to a temporary file and renamed) every epoch or
// on each improvement, and by default loads the best weights back at the end of the fit.
// Must hold: they run after the Recorder and the printers (high Order), so every other callback sees
// the epoch's end before a stop; an epoch whose value is NaN (validation skipped) counts as neither
// better nor worse; an unknown monitor name fails at the start of the fit, naming the known ones.
using NativeCnn.IO;

namespace NativeCnn.Training;

/// <summary>The common part of EarlyStopping and SaveModel: the monitored value and the comparison.</summary>
public abstract class TrackerCallback : Callback
{
    /// <summary>Tracks <paramref name="monitor"/> ("train_loss", "valid_loss" or a metric's name) in <paramref name="mode"/> "min", "max" or "auto" (min when the name holds "loss" or "error").</summary>
    /// <exception cref="ArgumentException">The monitor is empty or the mode unknown.</exception>
    protected TrackerCallback(string monitor, string mode)
    {
        if (string.IsNullOrWhiteSpace(monitor)) throw new NativeCnnException("TrackerCallback: monitor must name train_loss, valid_loss or a metric, got an empty name");
        Monitor = monitor;
        if (mode == "auto") mode = monitor.Contains("loss") || monitor.Contains("error") ? "min" : "max";
        if (mode is not ("min" or "max")) throw new NativeCnnException($"TrackerCallback: mode must be auto, min or max, got '{mode}'");
        Mode = mode;
    }

    /// <summary>The monitored value's name: "train_loss", "valid_loss" or a metric's name.</summary>
    public string Monitor { get; }
    /// <summary>"min" or "max" (auto already resolved).</summary>
    public string Mode { get; }
    /// <summary>The best value seen in this fit (+inf for min, -inf for max before any epoch).</summary>
    public double Best { get; protected set; }
    /// <summary>The epoch of <see cref="Best"/>, -1 before any.</summary>
    public int BestEpoch { get; protected set; } = -1;

    /// <summary>Whether <paramref name="value"/> beats <paramref name="reference"/> in this mode.</summary>
    protected bool Better(double value, double reference) => Mode == "min" ? value < reference : value > reference;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        Best = Mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
        BestEpoch = -1;
        if (Monitor is not ("train_loss" or "valid_loss") && !learn.Metrics.Any(m => m.Name == Monitor))
            throw new NativeCnnException($"{GetType().Name}: monitor '{Monitor}' is unknown; expected train_loss, valid_loss" +
                                         string.Concat(learn.Metrics.Select(m => ", " + m.Name)));
    }

    /// <summary>This epoch's monitored value from the Recorder (NaN when the phase did not run).</summary>
    protected double Current(Learner learn)
    {
        var r = learn.Recorder;
        if (Monitor == "train_loss") return r.TrainLosses.Count == 0 ? double.NaN : r.TrainLosses[^1];
        if (Monitor == "valid_loss") return r.ValidLosses.Count == 0 ? double.NaN : r.ValidLosses[^1];
        int i = r.MetricNames.IndexOf(Monitor);
        return i < 0 || r.MetricValues.Count == 0 ? double.NaN : r.MetricValues[^1][i];
    }
}

/// <summary>fastai v1's EarlyStoppingCallback: stops the fit when the monitored value has not improved by more
/// than <c>minDelta</c> for more than <c>patience</c> epochs.</summary>
public sealed class EarlyStoppingCallback : TrackerCallback
{
    private int _wait;

    /// <summary>Stops the fit when <paramref name="monitor"/> has not improved by more than <paramref name="minDelta"/> for more than <paramref name="patience"/> epochs; see <see cref="TrackerCallback"/> for the monitor and mode.</summary>
    /// <exception cref="ArgumentException">minDelta is negative or not finite, patience is negative, or the mode is unknown.</exception>
    public EarlyStoppingCallback(string monitor = "valid_loss", double minDelta = 0, int patience = 0, string mode = "auto") : base(monitor, mode)
    {
        if (!(minDelta >= 0) || double.IsInfinity(minDelta)) throw new NativeCnnException($"EarlyStoppingCallback: minDelta must be finite and >= 0, got {minDelta}");
        if (patience < 0) throw new NativeCnnException($"EarlyStoppingCallback: patience must be >= 0, got {patience}");
        MinDelta = minDelta;
        Patience = patience;
    }

    /// <summary>The smallest change that counts as an improvement (>= 0).</summary>
    public double MinDelta { get; }
    /// <summary>Epochs without improvement tolerated before stopping.</summary>
    public int Patience { get; }
    /// <summary>The epoch after which the fit was stopped, or null if it ran to the end.</summary>
    public int? StoppedEpoch { get; private set; }

    /// <inheritdoc/>
    public override int Order => 100;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        base.BeforeFit(learn);
        _wait = 0;
        StoppedEpoch = null;
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        double current = Current(learn);
        if (double.IsNaN(current)) return;
        // fastai: an improvement must beat the best by more than minDelta.
        if (Better(Mode == "min" ? current + MinDelta : current - MinDelta, Best))
        {
            Best = current;
            BestEpoch = learn.Epoch;
            _wait = 0;
            return;
        }
        if (++_wait > Patience)
        {
            StoppedEpoch = learn.Epoch;
            throw new CancelFitException();
        }
    }
}

/// <summary>fastai v1's SaveModelCallback: writes a checkpoint (weights and optimizer state, see
/// <see cref="Checkpoint"/>; atomic) to <c>path</c> on each improvement of the monitored value (and loads
/// the best back at the end of the fit), or, with <c>everyEpoch</c>, after every epoch to path with
/// "_{epoch}" before the extension.</summary>
public sealed class SaveModelCallback : TrackerCallback
{
    private bool _saved;

    /// <summary>Saves a checkpoint to <paramref name="path"/> when <paramref name="monitor"/> improves (or every epoch, as path_{epoch}, with <paramref name="everyEpoch"/>), and with <paramref name="loadBestAtEnd"/> loads the best back when the fit ends.</summary>
    /// <exception cref="ArgumentException">The path is empty or the mode unknown.</exception>
    public SaveModelCallback(string path, string monitor = "valid_loss", string mode = "auto", bool everyEpoch = false, bool loadBestAtEnd = true)
        : base(monitor, mode)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new NativeCnnException("SaveModelCallback: path must name a file, got an empty path");
        Path = System.IO.Path.GetFullPath(path);
        EveryEpoch = everyEpoch;
        LoadBestAtEnd = loadBestAtEnd;
    }

    /// <summary>The checkpoint file (full path); with EveryEpoch the epoch number goes before its extension.</summary>
    public string Path { get; }
    /// <summary>Whether a checkpoint is written after every epoch rather than on improvement only.</summary>
    public bool EveryEpoch { get; }
    /// <summary>Whether the best checkpoint is loaded back into the model at the end of the fit.</summary>
    public bool LoadBestAtEnd { get; }
    /// <summary>The files written in this fit, in order.</summary>
    public List<string> Written { get; } = new();

    // Before EarlyStopping (100): the epoch that stops the fit is still saved when it is the best.
    /// <inheritdoc/>
    public override int Order => 90;

    /// <summary>The file of epoch <paramref name="epoch"/> in every-epoch mode: "model_3.safetensors" for "model.safetensors".</summary>
    public string EpochPath(int epoch) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, $"{System.IO.Path.GetFileNameWithoutExtension(Path)}_{epoch}{System.IO.Path.GetExtension(Path)}");

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        base.BeforeFit(learn);
        _saved = false;
        Written.Clear();
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        if (EveryEpoch) { Save(learn, EpochPath(learn.Epoch)); return; }
        double current = Current(learn);
        if (double.IsNaN(current) || !Better(current, Best)) return;
        Best = current;
        BestEpoch = learn.Epoch;
        Save(learn, Path);
        _saved = true;
    }

    /// <inheritdoc/>
    public override void AfterFit(Learner learn)
    {
        if (!EveryEpoch && LoadBestAtEnd && _saved)
            Checkpoint.Load(learn, Path);
    }

    private void Save(Learner learn, string file)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        Checkpoint.Save(learn, file);
        Written.Add(file);
    }
}
