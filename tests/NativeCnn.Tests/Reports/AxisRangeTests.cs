// AxisRange with values: the range covers the finite data in whole 1-2-5 steps, one value or a flat
// series gets a range around it (not -1..1 around an epoch 0, nor a zero-width axis), NaN and the
// infinities are ignored, and a whole-number axis ticks only whole numbers; the metrics plot of one
// epoch and a plot with NaN/infinite values read as such.
using System.Globalization;
using System.Xml.Linq;
using NativeCnn.Reports;
using Xunit;

namespace NativeCnn.Tests.Reports;

public class AxisRangeTests
{
    private static void Near((double Min, double Max, double Step) want, AxisRange got)
    {
        Assert.Equal(want.Min, got.Min, 1e-12);
        Assert.Equal(want.Max, got.Max, 1e-12);
        Assert.Equal(want.Step, got.Step, 1e-12);
    }

    [Theory]
    [InlineData(new[] { 1.0, 2, 3, 4, 5, 6, 7 }, false, 0, 8, 2)]          // the 1-2-5 steps of old
    [InlineData(new[] { 2.3, 2.2, 1.95 }, false, 1.9, 2.3, 0.1)]
    [InlineData(new[] { 0.95 }, false, 0.85, 1.05, 0.05)]                  // one value: +-10%, rounded out to whole ticks
    [InlineData(new[] { 2.0, 2, 2 }, false, 1.8, 2.2, 0.1)]                // a flat series too
    [InlineData(new[] { -3.0 }, false, -3.4, -2.6, 0.2)]
    [InlineData(new[] { 0.0 }, false, 0, 1, 0.2)]                          // zero: one unit up, no negative axis for >= 0 data
    [InlineData(new[] { 0.05 }, false, 0.044, 0.056, 0.002)]
    [InlineData(new[] { 0.0 }, true, -0.5, 0.5, 1)]                        // epoch 0 alone: centred, one tick
    [InlineData(new[] { 0.0, 1 }, true, 0, 1, 1)]                          // two epochs: no 0.2 steps
    [InlineData(new[] { 0.0, 9 }, true, 0, 10, 2)]
    [InlineData(new[] { 1.0, 3, double.NaN, double.PositiveInfinity, double.NegativeInfinity }, false, 1, 3, 0.5)]
    [InlineData(new[] { double.NaN, double.PositiveInfinity }, false, 0, 1, 0.2)]   // nothing finite
    [InlineData(new double[0], false, 0, 1, 0.2)]
    public void RangeCoversTheFiniteValuesInRoundSteps(double[] values, bool integer, double min, double max, double step)
    {
        var r = AxisRange.For(values, integer);
        Near((min, max, step), r);
        foreach (var v in values.Where(double.IsFinite)) Assert.InRange(v, r.Min, r.Max);
    }

    [Fact]
    public void TicksAreTheStepsInsideTheRange()
    {
        Assert.Equal(new[] { 0.85, 0.9, 0.95, 1.0, 1.05 }, AxisRange.For(new[] { 0.95 }).Ticks().Select(t => Math.Round(t, 12)));
        Assert.Equal(new[] { 0.0 }, AxisRange.For(new[] { 0.0 }, integer: true).Ticks());
        Assert.Equal(new[] { 3.0 }, AxisRange.For(new[] { 3.0 }, integer: true).Ticks());
    }

    [Fact]
    public void ExtremeValuesStillGiveAFiniteOrderedRange()
    {
        var r = AxisRange.For(new[] { -1e308, 1e308 });
        Assert.True(double.IsFinite(r.Min) && double.IsFinite(r.Max) && r.Max > r.Min && r.Step > 0);
        var tiny = AxisRange.For(new[] { 1e-300 });
        Assert.True(tiny.Max > tiny.Min && tiny.Min <= 1e-300 && tiny.Max >= 1e-300);
    }

    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static List<double> TickValues(XElement root, string axis) =>
        root.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == axis + "-ticks").Elements(Svg + "text")
            .Select(t => double.Parse(t.Attribute("data-value")!.Value, CultureInfo.InvariantCulture)).ToList();

    [Fact]
    public void TheMetricsPlotOfOneEpochCentresItsPointsOnTheEpochTick()
    {
        var plot = Plots.Metrics(new[] { "accuracy" }, new[] { new[] { 0.9512 } });
        var root = XElement.Parse(plot.ToSvg());
        Assert.Equal(new[] { 0.0 }, TickValues(root, "x"));
        var y = TickValues(root, "y");
        Assert.True(y.Count >= 3 && y.Min() >= 0.8 && y.Max() <= 1.1, string.Join(", ", y));
        var dot = root.Descendants(Svg + "circle").Single();
        var area = root.Elements(Svg + "rect").Single(r => (string?)r.Attribute("class") == "plot-area");
        double ax = double.Parse(area.Attribute("x")!.Value, CultureInfo.InvariantCulture), aw = double.Parse(area.Attribute("width")!.Value, CultureInfo.InvariantCulture);
        Assert.Equal(ax + aw / 2, double.Parse(dot.Attribute("cx")!.Value, CultureInfo.InvariantCulture), 0.011);
        Assert.Equal(plot.Map(0, 0.9512).Y, double.Parse(dot.Attribute("cy")!.Value, CultureInfo.InvariantCulture), 0.011);
    }

    [Fact]
    public void NaNAndInfinitePointsAreMarkedOnTheFrameAndCountedNotDropped()
    {
        var plot = new SvgPlot("gaps") { IntegerX = true }.Add("valid", new double[] { 0, 1, 2, 3 }, new[] { 1.2, double.NaN, 0.8, double.NegativeInfinity }, points: true);
        var root = XElement.Parse(plot.ToSvg());
        var y = TickValues(root, "y");
        Assert.True(y.Min() <= 0.8 && y.Max() >= 1.2 && y.Max() - y.Min() < 1, string.Join(", ", y));   // from the finite values only
        var marks = root.Descendants(Svg + "path").Where(p => (string?)p.Attribute("class") == "non-finite").ToList();
        Assert.Equal(new[] { "1", "3" }, marks.Select(m => m.Attribute("data-x")!.Value));
        Assert.Contains("NaN at x = 1", marks[0].Element(Svg + "title")!.Value);
        Assert.Contains("-inf at x = 3", marks[1].Element(Svg + "title")!.Value);
        Assert.Equal(2, plot.NonFiniteCount);
        Assert.StartsWith("2 NaN/infinite values not drawn", root.Elements(Svg + "text").Single(t => (string?)t.Attribute("class") == "non-finite-note").Value);
        Assert.DoesNotContain("NaN", root.Descendants(Svg + "circle").SelectMany(c => c.Attributes()).Select(a => a.Value));
    }
}
