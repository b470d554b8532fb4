// The training plots as SVG, fastai v1's set: losses (train per batch, its smoothed curve, valid per
// epoch), metrics per epoch, the lr and momentum schedules, the lr finder (log x, with its suggested
// learning rates marked) and the confusion matrix as a heat map with counts. Each takes plain arrays
// (or a TrainingSeries, which Training's Recorder maps onto), so callers outside a fit can plot too. Must hold: the
// x of a valid loss is the number of training batches run when it was measured (the end of its
// epoch), the smoothed loss is fastai's debiased exponential average (beta 0.98), and a heat-map
// cell (row = actual, column = predicted) shows the exact count it was given.
using System.Globalization;
using System.Text;

namespace NativeCnn.Reports;

/// <summary>The report's plots (as <see cref="SvgPlot"/>s) from plain series or a <see cref="Training.Recorder"/>: losses, metrics, learning rate and momentum, the lr finder, the confusion matrix.</summary>
public static class Plots
{
    /// <summary>fastai's debiased exponential moving average of the loss.</summary>
    public static double[] Smooth(IReadOnlyList<double> values, double beta = 0.98)
    {
        var r = new double[values.Count];
        double avg = 0;
        for (int i = 0; i < r.Length; i++)
        {
            avg = beta * avg + (1 - beta) * values[i];
            r[i] = avg / (1 - Math.Pow(beta, i + 1));
        }
        return r;
    }

    /// <summary>Batches run by the end of each epoch: the recorded batch losses split evenly over the epochs
    /// that trained (a cancelled training phase, whose train loss is NaN, ran none).</summary>
    public static int[] EpochEnds(TrainingSeries r)
    {
        ArgumentNullException.ThrowIfNull(r);
        int trained = r.TrainLosses.Count(v => !double.IsNaN(v));
        var ends = new int[r.TrainLosses.Count];
        int done = 0, k = 0;
        for (int e = 0; e < ends.Length; e++)
        {
            if (!double.IsNaN(r.TrainLosses[e])) { k++; done = (int)((long)r.Losses.Count * k / Math.Max(1, trained)); }
            ends[e] = done;
        }
        return ends;
    }

    /// <summary>Train loss per batch (raw, faint, and smoothed) against the batch number, and the valid loss at each epoch's end.</summary>
    public static SvgPlot Losses(IReadOnlyList<double> batchLosses, IReadOnlyList<double> validLosses, IReadOnlyList<int> epochEnds)
    {
        ArgumentNullException.ThrowIfNull(batchLosses);
        ArgumentNullException.ThrowIfNull(validLosses);
        ArgumentNullException.ThrowIfNull(epochEnds);
        if (epochEnds.Count != validLosses.Count)
            throw new NativeCnnException($"Plots.Losses: {validLosses.Count} valid losses but {epochEnds.Count} epoch ends");
        var plot = new SvgPlot("Losses", "batches processed", "loss") { IntegerX = true };
        var x = Enumerable.Range(1, batchLosses.Count).Select(i => (double)i).ToArray();
        plot.Add("train", x, batchLosses, SvgPlot.Palette[0], opacity: 0.35);
        plot.Add("train (smoothed)", x, Smooth(batchLosses), SvgPlot.Palette[0]);
        plot.Add("valid", epochEnds.Select(e => (double)e).ToArray(), validLosses, SvgPlot.Palette[1], points: true);
        return plot;
    }

    /// <summary>The losses plot of a fit's series.</summary>
    public static SvgPlot Losses(TrainingSeries r) => Losses(r.Losses, r.ValidLosses, EpochEnds(r));

    /// <summary>Each metric against the epoch (0-based, as the epoch table numbers them).</summary>
    public static SvgPlot Metrics(IReadOnlyList<string> names, IReadOnlyList<double[]> valuesPerEpoch)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(valuesPerEpoch);
        var plot = new SvgPlot("Metrics", "epoch", "value") { IntegerX = true };
        var epochs = Enumerable.Range(0, valuesPerEpoch.Count).Select(e => (double)e).ToArray();
        for (int m = 0; m < names.Count; m++)
        {
            var y = valuesPerEpoch.Select((v, e) => v.Length == names.Count ? v[m]
                : throw new NativeCnnException($"Plots.Metrics: epoch {e} has {v.Length} values for {names.Count} metrics")).ToArray();
            plot.Add(names[m], epochs, y, points: true);
        }
        return plot;
    }

    /// <summary>The metrics plot of a fit's series.</summary>
    public static SvgPlot Metrics(TrainingSeries r) => Metrics(r.MetricNames, r.MetricValues);

    /// <summary>The learning rate (of parameter group 0) at each training batch.</summary>
    public static SvgPlot LrSchedule(IReadOnlyList<double> lrs) =>
        new SvgPlot("Learning rate", "batches processed", "lr") { IntegerX = true }.Add("lr", Steps(lrs.Count), lrs);

    /// <summary>The momentum (beta1 for Adam) at each training batch.</summary>
    public static SvgPlot MomentumSchedule(IReadOnlyList<double> moms) =>
        new SvgPlot("Momentum", "batches processed", "momentum") { IntegerX = true }.Add("momentum", Steps(moms.Count), moms, SvgPlot.Palette[1]);

    private static double[] Steps(int n) => Enumerable.Range(1, n).Select(i => (double)i).ToArray();

    /// <summary>The lr finder's loss against the learning rate on a log axis, with the suggested learning
    /// rates (steepest descent; minimum loss / 10) marked on the curve where it passes them.</summary>
    public static SvgPlot LrFinder(IReadOnlyList<double> lrs, IReadOnlyList<double> losses, double? steepestLr, double? minLossLr)
    {
        ArgumentNullException.ThrowIfNull(lrs);
        ArgumentNullException.ThrowIfNull(losses);
        if (lrs.Count != losses.Count) throw new NativeCnnException($"Plots.LrFinder: {lrs.Count} learning rates but {losses.Count} losses");
        var plot = new SvgPlot("Learning rate finder", "learning rate (log scale)", "loss") { LogX = true };
        plot.Add("loss", lrs, losses);
        if (steepestLr is double s) Suggest(plot, "steepest: ", s, lrs, losses, SvgPlot.Palette[3]);
        if (minLossLr is double m) Suggest(plot, "min loss / 10: ", m, lrs, losses, SvgPlot.Palette[2]);
        return plot;
    }

    // The marker sits on the curve at the recorded lr nearest (in log space) to the suggestion.
    private static void Suggest(SvgPlot plot, string label, double lr, IReadOnlyList<double> lrs, IReadOnlyList<double> losses, string color)
    {
        if (!(lr > 0) || !double.IsFinite(lr)) throw new NativeCnnException($"Plots.LrFinder: a suggested lr must be finite and > 0, got {lr}");
        int best = -1;
        for (int i = 0; i < lrs.Count; i++)
            if (lrs[i] > 0 && double.IsFinite(losses[i]) && (best < 0 || Math.Abs(Math.Log(lrs[i] / lr)) < Math.Abs(Math.Log(lrs[best] / lr)))) best = i;
        if (best >= 0) plot.Mark(label + lr.ToString("0.##e+0", CultureInfo.InvariantCulture), lr, losses[best], color);
    }

    /// <summary>The confusion matrix as a heat map, rows = actual, columns = predicted, each cell with its count
    /// (or, with <paramref name="normalized"/>, the row fraction, the colour following what is written).</summary>
    public static string ConfusionMatrix(int[,] counts, IReadOnlyList<string> classes, bool normalized = false, string title = "Confusion matrix")
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(classes);
        int n = counts.GetLength(0);
        if (n == 0 || counts.GetLength(1) != n || classes.Count != n)
            throw new NativeCnnException($"Plots.ConfusionMatrix: counts must be square ({classes.Count} x {classes.Count} for the classes), got {n} x {counts.GetLength(1)}");
        var values = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            long sum = 0;
            for (int j = 0; j < n; j++) sum += counts[i, j];
            for (int j = 0; j < n; j++) values[i, j] = !normalized ? counts[i, j] : sum == 0 ? double.NaN : (double)counts[i, j] / sum;
        }
        double max = 0;
        foreach (var v in values) if (double.IsFinite(v)) max = Math.Max(max, v);

        int cell = Math.Clamp(480 / n, 14, 48), names = classes.Max(c => Math.Min(c.Length, 16));
        int left = 40 + 7 * names, top = 40, size = n * cell;
        int width = left + size + 20, height = top + size + 40 + 7 * names;
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"confusion-matrix\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.Append($"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append($"<text class=\"title\" x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{SvgPlot.Esc(title)}</text>\n");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double v = values[i, j], t = max > 0 && double.IsFinite(v) ? v / max : 0;
                int x = left + j * cell, y = top + i * cell;
                string text = double.IsNaN(v) ? "-" : normalized ? v.ToString("0.00", CultureInfo.InvariantCulture) : counts[i, j].ToString(CultureInfo.InvariantCulture);
                sb.Append($"<rect class=\"cell\" data-row=\"{i}\" data-col=\"{j}\" data-value=\"{text}\" x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{Blue(t)}\" stroke=\"white\"/>");
                if (cell >= 18 && (!normalized || cell >= 30))
                    sb.Append($"<text x=\"{x + cell / 2}\" y=\"{y + cell / 2 + 4}\" text-anchor=\"middle\" fill=\"{(t > 0.5 ? "white" : "black")}\">{text}</text>");
                sb.Append('\n');
            }
        for (int k = 0; k < n; k++)
        {
            string name = SvgPlot.Esc(Cut(classes[k]));
            int c = top + k * cell + cell / 2;
            sb.Append($"<text class=\"row-label\" x=\"{left - 6}\" y=\"{c + 4}\" text-anchor=\"end\">{name}</text>\n");
            int cx = left + k * cell + cell / 2, ly = top + size + 8;
            sb.Append($"<text class=\"col-label\" x=\"{cx}\" y=\"{ly}\" text-anchor=\"end\" transform=\"rotate(-90 {cx} {ly})\" dy=\"4\">{name}</text>\n");
        }
        sb.Append($"<text class=\"x-label\" x=\"{left + size / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">Predicted</text>\n");
        sb.Append($"<text class=\"y-label\" x=\"14\" y=\"{top + size / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {top + size / 2})\">Actual</text>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Cut(string s) => s.Length <= 16 ? s : s[..15] + ".";

    // matplotlib's "Blues" end points, linearly interpolated: #f7fbff at 0 to #08306b at 1.
    internal static string Blue(double t)
    {
        t = Math.Clamp(t, 0, 1);
        int r = (int)Math.Round(0xf7 + (0x08 - 0xf7) * t), g = (int)Math.Round(0xfb + (0x30 - 0xfb) * t), b = (int)Math.Round(0xff + (0x6b - 0xff) * t);
        return $"#{r:x2}{g:x2}{b:x2}";
    }
}
