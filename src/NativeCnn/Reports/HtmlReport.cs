// One self-contained HTML report of a run: a summary table given by the caller, the epoch table, the
// loss / metric / lr / momentum plots, optionally the lr finder, the confusion matrix, the most
// confused pairs and the top-losses grid. Must hold: the file needs nothing beside itself (SVGs are
// inline, PNGs are base64 data URIs, no scripts or external styles); every caller-given string is
// HTML-escaped; numbers use the invariant culture; the file is written to a temporary file and moved
// into place, so a reader never sees half a report.
using System.Globalization;
using System.Net;
using System.Text;
using NativeCnn.Training;
using SixLabors.ImageSharp;

namespace NativeCnn.Reports;

/// <summary>What an lr finder run produced, as plain arrays (the lr finder's result maps onto it).</summary>
public sealed record LrFinderPlotData(IReadOnlyList<double> Lrs, IReadOnlyList<double> Losses, double? SteepestLr = null, double? MinLossLr = null);

/// <summary>Writes one self-contained HTML report of a run (summary, epoch table, loss/metric/schedule plots, lr finder, confusion matrix, top losses), atomically.</summary>
public static class HtmlReport
{
    /// <summary>Writes the report of <paramref name="learn"/>'s last fit to <paramref name="path"/>.</summary>
    public static void Write(string path, Learner learn, ClassificationInterpretation? interp = null,
                             IReadOnlyDictionary<string, string>? summary = null, LrFinderPlotData? lrFind = null, int topLosses = 9)
    {
        ArgumentNullException.ThrowIfNull(learn);
        ReportFiles.WriteText(path, Build(learn.Recorder, interp, summary, lrFind, topLosses));
    }

    /// <summary>The report as HTML text, from a Recorder (of a finished fit) and the optional parts.</summary>
    public static string Build(Recorder recorder, ClassificationInterpretation? interp = null,
                               IReadOnlyDictionary<string, string>? summary = null, LrFinderPlotData? lrFind = null, int topLosses = 9)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>NativeCnn report</title>\n<style>\n")
          .Append("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}")
          .Append("td,th{border:1px solid #ccc;padding:3px 10px;text-align:left}th{background:#f3f3f3}")
          .Append("td.num{text-align:right;font-family:monospace}.plots svg{margin:0 1em 1em 0;border:1px solid #eee}\n")
          .Append("</style>\n</head>\n<body>\n<h1>NativeCnn report</h1>\n");

        if (summary is { Count: > 0 })
        {
            sb.Append("<h2>Run</h2>\n<table class=\"summary\">\n");
            foreach (var (k, v) in summary) sb.Append($"<tr><th>{H(k)}</th><td>{H(v)}</td></tr>\n");
            sb.Append("</table>\n");
        }

        sb.Append("<h2>Epochs</h2>\n");
        if (recorder.EpochSeconds.Count == 0) sb.Append("<p>No epoch was recorded.</p>\n");
        else AppendEpochTable(sb, recorder);

        sb.Append("<h2>Training curves</h2>\n<div class=\"plots\">\n");
        if (recorder.Losses.Count > 0 || recorder.ValidLosses.Count > 0) sb.Append(Plots.Losses(recorder).ToSvg());
        if (recorder.MetricNames.Count > 0 && recorder.MetricValues.Count > 0) sb.Append(Plots.Metrics(recorder).ToSvg());
        if (recorder.Lrs.Count > 0) sb.Append(Plots.LrSchedule(recorder.Lrs).ToSvg());
        if (recorder.Moms.Count > 0) sb.Append(Plots.MomentumSchedule(recorder.Moms).ToSvg());
        sb.Append("</div>\n");

        if (lrFind is not null)
        {
            sb.Append("<h2>Learning rate finder</h2>\n<div class=\"plots\">\n")
              .Append(Plots.LrFinder(lrFind.Lrs, lrFind.Losses, lrFind.SteepestLr, lrFind.MinLossLr).ToSvg()).Append("</div>\n");
            var s = new List<string>();
            if (lrFind.SteepestLr is double st) s.Add($"steepest descent at lr {G(st)}");
            if (lrFind.MinLossLr is double ml) s.Add($"minimum loss / 10: lr {G(ml)}");
            if (s.Count > 0) sb.Append($"<p class=\"lr-suggestions\">Suggestions: {H(string.Join("; ", s))}.</p>\n");
        }

        if (interp is not null) AppendInterpretation(sb, interp, topLosses);
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static void AppendEpochTable(StringBuilder sb, Recorder r)
    {
        sb.Append("<table class=\"epochs\">\n<tr><th>epoch</th><th>train_loss</th><th>valid_loss</th>");
        foreach (var m in r.MetricNames) sb.Append($"<th>{H(m)}</th>");
        sb.Append("<th>time</th></tr>\n");
        for (int e = 0; e < r.EpochSeconds.Count; e++)
        {
            sb.Append($"<tr><td class=\"num\">{e}</td><td class=\"num\">{F(r.TrainLosses[e])}</td><td class=\"num\">{F(r.ValidLosses[e])}</td>");
            for (int m = 0; m < r.MetricNames.Count; m++) sb.Append($"<td class=\"num\">{F(r.MetricValues[e][m])}</td>");
            sb.Append($"<td class=\"num\">{EpochTablePrinter.FormatTime(r.EpochSeconds[e])}</td></tr>\n");
        }
        sb.Append("</table>\n");
    }

    private static void AppendInterpretation(StringBuilder sb, ClassificationInterpretation interp, int topLosses)
    {
        sb.Append("<h2>Interpretation</h2>\n");
        sb.Append($"<p>{interp.Count} validation items, {interp.ClassCount} classes.</p>\n<div class=\"plots\">\n")
          .Append(interp.PlotConfusionMatrix()).Append("</div>\n");
        var confused = interp.MostConfused();
        sb.Append("<h3>Most confused</h3>\n");
        if (confused.Count == 0) sb.Append("<p>No item was misclassified.</p>\n");
        else
        {
            sb.Append("<table class=\"most-confused\">\n<tr><th>actual</th><th>predicted</th><th>count</th></tr>\n");
            foreach (var (a, p, c) in confused.Take(20)) sb.Append($"<tr><td>{H(a)}</td><td>{H(p)}</td><td class=\"num\">{c}</td></tr>\n");
            sb.Append("</table>\n");
        }
        var top = interp.TopLosses(Math.Min(topLosses, interp.Count));
        sb.Append("<h3>Top losses</h3>\n<table class=\"top-losses\">\n<tr><th>item</th><th>actual</th><th>predicted</th><th>loss</th><th>p(actual)</th></tr>\n");
        foreach (var (loss, i) in top)
            sb.Append($"<tr><td class=\"num\">{i}</td><td>{H(interp.Classes[interp.Actual[i]])}</td><td>{H(interp.Classes[interp.Predicted[i]])}</td>" +
                      $"<td class=\"num\">{F(loss)}</td><td class=\"num\">{F(interp.Prob(i, interp.Actual[i]))}</td></tr>\n");
        sb.Append("</table>\n");
        if (top.Count > 0 && top.All(t => interp.ImageOf(t.Index) is not null))
        {
            using var img = interp.PlotTopLosses(top.Count);
            using var ms = new MemoryStream();
            img.SaveAsPng(ms);
            sb.Append($"<p>Each image: prediction/actual, loss/probability of the actual class.</p>\n<img class=\"top-losses\" alt=\"top losses\" src=\"data:image/png;base64,{Convert.ToBase64String(ms.ToArray())}\"/>\n");
        }
        else if (top.Count > 0) sb.Append("<p class=\"no-images\">The input images of these items were not kept, so no image grid is shown.</p>\n");
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);

    private static string F(double v) => double.IsNaN(v) ? "#na#" : v.ToString("F6", CultureInfo.InvariantCulture);

    private static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
