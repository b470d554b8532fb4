// The range and tick step of a linear plot axis, from the data it shows. Must hold: non-finite values
// are ignored (the plot marks them separately); the range always contains every finite value and has
// max > min; ticks are 1-2-5 times a power of ten (whole numbers only on an integer axis, such as
// epochs); a single value or a flat series gets a range around it (10% of the value, or 1 at zero, on
// a continuous axis; half a unit either side on an integer axis) rather than a degenerate one;
// data that are all >= 0 do not get a negative axis merely from that padding.
namespace NativeCnn.Reports;

/// <summary>A linear axis: its range and the step between its ticks.</summary>
public readonly record struct AxisRange(double Min, double Max, double Step)
{
    /// <summary>The tick values from the first multiple of <see cref="Step"/> at or above <see cref="Min"/> to the last at or below <see cref="Max"/>.</summary>
    public IEnumerable<double> Ticks()
    {
        for (double k = Math.Ceiling(Min / Step - 1e-9); k * Step <= Max + Step * 1e-9; k++)
        {
            double v = k * Step;
            yield return Math.Abs(v) < Step * 1e-9 ? 0 : v;
        }
    }

    /// <summary>A step of 1, 2 or 5 times a power of ten giving about 5 intervals over <paramref name="span"/>.</summary>
    public static double NiceStep(double span)
    {
        double raw = span / 5, mag = Math.Pow(10, Math.Floor(Math.Log10(raw))), f = raw / mag;
        const double slack = 1e-9;   // 0.002 / 0.001 is 2.0000000000000004 in doubles: still a step of 2
        return (f <= 1 + slack ? 1 : f <= 2 + slack ? 2 : f <= 5 + slack ? 5 : 10) * mag;
    }

    /// <summary>The axis for <paramref name="values"/>: from the finite values, widened to whole ticks; on an
    /// <paramref name="integer"/> axis the step is a whole number. No finite value: 0 to 1.</summary>
    public static AxisRange For(IEnumerable<double> values, bool integer = false)
    {
        ArgumentNullException.ThrowIfNull(values);
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var v in values)
            if (double.IsFinite(v)) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        if (lo > hi) return new AxisRange(0, 1, 0.2);
        if (hi == lo)
        {
            if (integer) return new AxisRange(lo - 0.5, hi + 0.5, 1);
            double pad = lo == 0 ? 1 : Math.Abs(lo) * 0.1;
            bool nonNegative = lo >= 0;
            lo -= pad;
            hi += pad;
            if (nonNegative && lo < 0) lo = 0;
        }
        double span = hi - lo;
        if (!double.IsFinite(span)) return new AxisRange(lo, hi, hi / 5 - lo / 5);   // near double.MaxValue: no rounding
        double step = NiceStep(span);
        if (integer) step = Math.Max(1, Math.Round(step));
        return new AxisRange(Math.Floor(lo / step + 1e-9) * step, Math.Ceiling(hi / step - 1e-9) * step, step);
    }
}
