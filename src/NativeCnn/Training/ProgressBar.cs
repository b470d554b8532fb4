// A progress bar within each training and validation phase, like fastprogress: one console line
// redrawn in place with '\r' ("train [#######-------] 45/100 00:03<00:04 loss 0.1234"), cleared at the
// end of the phase so the epoch table's row prints on a clean line. Must hold: it writes only to an
// interactive console (stderr not redirected) unless forced; it redraws at most once per minInterval
// (10 times a second by default) plus the phase's first and last batch; the only device value it reads
// is the current loss, and only when it redraws (showLoss: false reads none).
using System.Diagnostics;
using System.Globalization;

namespace NativeCnn.Training;

/// <summary>A fastai-style progress bar for each phase on a text writer (stderr by default; drawn only on a terminal unless forced).</summary>
public sealed class ProgressBar : Callback
{
    private readonly TextWriter _out;
    private readonly bool _enabled, _showLoss;
    private readonly TimeSpan _minInterval;
    private readonly int _width;
    private readonly Stopwatch _phase = new();
    private TimeSpan _lastDraw;
    private int _lastLength;
    private bool _drawn;

    /// <summary>A progress bar on <paramref name="output"/> (null: stderr). It draws when <paramref name="force"/> is set,
    /// or when the output is the console's stderr and stderr is not redirected.</summary>
    public ProgressBar(TextWriter? output = null, bool force = false, TimeSpan? minInterval = null, bool showLoss = true, int width = 30)
    {
        _out = output ?? Console.Error;
        _enabled = force || (ReferenceEquals(_out, Console.Error) && !Console.IsErrorRedirected);
        _minInterval = minInterval ?? TimeSpan.FromMilliseconds(100);
        if (_minInterval < TimeSpan.Zero) throw new NativeCnnException($"ProgressBar: minInterval must be >= 0, got {_minInterval}");
        Check.Positive(width, "ProgressBar: width");
        _showLoss = showLoss;
        _width = width;
    }

    /// <summary>Whether this bar draws at all.</summary>
    public bool Enabled => _enabled;

    // After the Recorder and metrics; it clears its line in AfterTrain/AfterValidate, before the epoch
    // table's AfterEpoch row.
    /// <inheritdoc/>
    public override int Order => 25;

    /// <inheritdoc/>
    public override void BeforeTrain(Learner learn) => Start(learn);
    /// <inheritdoc/>
    public override void BeforeValidate(Learner learn) => Start(learn);
    /// <inheritdoc/>
    public override void AfterTrain(Learner learn) => Clear();
    /// <inheritdoc/>
    public override void AfterValidate(Learner learn) => Clear();

    private void Start(Learner learn)
    {
        if (!_enabled) return;
        _phase.Restart();
        _drawn = false;
        Draw(learn, 0, null);
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        if (!_enabled) return;
        int done = learn.Iter + 1;
        var now = _phase.Elapsed;
        if (done < learn.NIter && now - _lastDraw < _minInterval) return;
        double? loss = _showLoss && learn.Training && learn.Loss is not null ? learn.Loss.Item() : null;
        Draw(learn, done, loss);
    }

    private void Draw(Learner learn, int done, double? loss)
    {
        int total = Math.Max(1, learn.NIter);
        var elapsed = _phase.Elapsed;
        _lastDraw = elapsed;
        int filled = (int)((long)_width * Math.Min(done, total) / total);
        string eta = done == 0 ? "--:--" : EpochTablePrinter.FormatTime(elapsed.TotalSeconds * (total - done) / done);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{(learn.Training ? "train" : "valid")} [{new string('#', filled)}{new string('-', _width - filled)}] {done}/{total} " +
            $"{EpochTablePrinter.FormatTime(elapsed.TotalSeconds)}<{eta}{(loss is double l ? $" loss {l:F4}" : "")}");
        // Pad over the previous line's tail: '\r' alone leaves longer old text behind.
        _out.Write("\r" + line.PadRight(_lastLength));
        _out.Flush();
        _lastLength = line.Length;
        _drawn = true;
    }

    private void Clear()
    {
        if (!_enabled || !_drawn) return;
        _out.Write("\r" + new string(' ', _lastLength) + "\r");
        _out.Flush();
        _lastLength = 0;
        _drawn = false;
    }
}
