// One self-contained HTML report of a run, from plain data (Training maps its Recorder and
// ClassificationInterpretation onto TrainingSeries and InterpretationSection: LearnerReports.cs): a summary
// table given by the caller, the epoch table, the loss / metric / lr / momentum plots, optionally the lr
// finder, the confusion matrix, the most confused pairs and the top losses (each image a figure with its
// caption as HTML text; a table where the images were not kept). The plots sit in a CSS grid that gives
// one column in a narrow window and two or three at 1280 / 1920 px. Must hold: the file needs nothing
// beside itself (SVGs are inline, PNGs are base64 data URIs, no scripts or external styles); it parses as
// XML (tests read it so); every caller-given string is
// HTML-escaped; numbers use the invariant culture; the file is written to a temporary file and moved
// into place, so a reader never sees half a report.
using System.Globalization;
using System.Net;
using System.Text;

namespace NativeCnn.Reports;

/// <summary>What an lr finder run produced, as plain arrays (the lr finder's result maps onto it).</summary>
public sealed record LrFinderPlotData(IReadOnlyList<double> Lrs, IReadOnlyList<double> Losses, double? SteepestLr = null, double? MinLossLr = null);

/// <summary>What a fit recorded, as plain lists: the loss of every batch, per epoch the train and valid losses,
/// the metrics (names, and one value per metric per epoch) and the seconds, and the lr and momentum of every batch.</summary>
public sealed record TrainingSeries(
    IReadOnlyList<double> Losses, IReadOnlyList<double> TrainLosses, IReadOnlyList<double> ValidLosses,
    IReadOnlyList<string> MetricNames, IReadOnlyList<double[]> MetricValues, IReadOnlyList<double> EpochSeconds,
    IReadOnlyList<double> Lrs, IReadOnlyList<double> Moms)
{
    /// <summary>Nothing recorded.</summary>
    public static TrainingSeries Empty { get; } = new(Array.Empty<double>(), Array.Empty<double>(), Array.Empty<double>(),
        Array.Empty<string>(), Array.Empty<double[]>(), Array.Empty<double>(), Array.Empty<double>(), Array.Empty<double>());
}

/// <summary>One row of the top-losses table: the item, its actual and predicted class, its loss and the
/// probability given to its actual class.</summary>
public readonly record struct TopLossRow(int Index, string Actual, string Predicted, double Loss, double ProbabilityOfActual);

/// <summary>The interpretation part of a report, as plain data: the number of items and classes, the confusion
/// matrix (SVG), the most confused pairs (actual, predicted, count), the top losses and, where the images were
/// kept, one PNG per top-loss row (same order), shown with its caption as HTML text.</summary>
public sealed record InterpretationSection(
    int Count, int ClassCount, string ConfusionMatrixSvg, IReadOnlyList<(string Actual, string Predicted, int Count)> MostConfused,
    IReadOnlyList<TopLossRow> TopLosses, IReadOnlyList<byte[]>? TopLossImages);

/// <summary>Writes one self-contained HTML report of a run (summary, epoch table, loss/metric/schedule plots, lr finder, confusion matrix, top losses), atomically.</summary>
public static class HtmlReport
{
    /// <summary>Writes the report (see <see cref="Build"/>) to <paramref name="path"/>, all at once.</summary>
    public static void Write(string path, TrainingSeries series, InterpretationSection? interp = null,
                             IReadOnlyDictionary<string, string>? summary = null, LrFinderPlotData? lrFind = null) =>
        ReportFiles.WriteText(path, Build(series, interp, summary, lrFind));

    /// <summary>The report as HTML text, from a fit's series and the optional parts.</summary>
    public static string Build(TrainingSeries recorder, InterpretationSection? interp = null,
                               IReadOnlyDictionary<string, string>? summary = null, LrFinderPlotData? lrFind = null)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>NativeCnn report</title>\n<style>\n")
          .Append(Style).Append("</style>\n</head>\n<body>\n<h1>NativeCnn report</h1>\n");

        if (summary is { Count: > 0 })
        {
            sb.Append("<h2>Run</h2>\n<table class=\"summary\">\n");
            foreach (var (k, v) in summary) sb.Append($"<tr><th>{H(k)}</th><td>{H(v)}</td></tr>\n");
            sb.Append("</table>\n");
        }

        sb.Append("<h2>Epochs</h2>\n");
        if (recorder.EpochSeconds.Count == 0) sb.Append("<p>No epoch was recorded.</p>\n");
        else AppendEpochTable(sb, recorder);

        var curves = new List<SvgPlot>();
        if (recorder.Losses.Count > 0 || recorder.ValidLosses.Count > 0) curves.Add(Plots.Losses(recorder));
        if (recorder.MetricNames.Count > 0 && recorder.MetricValues.Count > 0) curves.Add(Plots.Metrics(recorder));
        if (recorder.Lrs.Count > 0) curves.Add(Plots.LrSchedule(recorder.Lrs));
        if (recorder.Moms.Count > 0) curves.Add(Plots.MomentumSchedule(recorder.Moms));
        if (curves.Count > 0)   // a run that trained nothing (interpret --model) shows no empty section
        {
            sb.Append("<h2>Training curves</h2>\n<div class=\"plots\">\n");
            foreach (var plot in curves) sb.Append(plot.ToSvg());
            sb.Append("</div>\n");
        }

        if (lrFind is not null)
        {
            sb.Append("<h2>Learning rate finder</h2>\n<div class=\"plots\">\n")
              .Append(Plots.LrFinder(lrFind.Lrs, lrFind.Losses, lrFind.SteepestLr, lrFind.MinLossLr).ToSvg()).Append("</div>\n");
            var s = new List<string>();
            if (lrFind.SteepestLr is double st) s.Add($"steepest descent at lr {G(st)}");
            if (lrFind.MinLossLr is double ml) s.Add($"minimum loss / 10: lr {G(ml)}");
            if (s.Count > 0) sb.Append($"<p class=\"lr-suggestions\">Suggestions: {H(string.Join("; ", s))}.</p>\n");
        }

        if (interp is not null) AppendInterpretation(sb, interp);
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    // The plots share a grid of columns at least 480 px wide: one column in a narrow window (800 px), two at
    // 1280 px, three at 1920 px; each SVG scales to its cell (its viewBox keeps the proportions). The
    // top losses are figures (image, caption under it) in a grid of their own.
    private const string Style =
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}\n" +
        "td,th{border:1px solid #ccc;padding:3px 10px;text-align:left}td{overflow-wrap:anywhere}th{background:#f3f3f3;white-space:nowrap}\n" +
        "td.num{text-align:right;font-family:monospace;overflow-wrap:normal}\n" +
        ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,480px),1fr));gap:1em;margin-bottom:1.5em}\n" +
        ".plots svg{display:block;width:100%;height:auto;border:1px solid #eee}\n" +
        ".matrix svg{display:block;max-width:100%;height:auto;border:1px solid #eee}\n" +
        ".top-losses-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:1em;margin-bottom:1.5em}\n" +
        "figure.top-loss{margin:0;padding:6px;border:1px solid #eee;min-width:0}\n" +
        "figure.top-loss img{display:block;width:100%;max-width:200px;height:auto;margin:0 auto;image-rendering:pixelated}\n" +
        "figure.top-loss figcaption{margin-top:4px;text-align:center;font-size:0.9em;line-height:1.35;overflow-wrap:anywhere}\n" +
        "figcaption .predicted{font-weight:bold}figcaption .numbers{font-family:monospace;color:#555}\n";

    private static void AppendEpochTable(StringBuilder sb, TrainingSeries r)
    {
        sb.Append("<table class=\"epochs\">\n<tr><th>epoch</th><th>train_loss</th><th>valid_loss</th>");
        foreach (var m in r.MetricNames) sb.Append($"<th>{H(m)}</th>");
        sb.Append("<th>time</th></tr>\n");
        for (int e = 0; e < r.EpochSeconds.Count; e++)
        {
            sb.Append($"<tr><td class=\"num\">{e}</td><td class=\"num\">{F(r.TrainLosses[e])}</td><td class=\"num\">{F(r.ValidLosses[e])}</td>");
            for (int m = 0; m < r.MetricNames.Count; m++) sb.Append($"<td class=\"num\">{F(r.MetricValues[e][m])}</td>");
            sb.Append($"<td class=\"num\">{FormatTime(r.EpochSeconds[e])}</td></tr>\n");
        }
        sb.Append("</table>\n");
    }

    private static void AppendInterpretation(StringBuilder sb, InterpretationSection interp)
    {
        sb.Append("<h2>Interpretation</h2>\n");
        sb.Append($"<p>{interp.Count} validation items, {interp.ClassCount} classes.</p>\n<div class=\"matrix\">\n")
          .Append(interp.ConfusionMatrixSvg).Append("</div>\n");
        var confused = interp.MostConfused;
        sb.Append("<h3>Most confused</h3>\n");
        if (confused.Count == 0) sb.Append("<p>No item was misclassified.</p>\n");
        else
        {
            sb.Append("<table class=\"most-confused\">\n<tr><th>actual</th><th>predicted</th><th>count</th></tr>\n");
            foreach (var (a, p, c) in confused.Take(20)) sb.Append($"<tr><td>{H(a)}</td><td>{H(p)}</td><td class=\"num\">{c}</td></tr>\n");
            sb.Append("</table>\n");
        }
        var top = interp.TopLosses;
        sb.Append("<h3>Top losses</h3>\n");
        if (top.Count == 0) { sb.Append("<p>No validation item.</p>\n"); return; }
        if (interp.TopLossImages is { } images)
        {
            if (images.Count != top.Count)
                throw new NativeCnnException($"HtmlReport: {top.Count} top losses but {images.Count} images; expected one image per row");
            // fastai's plot_top_losses: each image titled prediction/actual/loss/probability of the actual class.
            sb.Append("<p class=\"top-losses-legend\">Under each image: <b>prediction</b>/actual, then loss / probability of the actual class.</p>\n")
              .Append("<div class=\"top-losses-grid\">\n");
            for (int i = 0; i < top.Count; i++)
            {
                var t = top[i];
                sb.Append($"<figure class=\"top-loss\" data-index=\"{t.Index}\" title=\"item {t.Index}: loss {G(t.Loss)}, p(actual) {G(t.ProbabilityOfActual)}\">")
                  .Append($"<img alt=\"item {t.Index}\" src=\"data:image/png;base64,{Convert.ToBase64String(images[i])}\"/>")
                  .Append($"<figcaption><span class=\"predicted\">{H(t.Predicted)}</span>/<span class=\"actual\">{H(t.Actual)}</span><br/>")
                  .Append($"<span class=\"numbers\"><span class=\"loss\">{F2(t.Loss)}</span> / <span class=\"probability\">{F2(t.ProbabilityOfActual)}</span></span></figcaption></figure>\n");
            }
            sb.Append("</div>\n");
            return;
        }
        sb.Append("<table class=\"top-losses\">\n<tr><th>item</th><th>actual</th><th>predicted</th><th>loss</th><th>p(actual)</th></tr>\n");
        foreach (var t in top)
            sb.Append($"<tr><td class=\"num\">{t.Index}</td><td>{H(t.Actual)}</td><td>{H(t.Predicted)}</td>" +
                      $"<td class=\"num\">{F(t.Loss)}</td><td class=\"num\">{F(t.ProbabilityOfActual)}</td></tr>\n");
        sb.Append("</table>\n<p class=\"no-images\">The input images of these items were not kept, so they are not shown.</p>\n");
    }

    /// <summary>A duration as the epoch table writes it: mm:ss, or h:mm:ss from an hour on.</summary>
    public static string FormatTime(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);

    private static string F(double v) => double.IsNaN(v) ? "#na#" : v.ToString("F6", CultureInfo.InvariantCulture);

    private static string F2(double v) => double.IsNaN(v) ? "#na#" : v.ToString("F2", CultureInfo.InvariantCulture);

    private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
