// fastai v1's learning-rate finder: one short fit whose lr grows exponentially per training batch
// from startLr to endLr over numIt batches (running over as many epochs as needed), the loss
// smoothed as fastai's Recorder does (exponential moving average, beta 0.98, debiased), stopping
// when the smoothed loss passes 4x the best seen or turns NaN. Validation is skipped.
// Must hold: the model's parameters and buffers (batch-norm statistics) and the learner's optimizer
// (object and state) are exactly as before when LrFind returns or throws: the run uses its own fresh
// optimizer and the weights are copied back from a snapshot. In mixed precision the snapshot is the
// float32 masters (FullPrecisionStateDict), restored into the masters and, cast, into the model.
using NativeCnn.Autograd;
using NativeCnn.Optim;

namespace NativeCnn.Training;

public sealed partial class Learner
{
    /// <summary>fastai v1's lr_find: trains with an lr going from <paramref name="startLr"/> to <paramref name="endLr"/>
    /// exponentially over <paramref name="numIt"/> batches, records the smoothed loss, and restores the weights
    /// and the optimizer afterwards. With <paramref name="stopDiv"/>, stops once the smoothed loss exceeds 4x its
    /// minimum or is NaN. Every layer group gets the same lr.</summary>
    public LrFindResult LrFind(double startLr = 1e-7, double endLr = 10, int numIt = 100, bool stopDiv = true, params Callback[] extra)
        => LrFind(default, startLr, endLr, numIt, stopDiv, extra);

    /// <summary>As <see cref="LrFind(double, double, int, bool, Callback[])"/>, stopping when <paramref name="cancellationToken"/>
    /// is cancelled (within one batch); the weights and optimizer are restored as on any other exit.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public LrFindResult LrFind(CancellationToken cancellationToken, double startLr = 1e-7, double endLr = 10, int numIt = 100, bool stopDiv = true, params Callback[] extra)
    {
        if (!(startLr > 0) || !double.IsFinite(startLr)) throw new NativeCnnException($"Learner.LrFind: startLr must be finite and > 0, got {startLr}");
        if (!(endLr > startLr) || !double.IsFinite(endLr)) throw new NativeCnnException($"Learner.LrFind: endLr must be finite and > startLr ({startLr}), got {endLr}");
        Check.Positive(numIt, "Learner.LrFind: numIt");
        int perEpoch = Data.Train.BatchCount;
        if (perEpoch < 1) throw new NativeCnnException($"Learner.LrFind: the training data yields {perEpoch} batches; expected at least 1");
        int epochs = (numIt + perEpoch - 1) / perEpoch;

        var snapshot = Snapshot();
        var savedOpt = Opt;
        var finder = new LrFinder(startLr, endLr, numIt, stopDiv);
        try
        {
            Opt = null;
            CreateOpt((float)startLr);
            RunFit(epochs, extra.Prepend(finder).ToArray(), cancellationToken);
        }
        finally
        {
            Model.LoadStateDict(snapshot);
            RestoreMasters(snapshot);
            Opt = savedOpt;
        }
        return LrFindResult.From(finder.Lrs, finder.Losses, finder.SmoothLosses, finder.Diverged);
    }

    // Copies of every parameter and buffer (float32 masters in mixed precision), made outside any scope
    // so they survive the run.
    private Dictionary<string, Tensor> Snapshot()
    {
        using var _ = new NoGrad();
        return this.FullPrecisionStateDict().ToDictionary(kv => kv.Key, kv => MemoryScope.Outside(() => kv.Value.Clone()).Keep());
    }

    // Mixed precision: the masters (made by this run if it was the first fit) take the snapshot's full
    // precision values, so the next fit does not start from the float16 model's rounding.
    private void RestoreMasters(Dictionary<string, Tensor> snapshot)
    {
        if (this.MixedPrecision() is not { } mp) return;
        using var _ = new NoGrad();
        foreach (var (name, p) in Model.NamedParameters())
            if (mp.MasterOf(p) is { } master) master.CopyFrom(snapshot[name]);
    }
}

/// <summary>The lr finder's schedule and stopping rule as a callback (used by <see cref="Learner.LrFind(double, double, int, bool, Callback[])"/>).</summary>
public sealed class LrFinder : Callback
{
    private const double Beta = 0.98;
    private readonly double _start, _end;
    private readonly int _numIt;
    private readonly bool _stopDiv;
    private double _avg, _best;
    private int _count;

    /// <summary>A finder raising the learning rate exponentially from <paramref name="startLr"/> to <paramref name="endLr"/> over <paramref name="numIt"/> batches; with <paramref name="stopDiv"/> it stops once the smoothed loss passes 4x its best or is NaN. Use <see cref="Learner.LrFind(double, double, int, bool, Callback[])"/>.</summary>
    public LrFinder(double startLr, double endLr, int numIt, bool stopDiv)
    {
        _start = startLr; _end = endLr; _numIt = numIt; _stopDiv = stopDiv;
    }

    // After the printers and recorders, so they all see the batch the run stops on.
    /// <inheritdoc/>
    public override int Order => 50;

    /// <summary>The learning rate of each batch run.</summary>
    public List<double> Lrs { get; } = new();
    /// <summary>The raw loss of each batch run.</summary>
    public List<double> Losses { get; } = new();
    /// <summary>The smoothed (EMA beta 0.98, debiased) loss of each batch run.</summary>
    public List<double> SmoothLosses { get; } = new();
    /// <summary>True when the run stopped because the loss diverged.</summary>
    public bool Diverged { get; private set; }

    /// <summary>The lr of training batch <paramref name="i"/>: fastai's annealing_exp at pct i/numIt.</summary>
    public double LrAt(int i) => _start * Math.Pow(_end / _start, (double)i / _numIt);

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        Lrs.Clear(); Losses.Clear(); SmoothLosses.Clear();
        _avg = 0; _best = 0; _count = 0;
        Diverged = false;
    }

    /// <inheritdoc/>
    public override void BeforeBatch(Learner learn)
    {
        if (!learn.Training) return;
        float lr = (float)LrAt(learn.TrainIter);
        foreach (var g in learn.Opt!.ParamGroups) g.Lr = lr;
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        if (!learn.Training || learn.Loss is null) return;
        double loss = learn.Loss.Item();
        // fastai's SmoothenValue: moving average debiased by 1 - beta^n.
        _count++;
        _avg = Beta * _avg + (1 - Beta) * loss;
        double smooth = _avg / (1 - Math.Pow(Beta, _count));
        Lrs.Add(LrAt(learn.TrainIter));
        Losses.Add(loss);
        SmoothLosses.Add(smooth);
        if (_count == 1 || smooth < _best) _best = smooth;
        bool diverged = _stopDiv && (smooth > 4 * _best || double.IsNaN(smooth));
        if (diverged) Diverged = true;
        if (diverged || learn.TrainIter + 1 >= _numIt) throw new CancelFitException();
    }

    // fastai's LRFinder skips validation.
    /// <summary>Validation is skipped while finding.</summary>
    public override void BeforeValidate(Learner learn) => throw new CancelValidException();
}

/// <summary>What <see cref="Learner.LrFind(double, double, int, bool, Callback[])"/> saw: per batch the lr, the raw and the smoothed loss, and two suggestions.</summary>
public sealed class LrFindResult
{
    /// <summary>Points dropped at each end before suggesting, as fastai v1's Recorder.plot (skip_start 10, skip_end 5).</summary>
    public const int SkipStart = 10, SkipEnd = 5;

    private LrFindResult(double[] lrs, double[] losses, double[] smooth, bool diverged)
    {
        Lrs = lrs; RawLosses = losses; Losses = smooth; Diverged = diverged;
        (SteepestIndex, MinLossIndex) = Suggest(lrs, smooth);
    }

    internal static LrFindResult From(IEnumerable<double> lrs, IEnumerable<double> losses, IEnumerable<double> smooth, bool diverged) =>
        new(lrs.ToArray(), losses.ToArray(), smooth.ToArray(), diverged);

    /// <summary>Builds a result from recorded series (the suggestions are computed as LrFind's).</summary>
    public static LrFindResult FromSeries(IReadOnlyList<double> lrs, IReadOnlyList<double> smoothedLosses)
    {
        if (lrs is null || smoothedLosses is null || lrs.Count != smoothedLosses.Count)
            throw new NativeCnnException($"LrFindResult: needs as many lrs as losses, got {lrs?.Count} and {smoothedLosses?.Count}");
        return new(lrs.ToArray(), smoothedLosses.ToArray(), smoothedLosses.ToArray(), false);
    }

    /// <summary>The lr of each recorded batch.</summary>
    public IReadOnlyList<double> Lrs { get; }
    /// <summary>The smoothed (debiased) loss of each recorded batch: what fastai plots.</summary>
    public IReadOnlyList<double> Losses { get; }
    /// <summary>The loss of each batch as computed.</summary>
    public IReadOnlyList<double> RawLosses { get; }
    /// <summary>True when the run stopped because the smoothed loss passed 4x its best or was NaN.</summary>
    public bool Diverged { get; }
    /// <summary>Index of the steepest descent (-1 with fewer than two finite points).</summary>
    public int SteepestIndex { get; }
    /// <summary>Index of the lowest smoothed loss (-1 with no finite point).</summary>
    public int MinLossIndex { get; }
    /// <summary>The lr where the smoothed loss falls fastest against log(lr) (NaN if there is no such point).</summary>
    public double LrSteep => SteepestIndex < 0 ? double.NaN : Lrs[SteepestIndex];
    /// <summary>The lr of the lowest smoothed loss, divided by 10 (NaN if there is no finite loss).</summary>
    public double LrMin => MinLossIndex < 0 ? double.NaN : Lrs[MinLossIndex] / 10;

    // fastai v1 (Recorder.plot(suggestion=True)): drop SkipStart/SkipEnd points (all points if fewer than
    // two would remain), then argmin of np.gradient(losses) — here against log(lr), with numpy's
    // second-order formula for uneven spacing, one-sided at the ends — and argmin of the losses.
    // Non-finite losses (a NaN that stopped the run) are left out.
    private static (int Steep, int Min) Suggest(double[] lrs, double[] losses)
    {
        int lo = SkipStart, hi = losses.Length - SkipEnd;
        if (hi - lo < 2) { lo = 0; hi = losses.Length; }
        var idx = Enumerable.Range(lo, Math.Max(0, hi - lo)).Where(i => double.IsFinite(losses[i]) && lrs[i] > 0).ToArray();
        int min = -1;
        foreach (int i in idx) if (min < 0 || losses[i] < losses[min]) min = i;
        if (idx.Length < 2) return (-1, min);
        var x = idx.Select(i => Math.Log(lrs[i])).ToArray();
        var f = idx.Select(i => losses[i]).ToArray();
        int n = f.Length, steep = -1;
        double best = double.PositiveInfinity;
        for (int k = 0; k < n; k++)
        {
            double g;
            if (k == 0) g = (f[1] - f[0]) / (x[1] - x[0]);
            else if (k == n - 1) g = (f[n - 1] - f[n - 2]) / (x[n - 1] - x[n - 2]);
            else
            {
                double hs = x[k] - x[k - 1], hd = x[k + 1] - x[k];
                g = (hs * hs * f[k + 1] + (hd * hd - hs * hs) * f[k] - hd * hd * f[k - 1]) / (hs * hd * (hd + hs));
            }
            if (g < best) { best = g; steep = idx[k]; }
        }
        return (steep, min);
    }
}
