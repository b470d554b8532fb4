// Training's side of the reports: the Recorder and ClassificationInterpretation mapped onto the plain data
// Reports/ draws from (TrainingSeries, InterpretationSection), and a learner's HTML report written in one
// call. Reports/ knows nothing of Training; this adapter is the only bridge.
// What must hold: the mapping copies the recorded lists (a report never changes with a later fit).
using NativeCnn.Reports;
using SixLabors.ImageSharp;

namespace NativeCnn.Training;

/// <summary>Maps Training's records onto Reports' plain data and writes a learner's HTML report.</summary>
public static class LearnerReports
{
    /// <summary>The recorder's lists as a TrainingSeries (copies).</summary>
    public static TrainingSeries ToSeries(this Recorder r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new TrainingSeries(r.Losses.ToArray(), r.TrainLosses.ToArray(), r.ValidLosses.ToArray(), r.MetricNames.ToArray(),
                                  r.MetricValues.Select(v => (double[])v.Clone()).ToArray(), r.EpochSeconds.ToArray(), r.Lrs.ToArray(), r.Moms.ToArray());
    }

    /// <summary>The interpretation as a report section: the confusion matrix, the most confused pairs, the
    /// <paramref name="topLosses"/> largest losses and, where their images were kept, each image as a PNG.</summary>
    public static InterpretationSection ToSection(this ClassificationInterpretation interp, int topLosses = 9)
    {
        ArgumentNullException.ThrowIfNull(interp);
        var top = interp.TopLosses(Math.Min(topLosses, interp.Count));
        var rows = top.Select(t => new TopLossRow(t.Index, interp.Classes[interp.Actual[t.Index]], interp.Classes[interp.Predicted[t.Index]],
                                                  t.Loss, interp.Prob(t.Index, interp.Actual[t.Index]))).ToArray();
        List<byte[]>? images = null;
        if (top.Count > 0 && top.All(t => interp.ImageOf(t.Index) is not null))
        {
            images = new List<byte[]>(top.Count);
            foreach (var t in top)
            {
                using var img = interp.ImageView(t.Index);
                using var ms = new MemoryStream();
                img.SaveAsPng(ms);
                images.Add(ms.ToArray());
            }
        }
        return new InterpretationSection(interp.Count, interp.ClassCount, interp.PlotConfusionMatrix(), interp.MostConfused(), rows, images);
    }

    /// <summary>Writes the HTML report of <paramref name="learn"/>'s last fit (HtmlReport) to <paramref name="path"/>.</summary>
    public static void WriteHtmlReport(this Learner learn, string path, ClassificationInterpretation? interp = null,
                                       IReadOnlyDictionary<string, string>? summary = null, LrFinderPlotData? lrFind = null, int topLosses = 9)
    {
        ArgumentNullException.ThrowIfNull(learn);
        HtmlReport.Write(path, learn.Recorder.ToSeries(), interp?.ToSection(topLosses), summary, lrFind);
    }
}
