// SvgPlot and Plots parsed back as XML: points land where their values say (plot-area centre for a
// fixed range, on the tick of the same value for automatic and log ranges), non-finite values break
// a line, lr-finder suggestions sit on the curve, the heat map's cells carry the exact counts, and
// the smoothed loss is fastai's debiased average.
using System.Globalization;
using System.Xml.Linq;
using NativeCnn.Reports;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Reports;

public class SvgPlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static XElement Parse(string svg) => XElement.Parse(svg);

    private static double D(XElement e, string attr) => double.Parse(e.Attribute(attr)!.Value, CultureInfo.InvariantCulture);

    private static List<(double X, double Y)> Points(XElement polyline) =>
        polyline.Attribute("points")!.Value.Split(' ').Select(p => p.Split(','))
            .Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture))).ToList();

    private static XElement SeriesGroup(XElement root, string name) =>
        root.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == "series" && (string?)g.Attribute("data-name") == name);

    private static XElement Tick(XElement root, string axis, double value) =>
        root.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == axis + "-ticks").Elements(Svg + "text")
            .Single(t => Math.Abs(double.Parse(t.Attribute("data-value")!.Value, CultureInfo.InvariantCulture) - value) <= Math.Abs(value) * 1e-12);

    [Fact]
    public void FixedRangesMapTheCentreToTheCentreOfThePlotArea()
    {
        var plot = new SvgPlot("fixed", "x", "y", 500, 300) { XRange = (0, 10), YRange = (0, 100) };
        plot.Add("s", new double[] { 0, 5, 10 }, new double[] { 0, 50, 100 });
        var root = Parse(plot.ToSvg());
        var area = root.Elements(Svg + "rect").Single(r => (string?)r.Attribute("class") == "plot-area");
        double ax = D(area, "x"), ay = D(area, "y"), aw = D(area, "width"), ah = D(area, "height");
        var pts = Points(SeriesGroup(root, "s").Element(Svg + "polyline")!);
        Assert.Equal(3, pts.Count);
        Assert.Equal((ax, ay + ah), pts[0]);                            // (0, 0): bottom-left corner
        Assert.Equal(ax + aw / 2, pts[1].X, 0.011);
        Assert.Equal(ay + ah / 2, pts[1].Y, 0.011);
        Assert.Equal((ax + aw, ay), pts[2]);                            // (10, 100): top-right corner
        Assert.Equal(plot.Map(5, 50).X, pts[1].X, 0.011);
        Assert.Equal("fixed", root.Elements(Svg + "text").Single(t => (string?)t.Attribute("class") == "title").Value);
    }

    [Fact]
    public void AutomaticRangesPutAPointAtATickValueOnThatTick()
    {
        var plot = new SvgPlot("auto", "batches", "loss");
        plot.Add("train", new double[] { 1, 2, 3, 4, 5, 6, 7 }, new double[] { 2.3, 2.2, 2.1, 2.05, 2.0, 1.9, 1.95 });
        var root = Parse(plot.ToSvg());
        var pts = Points(SeriesGroup(root, "train").Element(Svg + "polyline")!);
        // Data x 1..7 -> nice range 0..8 in steps of 2; the point at x = 2 sits on the "2" tick, x = 4 on "4".
        Assert.Equal(D(Tick(root, "x", 2), "x"), pts[1].X, 0.011);
        Assert.Equal(D(Tick(root, "x", 4), "x"), pts[3].X, 0.011);
        // y = 2.0 on the "2" tick (text drawn 4 px below the tick's line).
        Assert.Equal(D(Tick(root, "y", 2), "y") - 4, pts[4].Y, 0.011);
        Assert.Equal("0", Tick(root, "x", 0).Value);
        Assert.Equal("8", Tick(root, "x", 8).Value);
    }

    [Fact]
    public void LogAxisPutsDecadesEvenlyAndPointsOnTheirDecade()
    {
        var lrs = new[] { 1e-5, 1e-4, 1e-3, 1e-2, 0.05 };
        var plot = new SvgPlot("log") { LogX = true };
        plot.Add("loss", lrs, new double[] { 2.3, 2.2, 1.5, 1.0, 3.0 });
        var root = Parse(plot.ToSvg());
        var pts = Points(SeriesGroup(root, "loss").Element(Svg + "polyline")!);
        double t5 = D(Tick(root, "x", 1e-5), "x"), t3 = D(Tick(root, "x", 1e-3), "x"), t1 = D(Tick(root, "x", 0.1), "x");
        Assert.Equal(t3 - t5, t1 - t3, 0.05);                               // 1e-5 .. 1e-1: 1e-3 halfway
        Assert.Equal(t5, pts[0].X, 0.011);
        Assert.Equal(t3, pts[2].X, 0.011);
        // 0.05 lies log10(5) of a decade beyond 1e-2.
        double t2 = D(Tick(root, "x", 1e-2), "x");
        Assert.Equal(t2 + Math.Log10(5) * (t1 - t2), pts[4].X, 0.05);
        Assert.Equal("1e-5", Tick(root, "x", 1e-5).Value);
    }

    [Fact]
    public void NonFiniteValuesBreakTheLine()
    {
        var plot = new SvgPlot("gaps").Add("s", new double[] { 0, 1, 2, 3, 4, 5 }, new[] { 1, 2, double.NaN, 3, 4, double.PositiveInfinity });
        var lines = SeriesGroup(Parse(plot.ToSvg()), "s").Elements(Svg + "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal(2, Points(lines[0]).Count);
        Assert.Equal(2, Points(lines[1]).Count);
    }

    [Fact]
    public void TextIsEscapedAndEveryNamedSeriesIsInTheLegend()
    {
        var plot = new SvgPlot("a < b & \"c\"").Add("one", new double[] { 0, 1 }, new double[] { 0, 1 }).Add("two", new double[] { 0, 1 }, new double[] { 1, 0 });
        var root = Parse(plot.ToSvg());
        Assert.Equal("a < b & \"c\"", root.Elements(Svg + "text").Single(t => (string?)t.Attribute("class") == "title").Value);
        var legend = root.Elements(Svg + "g").Single(g => (string?)g.Attribute("class") == "legend");
        Assert.Equal(new[] { "one", "two" }, legend.Elements(Svg + "text").Select(t => t.Value));
        Assert.Throws<NativeCnnException>(() => new SvgPlot("bad").Add("s", new double[] { 1 }, new double[] { 1, 2 }));
        Assert.Throws<NativeCnnException>(() => new SvgPlot("bad") { XRange = (1, 1) }.ToSvg());
    }

    [Fact]
    public void TheLegendMovesToTheCornerTheDataLeaveFree()
    {
        // A line just under the top edge: both top corners would hide it, so the legend goes bottom-right.
        var plot = new SvgPlot("legend") { YRange = (0, 1) }.Add("top", new double[] { 0, 10 }, new double[] { 0.95, 0.95 });
        var root = Parse(plot.ToSvg());
        var box = root.Elements(Svg + "g").Single(g => (string?)g.Attribute("class") == "legend").Element(Svg + "rect")!;
        Assert.True(D(box, "y") > SvgPlot.Top + plot.AreaHeight / 2, $"legend at y {D(box, "y")}");
        Assert.True(D(box, "x") > SvgPlot.Left + plot.AreaWidth / 2, $"legend at x {D(box, "x")}");
        // Nothing in the way: top-right.
        var free = Parse(new SvgPlot("legend") { YRange = (0, 1) }.Add("low", new double[] { 0, 10 }, new double[] { 0, 0 }).ToSvg());
        Assert.Equal(SvgPlot.Top + 8, D(free.Elements(Svg + "g").Single(g => (string?)g.Attribute("class") == "legend").Element(Svg + "rect")!, "y"));
    }

    [Fact]
    public void LrFinderMarksItsSuggestionsOnTheCurve()
    {
        var lrs = Enumerable.Range(0, 41).Select(i => 1e-6 * Math.Pow(10, i / 8.0)).ToArray();   // 1e-6 .. 1e-1
        var losses = lrs.Select(lr => 2.3 - 0.3 * Math.Log10(lr / 1e-6) + (lr > 1e-2 ? 50 * lr : 0)).ToArray();
        var plot = Plots.LrFinder(lrs, losses, steepestLr: lrs[24], minLossLr: 1.3e-4);
        Assert.True(plot.LogX);
        var root = Parse(plot.ToSvg());
        var markers = root.Elements(Svg + "circle").Where(c => (string?)c.Attribute("class") == "marker").ToList();
        Assert.Equal(2, markers.Count);
        var (sx, sy) = plot.Map(lrs[24], losses[24]);
        Assert.Equal(sx, D(markers[0], "cx"), 0.011);
        Assert.Equal(sy, D(markers[0], "cy"), 0.011);
        Assert.StartsWith("steepest: 1e-3", markers[0].Attribute("data-label")!.Value);
        // 1.3e-4 is nearest (in log) to lrs[17] = 1.33e-4: the marker sits at that point's loss, at x = 1.3e-4.
        var (mx, my) = plot.Map(1.3e-4, losses[17]);
        Assert.Equal(mx, D(markers[1], "cx"), 0.011);
        Assert.Equal(my, D(markers[1], "cy"), 0.011);
        Assert.Equal(new[] { "loss", "steepest: 1e-3", "min loss / 10: 1.3e-4" },
                     root.Elements(Svg + "g").Single(g => (string?)g.Attribute("class") == "legend").Elements(Svg + "text").Select(t => t.Value));
    }

    [Fact]
    public void ConfusionHeatMapCellsCarryTheirCountsInRowMajorGrid()
    {
        var cm = new int[,] { { 5, 1, 0 }, { 2, 7, 0 }, { 0, 0, 0 } };
        var root = Parse(Plots.ConfusionMatrix(cm, new[] { "cat", "dog", "b<d" }));
        var cells = root.Elements(Svg + "rect").Where(r => (string?)r.Attribute("class") == "cell").ToList();
        Assert.Equal(9, cells.Count);
        double x0 = D(cells[0], "x"), y0 = D(cells[0], "y"), size = D(cells[0], "width");
        foreach (var c in cells)
        {
            int i = int.Parse(c.Attribute("data-row")!.Value), j = int.Parse(c.Attribute("data-col")!.Value);
            Assert.Equal(cm[i, j].ToString(CultureInfo.InvariantCulture), c.Attribute("data-value")!.Value);
            Assert.Equal(x0 + j * size, D(c, "x"));
            Assert.Equal(y0 + i * size, D(c, "y"));
        }
        // The largest count is the darkest blue, zero the lightest.
        Assert.Equal("#08306b", cells.Single(c => c.Attribute("data-value")!.Value == "7").Attribute("fill")!.Value);
        Assert.Equal("#f7fbff", cells[2].Attribute("fill")!.Value);
        Assert.Contains("b<d", root.Elements(Svg + "text").Where(t => (string?)t.Attribute("class") == "row-label").Select(t => t.Value));
        // Row-normalised: fractions of each actual class; an empty class shows '-'.
        var norm = Parse(Plots.ConfusionMatrix(cm, new[] { "cat", "dog", "bird" }, normalized: true))
            .Elements(Svg + "rect").Where(r => (string?)r.Attribute("class") == "cell").Select(c => c.Attribute("data-value")!.Value).ToArray();
        Assert.Equal(new[] { "0.83", "0.17", "0.00", "0.22", "0.78", "0.00", "-", "-", "-" }, norm);
    }

    [Fact]
    public void SmoothIsFastaisDebiasedAverage()
    {
        var s = Plots.Smooth(new[] { 2.0, 1.0, 4.0 });
        Assert.Equal(2.0, s[0], 14);
        double a2 = 0.98 * 0.04 + 0.02 * 1.0, a3 = 0.98 * a2 + 0.02 * 4.0;
        Assert.Equal(a2 / (1 - 0.98 * 0.98), s[1], 14);
        Assert.Equal(a3 / (1 - Math.Pow(0.98, 3)), s[2], 14);
    }

    [Fact]
    public void LossPlotPutsValidLossesAtTheEndOfTheirEpochs()
    {
        var r = new Recorder();
        r.Losses.AddRange(new[] { 2.0, 1.8, 1.5, 1.4, 1.2, 1.1 });
        r.TrainLosses.AddRange(new[] { 1.77, double.NaN, 1.23 });       // epoch 1 trained no batch (cancelled)
        r.ValidLosses.AddRange(new[] { 1.6, 1.5, 1.3 });
        Assert.Equal(new[] { 3, 3, 6 }, Plots.EpochEnds(r.ToSeries()));
        var plot = Plots.Losses(r.ToSeries());
        var root = Parse(plot.ToSvg());
        var valid = Points(SeriesGroup(root, "valid").Element(Svg + "polyline")!);
        Assert.Equal(3, valid.Count);
        for (int e = 0; e < 3; e++)
        {
            var (x, y) = plot.Map(new[] { 3, 3, 6 }[e], r.ValidLosses[e]);
            Assert.Equal(x, valid[e].X, 0.011);
            Assert.Equal(y, valid[e].Y, 0.011);
        }
        Assert.Equal(6, Points(SeriesGroup(root, "train").Element(Svg + "polyline")!).Count);
        var smoothed = Points(SeriesGroup(root, "train (smoothed)").Element(Svg + "polyline")!);
        var want = Plots.Smooth(r.Losses);
        Assert.Equal(want.Length, smoothed.Count);
        for (int i = 0; i < want.Length; i++) Assert.Equal(plot.Map(i + 1, want[i]).Y, smoothed[i].Y, 0.011);
    }
}
