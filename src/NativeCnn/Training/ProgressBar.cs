// fastai's progress bars (fastprogress's master bar over the per-phase bar) on a console: while an epoch
// runs, two lines redrawn in place,
//     epoch [##########--------------------] 1/3 00:19<00:38
//     train [#######-----------------------] 45/125 00:03<00:04 loss 0.1234
// the master bar (epochs done of the fit's total, the fit's elapsed time < the time it still needs) over
// the current phase's bar (train or valid: batches done, elapsed < left, the batch's loss); both lines are
// cleared at the end of each phase so the epoch table's row prints on a clean line, and after the fit the
// master bar's final state stays as one line ("epoch [####] 3/3 00:57<00:00"). master: false draws only
// the phase bar, on one line with '\r'. Must hold: it writes only to an interactive console (stderr not
// redirected) unless forced, so redirected output holds the table and nothing else; it redraws at most
// once per minInterval (10 times a second by default) plus each phase's first and last batch; the only
// device value it reads is the current loss, and only when it redraws (showLoss: false reads none).
// The ETA: after an epoch, the mean epoch time times the epochs left minus the current epoch's time so
// far; in the first epoch, that epoch extrapolated from its batches so far (train, then train + valid).
using System.Diagnostics;
using System.Globalization;

namespace NativeCnn.Training;

/// <summary>fastai-style progress bars on a text writer (stderr by default; drawn only on a terminal unless forced):
/// a master bar over the epochs with elapsed time and ETA, above a bar for the current phase's batches.</summary>
public sealed class ProgressBar : Callback
{
    // ANSI: cursor up one line, erase the whole line.
    private const string Up = "\u001b[1A", EraseLine = "\u001b[2K";

    private readonly TextWriter _out;
    private readonly bool _enabled, _showLoss, _master;
    private readonly TimeSpan _minInterval;
    private readonly int _width, _maxLine;
    private readonly Func<TimeSpan> _clock;
    private TimeSpan _phaseStart, _fitStart, _lastDraw, _epochsDoneAt, _trainTime;
    private int _epochsDone, _epochs, _lastLength, _linesShown;

    /// <summary>A progress bar on <paramref name="output"/> (null: stderr). It draws when <paramref name="force"/> is set,
    /// or when the output is the console's stderr and stderr is not redirected. <paramref name="master"/>: the
    /// bar over the epochs above the phase's bar (two lines, ANSI cursor movement); false: the phase's bar alone.</summary>
    public ProgressBar(TextWriter? output = null, bool force = false, TimeSpan? minInterval = null, bool showLoss = true, int width = 30, bool master = true)
        : this(output, force, minInterval, showLoss, width, master, clock: null) { }

    /// <summary>Tests: <paramref name="clock"/> replaces the stopwatch (the time since some fixed start).</summary>
    internal ProgressBar(TextWriter? output, bool force, TimeSpan? minInterval, bool showLoss, int width, bool master, Func<TimeSpan>? clock)
    {
        _out = output ?? Console.Error;
        bool console = ReferenceEquals(_out, Console.Error) && !Console.IsErrorRedirected;
        _enabled = force || console;
        _minInterval = minInterval ?? TimeSpan.FromMilliseconds(100);
        if (_minInterval < TimeSpan.Zero) throw new NativeCnnException($"ProgressBar: minInterval must be >= 0, got {_minInterval}");
        Check.Positive(width, "ProgressBar: width");
        _showLoss = showLoss;
        _width = width;
        // A terminal that cannot move the cursor gets the one-line bar; a line as wide as the terminal would
        // wrap and break the redraw, so on a real console lines are cut to its width.
        _master = master && !(console && !force && Environment.GetEnvironmentVariable("TERM") == "dumb");
        _maxLine = console && !force ? ConsoleWidth() - 1 : int.MaxValue;
        if (_maxLine < 20) _maxLine = int.MaxValue;
        if (clock is null)
        {
            var watch = Stopwatch.StartNew();
            clock = () => watch.Elapsed;
        }
        _clock = clock;
    }

    private static int ConsoleWidth()
    {
        try { return Console.WindowWidth; }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or InvalidOperationException) { return 0; }
    }

    /// <summary>Whether this bar draws at all.</summary>
    public bool Enabled => _enabled;

    // After the Recorder and metrics; it clears its lines in AfterTrain/AfterValidate, before the epoch
    // table's AfterEpoch row, and counts the epoch in AfterEpoch, after that row.
    /// <inheritdoc/>
    public override int Order => 25;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        _fitStart = _clock();
        _epochsDone = 0;
        _epochs = learn.NEpochs;
        _epochsDoneAt = TimeSpan.Zero;
    }

    /// <inheritdoc/>
    public override void BeforeTrain(Learner learn) => Start(learn);
    /// <inheritdoc/>
    public override void BeforeValidate(Learner learn) => Start(learn);

    /// <inheritdoc/>
    public override void AfterTrain(Learner learn)
    {
        _trainTime = _clock() - _phaseStart;
        Clear();
    }

    /// <inheritdoc/>
    public override void AfterValidate(Learner learn) => Clear();

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        _epochsDone++;
        _epochsDoneAt = _clock() - _fitStart;
    }

    /// <inheritdoc/>
    public override void AfterFit(Learner learn)
    {
        if (!_enabled || !_master) return;
        Clear();
        var elapsed = _clock() - _fitStart;
        _out.WriteLine(Fit(_epochsDone, elapsed, _epochsDone >= _epochs ? 0 : null));
        _out.Flush();
    }

    /// <inheritdoc/>
    /// <remarks>Clears the bars, so the error the caller prints starts on a clean line instead of beneath a
    /// half-drawn bar; the table rows already written stay.</remarks>
    public override void FitFailed(Learner learn, Exception error) => Clear();

    private void Start(Learner learn)
    {
        if (!_enabled) return;
        _phaseStart = _clock();
        if (learn.Training) _trainTime = TimeSpan.Zero;
        Draw(learn, 0, null);
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        if (!_enabled) return;
        int done = learn.Iter + 1;
        var now = _clock() - _phaseStart;
        if (done < learn.NIter && now - _lastDraw < _minInterval) return;
        double? loss = _showLoss && learn.Training && learn.Loss is not null ? learn.Loss.Item() : null;
        Draw(learn, done, loss);
    }

    private void Draw(Learner learn, int done, double? loss)
    {
        int total = Math.Max(1, learn.NIter);
        var now = _clock();
        var elapsed = now - _phaseStart;
        _lastDraw = elapsed;
        string eta = done == 0 ? "--:--" : EpochTablePrinter.FormatTime(elapsed.TotalSeconds * (total - done) / done);
        string phase = Cut(string.Create(CultureInfo.InvariantCulture,
            $"{(learn.Training ? "train" : "valid")} {Bar(done, total)} {done}/{total} " +
            $"{EpochTablePrinter.FormatTime(elapsed.TotalSeconds)}<{eta}{(loss is double l ? $" loss {l:F4}" : "")}"));
        if (!_master)
        {
            // Pad over the previous line's tail: '\r' alone leaves longer old text behind.
            _out.Write("\r" + phase.PadRight(_lastLength));
            _lastLength = phase.Length;
            _linesShown = 1;
        }
        else
        {
            string master = Fit(_epochsDone, now - _fitStart, FitEta(learn, done, total, elapsed, now - _fitStart));
            // Back to the start of the master line when both are shown; each line erased before it is written.
            _out.Write((_linesShown == 2 ? "\r" + Up : "\r") + EraseLine + master + "\n" + EraseLine + phase);
            _linesShown = 2;
        }
        _out.Flush();
    }

    /// <summary>The master bar: epochs done of the fit's total, the fit's elapsed time and what is left.</summary>
    private string Fit(int epochsDone, TimeSpan elapsed, double? etaSeconds)
    {
        int total = Math.Max(1, _epochs);
        return Cut(string.Create(CultureInfo.InvariantCulture,
            $"epoch {Bar(epochsDone, total)} {epochsDone}/{total} {EpochTablePrinter.FormatTime(elapsed.TotalSeconds)}<{(etaSeconds is double s ? EpochTablePrinter.FormatTime(s) : "--:--")}"));
    }

    /// <summary>Seconds the fit still needs: from the completed epochs' mean time, or in the first epoch from
    /// that epoch's batches so far; null before anything was measured.</summary>
    private double? FitEta(Learner learn, int done, int total, TimeSpan phaseElapsed, TimeSpan fitElapsed)
    {
        double epochSeconds;
        if (_epochsDone > 0) epochSeconds = _epochsDoneAt.TotalSeconds / _epochsDone;
        else if (learn.Training)
        {
            if (done == 0) return null;
            epochSeconds = phaseElapsed.TotalSeconds / done * total;
        }
        else epochSeconds = _trainTime.TotalSeconds + (done == 0 ? 0 : phaseElapsed.TotalSeconds / done * total);
        return Math.Max(0, epochSeconds * _epochs - fitElapsed.TotalSeconds);
    }

    private string Bar(int done, int total)
    {
        int filled = (int)((long)_width * Math.Min(done, total) / total);
        return "[" + new string('#', filled) + new string('-', _width - filled) + "]";
    }

    private string Cut(string line) => line.Length <= _maxLine ? line : line[.._maxLine];

    private void Clear()
    {
        if (!_enabled || _linesShown == 0) return;
        _out.Write(_linesShown == 2 ? "\r" + EraseLine + Up + EraseLine : "\r" + new string(' ', _lastLength) + "\r");
        _out.Flush();
        _lastLength = 0;
        _linesShown = 0;
    }
}
