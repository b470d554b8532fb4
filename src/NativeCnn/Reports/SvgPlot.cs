// A small hand-written SVG line plot: a title, axes with "nice" ticks (1-2-5 steps, or decades on a
// log axis), several named series (lines and/or point markers), labelled marker points, and a legend.
// No packages: the output is plain SVG 1.1 text. Must hold: Map(x, y) is the one data-to-pixel mapping
// used for every element (so a point at a tick's value lands on that tick); non-finite values (and
// values <= 0 on a log axis) are skipped and split a line, and a NaN/infinite y is marked by a cross
// on the frame at its x and counted in a note; ranges come from AxisRange (one point or a flat series
// gets a range around it); numbers are written in the invariant culture; text is XML-escaped; an
// empty plot still renders its frame.
using System.Globalization;
using System.Security;
using System.Text;

namespace NativeCnn.Reports;

/// <summary>A small hand-written SVG line plot: title, axes with round ticks (linear or log), named series of lines or points, labelled markers and a legend; plain SVG 1.1 text.</summary>
public sealed class SvgPlot
{
    /// <summary>Default colours of series in the order they are added (matplotlib's tab10).</summary>
    public static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

    private readonly List<Series> _series = new();
    private readonly List<Marker> _markers = new();

    private sealed record Series(string Name, double[] X, double[] Y, string Color, bool Line, bool Points, double Opacity);
    private sealed record Marker(string Label, double X, double Y, string Color);

    /// <summary>An empty plot titled <paramref name="title"/> with axis labels, <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    /// <exception cref="ArgumentException">The size is under 200 x 150.</exception>
    public SvgPlot(string title, string xLabel = "", string yLabel = "", int width = 640, int height = 400)
    {
        Title = title ?? "";
        XLabel = xLabel ?? "";
        YLabel = yLabel ?? "";
        if (width < 200 || height < 150) throw new NativeCnnException($"SvgPlot: size must be at least 200x150, got {width}x{height}");
        Width = width;
        Height = height;
    }

    /// <summary>The title above the plot.</summary>
    public string Title { get; }
    /// <summary>The x axis label.</summary>
    public string XLabel { get; }
    /// <summary>The y axis label.</summary>
    public string YLabel { get; }
    /// <summary>Width of the SVG in pixels.</summary>
    public int Width { get; }
    /// <summary>Height of the SVG in pixels.</summary>
    public int Height { get; }
    /// <summary>A logarithmic x axis (values &lt;= 0 are skipped).</summary>
    public bool LogX { get; set; }
    /// <summary>A logarithmic y axis (values &lt;= 0 are skipped).</summary>
    public bool LogY { get; set; }
    /// <summary>Fixed axis ranges; null: from the data (widened to whole ticks on a linear axis).</summary>
    public (double Min, double Max)? XRange { get; set; }
    /// <summary>A fixed y range; null: from the data.</summary>
    public (double Min, double Max)? YRange { get; set; }

    // The plot area in pixels.
    /// <summary>Margins of the plot area inside the SVG, in pixels.</summary>
    public const int Left = 70, Right = 20, Top = 36, Bottom = 48;
    /// <summary>Width of the plot area in pixels.</summary>
    public double AreaWidth => Width - Left - Right;
    /// <summary>Height of the plot area in pixels.</summary>
    public double AreaHeight => Height - Top - Bottom;

    /// <summary>Adds a series drawn as a line (and/or points); returns this plot.</summary>
    public SvgPlot Add(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, string? color = null, bool line = true, bool points = false, double opacity = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count) throw new NativeCnnException($"SvgPlot: series '{name}' has {x.Count} x values but {y.Count} y values");
        _series.Add(new Series(name ?? "", x.ToArray(), y.ToArray(), color ?? Palette[_series.Count % Palette.Length], line, points, opacity));
        return this;
    }

    /// <summary>Adds a labelled point (e.g. a suggested learning rate) drawn as a ring with its label in the legend.</summary>
    public SvgPlot Mark(string label, double x, double y, string color = "#d62728")
    {
        _markers.Add(new Marker(label ?? "", x, y, color));
        return this;
    }

    private bool Usable(double v, bool log) => double.IsFinite(v) && (!log || v > 0);

    private (double Min, double Max) _xAxis, _yAxis;
    private double _xStep, _yStep;

    /// <summary>A whole-number x axis (epochs, batches): integer ticks, and one value centred half a unit from each edge.</summary>
    public bool IntegerX { get; set; }

    private (double Min, double Max, double Step) Range(bool x)
    {
        bool log = x ? LogX : LogY;
        var fixedRange = x ? XRange : YRange;
        if (fixedRange is (double a, double b))
        {
            if (!(b > a) || !Usable(a, log) || !Usable(b, log))
                throw new NativeCnnException($"SvgPlot: the {(x ? "x" : "y")} range ({a}, {b}) must be finite with max > min{(log ? " and min > 0 on a log axis" : "")}");
            return (a, b, log ? 0 : AxisRange.NiceStep(b - a));
        }
        var values = _series.SelectMany(s => x ? s.X : s.Y).Concat(_markers.Select(m => x ? m.X : m.Y)).Where(v => Usable(v, log));
        if (log)
        {
            var list = values.ToList();
            if (list.Count == 0) return (1, 10, 0);
            double l = Math.Floor(Math.Log10(list.Min()) + 1e-9), h = Math.Ceiling(Math.Log10(list.Max()) - 1e-9);
            if (h <= l) h = l + 1;
            return (Math.Pow(10, l), Math.Pow(10, h), 0);
        }
        var r = AxisRange.For(values, integer: x && IntegerX);
        return (r.Min, r.Max, r.Step);
    }

    private void ComputeAxes()
    {
        var (x0, x1, xs) = Range(true);
        var (y0, y1, ys) = Range(false);
        (_xAxis, _xStep, _yAxis, _yStep) = ((x0, x1), xs, (y0, y1), ys);
    }

    /// <summary>A step of 1, 2 or 5 times a power of ten giving about 5 intervals over <paramref name="span"/> (<see cref="AxisRange.NiceStep"/>).</summary>
    public static double NiceStep(double span) => AxisRange.NiceStep(span);

    private static double Frac(double v, (double Min, double Max) r, bool log) =>
        log ? (Math.Log10(v) - Math.Log10(r.Min)) / (Math.Log10(r.Max) - Math.Log10(r.Min)) : (v - r.Min) / (r.Max - r.Min);

    /// <summary>Pixel coordinates of the data point (x, y) in the rendered SVG.</summary>
    public (double X, double Y) Map(double x, double y)
    {
        ComputeAxes();
        return MapIn(x, y);
    }

    private (double X, double Y) MapIn(double x, double y) =>
        (Left + Frac(x, _xAxis, LogX) * AreaWidth, Top + (1 - Frac(y, _yAxis, LogY)) * AreaHeight);

    private static IEnumerable<double> Ticks((double Min, double Max) r, double step, bool log)
    {
        if (log)
        {
            int lo = (int)Math.Ceiling(Math.Log10(r.Min) - 1e-9), hi = (int)Math.Floor(Math.Log10(r.Max) + 1e-9);
            int every = Math.Max(1, (hi - lo + 7) / 8);
            for (int e = lo; e <= hi; e += every) yield return Math.Pow(10, e);
            yield break;
        }
        foreach (var v in new AxisRange(r.Min, r.Max, step).Ticks()) yield return v;
    }

    /// <summary>A tick label: short, invariant culture; powers of ten on a log axis as 1e-3.</summary>
    public static string FormatTick(double v, bool log)
    {
        if (log)
        {
            int e = (int)Math.Round(Math.Log10(v));
            return Math.Abs(e) < 3 ? v.ToString("G4", CultureInfo.InvariantCulture) : FormattableString.Invariant($"1e{e}");
        }
        return v.ToString("G6", CultureInfo.InvariantCulture);
    }

    internal static string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    internal static string Esc(string s) => SecurityElement.Escape(s) ?? "";

    /// <summary>The plot as an SVG document (no XML declaration, so it can be inlined in HTML).</summary>
    public string ToSvg()
    {
        ComputeAxes();
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.Append($"<rect class=\"background\" x=\"0\" y=\"0\" width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        sb.Append($"<text class=\"title\" x=\"{N(Width / 2.0)}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{Esc(Title)}</text>\n");
        sb.Append($"<rect class=\"plot-area\" x=\"{Left}\" y=\"{Top}\" width=\"{N(AreaWidth)}\" height=\"{N(AreaHeight)}\" fill=\"none\" stroke=\"#444\"/>\n");
        AppendTicks(sb, true);
        AppendTicks(sb, false);
        sb.Append($"<text class=\"x-label\" x=\"{N(Left + AreaWidth / 2)}\" y=\"{Height - 8}\" text-anchor=\"middle\">{Esc(XLabel)}</text>\n");
        sb.Append($"<text class=\"y-label\" x=\"14\" y=\"{N(Top + AreaHeight / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {N(Top + AreaHeight / 2)})\">{Esc(YLabel)}</text>\n");
        foreach (var s in _series) AppendSeries(sb, s);
        foreach (var m in _markers)
        {
            if (!Usable(m.X, LogX) || !Usable(m.Y, LogY)) continue;
            var (px, py) = MapIn(m.X, m.Y);
            sb.Append($"<circle class=\"marker\" data-label=\"{Esc(m.Label)}\" cx=\"{N(px)}\" cy=\"{N(py)}\" r=\"6\" fill=\"none\" stroke=\"{m.Color}\" stroke-width=\"2\"/>\n");
        }
        AppendLegend(sb);
        AppendNonFiniteNote(sb);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private void AppendTicks(StringBuilder sb, bool x)
    {
        bool log = x ? LogX : LogY;
        var r = x ? _xAxis : _yAxis;
        sb.Append($"<g class=\"{(x ? "x" : "y")}-ticks\">\n");
        foreach (var v in Ticks(r, x ? _xStep : _yStep, log))
        {
            var (px, py) = x ? MapIn(v, Usable(_yAxis.Min, LogY) ? _yAxis.Min : 1) : MapIn(_xAxis.Min, v);
            string label = Esc(FormatTick(v, log)), value = v.ToString("R", CultureInfo.InvariantCulture);
            if (x)
            {
                double bottom = Top + AreaHeight;
                sb.Append($"<line class=\"grid\" x1=\"{N(px)}\" y1=\"{Top}\" x2=\"{N(px)}\" y2=\"{N(bottom)}\" stroke=\"#e5e5e5\"/>");
                sb.Append($"<text data-value=\"{value}\" x=\"{N(px)}\" y=\"{N(bottom + 16)}\" text-anchor=\"middle\">{label}</text>\n");
            }
            else
            {
                sb.Append($"<line class=\"grid\" x1=\"{Left}\" y1=\"{N(py)}\" x2=\"{N(Left + AreaWidth)}\" y2=\"{N(py)}\" stroke=\"#e5e5e5\"/>");
                sb.Append($"<text data-value=\"{value}\" x=\"{Left - 6}\" y=\"{N(py + 4)}\" text-anchor=\"end\">{label}</text>\n");
            }
        }
        sb.Append("</g>\n");
    }

    private void AppendSeries(StringBuilder sb, Series s)
    {
        sb.Append($"<g class=\"series\" data-name=\"{Esc(s.Name)}\" opacity=\"{N(s.Opacity)}\">\n");
        if (s.Line)
        {
            // Runs of usable points; a skipped value breaks the line rather than joining across it.
            var run = new List<string>();
            void Flush()
            {
                if (run.Count > 1) sb.Append($"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"1.5\" points=\"{string.Join(" ", run)}\"/>\n");
                else if (run.Count == 1 && !s.Points) AppendPoint(sb, run[0], s.Color);
                run.Clear();
            }
            for (int i = 0; i < s.X.Length; i++)
            {
                if (!Usable(s.X[i], LogX) || !Usable(s.Y[i], LogY)) { Flush(); continue; }
                var (px, py) = MapIn(s.X[i], s.Y[i]);
                run.Add($"{N(px)},{N(py)}");
            }
            Flush();
        }
        if (s.Points)
            for (int i = 0; i < s.X.Length; i++)
                if (Usable(s.X[i], LogX) && Usable(s.Y[i], LogY))
                {
                    var (px, py) = MapIn(s.X[i], s.Y[i]);
                    AppendPoint(sb, $"{N(px)},{N(py)}", s.Color);
                }
        // A NaN or infinite y is not drawn on the axis; a small cross on the frame (top for NaN and +inf,
        // bottom for -inf) shows where it was.
        for (int i = 0; i < s.X.Length; i++)
        {
            if (double.IsFinite(s.Y[i]) || !Usable(s.X[i], LogX)) continue;
            double px = MapIn(s.X[i], _yAxis.Min).X, py = double.IsNegativeInfinity(s.Y[i]) ? Top + AreaHeight : Top;
            string what = double.IsNaN(s.Y[i]) ? "NaN" : s.Y[i] > 0 ? "+inf" : "-inf";
            sb.Append($"<path class=\"non-finite\" data-x=\"{s.X[i].ToString("R", CultureInfo.InvariantCulture)}\" d=\"M{N(px - 4)},{N(py - 4)}L{N(px + 4)},{N(py + 4)}M{N(px - 4)},{N(py + 4)}L{N(px + 4)},{N(py - 4)}\" stroke=\"{s.Color}\" stroke-width=\"2\"><title>{Esc(s.Name)}: {what} at x = {Esc(FormatTick(s.X[i], false))}</title></path>\n");
        }
        sb.Append("</g>\n");
    }

    /// <summary>How many points of all series are not drawn because x or y is NaN or infinite.</summary>
    public int NonFiniteCount => _series.Sum(s => s.X.Zip(s.Y).Count(p => !double.IsFinite(p.First) || !double.IsFinite(p.Second)));

    private void AppendNonFiniteNote(StringBuilder sb)
    {
        int n = NonFiniteCount;
        if (n == 0) return;
        sb.Append($"<text class=\"non-finite-note\" x=\"{Width - Right}\" y=\"{Height - 8}\" text-anchor=\"end\" font-size=\"10\" fill=\"#d62728\">{n} NaN/infinite value{(n == 1 ? "" : "s")} not drawn (\u00d7 on the frame)</text>\n");
    }

    private static void AppendPoint(StringBuilder sb, string xy, string color)
    {
        var p = xy.Split(',');
        sb.Append($"<circle cx=\"{p[0]}\" cy=\"{p[1]}\" r=\"3\" fill=\"{color}\"/>\n");
    }

    private void AppendLegend(StringBuilder sb)
    {
        var entries = _series.Where(s => s.Name.Length > 0).Select(s => (s.Name, s.Color, Ring: false))
            .Concat(_markers.Where(m => m.Label.Length > 0).Select(m => (Name: m.Label, m.Color, Ring: true))).ToList();
        if (entries.Count == 0) return;
        int w = 24 + 7 * entries.Max(e => e.Name.Length), h = entries.Count * 16 + 6;
        // The corner (top-right first) that hides the least of the data: points, and samples along lines.
        var points = new List<(double X, double Y)>();
        foreach (var s in _series)
        {
            (double X, double Y)? prev = null;
            for (int i = 0; i < s.X.Length; i++)
            {
                if (!Usable(s.X[i], LogX) || !Usable(s.Y[i], LogY)) { prev = null; continue; }
                var p = MapIn(s.X[i], s.Y[i]);
                points.Add(p);
                if (s.Line && prev is (double px, double py))
                    for (int k = 1; k < 16; k++) points.Add((px + (p.X - px) * k / 16, py + (p.Y - py) * k / 16));
                prev = p;
            }
        }
        points.AddRange(_markers.Where(m => Usable(m.X, LogX) && Usable(m.Y, LogY)).Select(m => MapIn(m.X, m.Y)));
        int right = (int)(Left + AreaWidth) - w - 8, bottom = (int)(Top + AreaHeight) - h - 8;
        var (x0, y0) = new[] { (right, Top + 8), (Left + 8, Top + 8), (right, bottom), (Left + 8, bottom) }
            .OrderBy(c => points.Count(p => p.X >= c.Item1 - 4 && p.X <= c.Item1 + w + 4 && p.Y >= c.Item2 - 4 && p.Y <= c.Item2 + h + 4)).First();
        sb.Append($"<g class=\"legend\">\n<rect x=\"{x0}\" y=\"{y0}\" width=\"{w}\" height=\"{h}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n");
        for (int i = 0; i < entries.Count; i++)
        {
            var (name, color, ring) = entries[i];
            int y = y0 + 14 + 16 * i;
            sb.Append(ring
                ? $"<circle cx=\"{x0 + 12}\" cy=\"{y - 4}\" r=\"4\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>"
                : $"<line x1=\"{x0 + 4}\" y1=\"{y - 4}\" x2=\"{x0 + 20}\" y2=\"{y - 4}\" stroke=\"{color}\" stroke-width=\"2\"/>");
            sb.Append($"<text x=\"{x0 + 24}\" y=\"{y}\">{Esc(name)}</text>\n");
        }
        sb.Append("</g>\n");
    }
}
