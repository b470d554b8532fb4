// fastai's epoch table: a header at the start of a fit, then one row per epoch with epoch,
// train_loss, valid_loss, each metric and the time, written to a TextWriter and flushed.
// Must hold: columns are left-aligned and at least as wide as their name plus two spaces (metrics at
// least 10), numbers use 6 decimals and the invariant culture, so the output is the same on every machine.
using System.Globalization;

namespace NativeCnn.Training;

/// <summary>Prints fastai's epoch table (epoch, train_loss, valid_loss, metrics, time) to a writer, one line per epoch.</summary>
public sealed class EpochTablePrinter : Callback
{
    private readonly TextWriter _out;

    /// <summary>A printer writing to <paramref name="output"/>.</summary>
    public EpochTablePrinter(TextWriter output) => _out = output ?? throw new NativeCnnException("EpochTablePrinter: the writer is null");

    // After the Recorder (order 0), whose per-epoch values it prints.
    /// <inheritdoc/>
    public override int Order => 20;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(Pad("epoch", 7)).Append(Pad("train_loss", 12)).Append(Pad("valid_loss", 12));
        foreach (var m in learn.Metrics) sb.Append(Pad(m.Name, MetricWidth(m.Name)));
        sb.Append(Pad("time", 6));
        _out.WriteLine(sb.ToString());
        _out.Flush();
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        var r = learn.Recorder;
        int e = r.EpochSeconds.Count - 1;
        var sb = new System.Text.StringBuilder();
        sb.Append(Pad(learn.Epoch.ToString(CultureInfo.InvariantCulture), 7));
        sb.Append(Pad(Num(r.TrainLosses[e]), 12)).Append(Pad(Num(r.ValidLosses[e]), 12));
        for (int i = 0; i < learn.Metrics.Count; i++) sb.Append(Pad(Num(r.MetricValues[e][i]), MetricWidth(learn.Metrics[i].Name)));
        sb.Append(Pad(FormatTime(r.EpochSeconds[e]), 6));
        _out.WriteLine(sb.ToString());
        _out.Flush();
    }

    private static int MetricWidth(string name) => Math.Max(10, name.Length + 2);

    private static string Pad(string s, int width) => s.PadRight(width);

    private static string Num(double v) => double.IsNaN(v) ? "#na#" : v.ToString("F6", CultureInfo.InvariantCulture);

    /// <summary>mm:ss, or h:mm:ss from an hour on (fastai's format_time).</summary>
    public static string FormatTime(double seconds) => Reports.HtmlReport.FormatTime(seconds);
}
