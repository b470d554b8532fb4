// Learning rates over layer groups, as fastai v1's Learner.lr_range: one value for every group, or a
// slice — Slice(hi): hi/10 for every group but the last, hi for the last; Slice(lo, hi): geometric
// steps from lo (first group) to hi (last), fastai's even_mults. Must hold: every value is finite and
// > 0 (checked when made). A float converts through its shortest decimal form (0.01f means 0.01, not
// 0.009999999776), so schedules computed in double start from the value the user wrote.
using System.Globalization;

namespace NativeCnn.Training;

/// <summary>A learning rate for every layer group: one value, or fastai's slice (geometric spread from a low to a high value over the groups).</summary>
public readonly struct LrRange
{
    private readonly double[]? _perGroup;

    private LrRange(double? lo, double hi, double[]? perGroup, bool isSlice)
    {
        Lo = lo; Hi = hi; _perGroup = perGroup; IsSlice = isSlice;
    }

    /// <summary>The first group's lr of Slice(lo, hi); null for Slice(hi) and a single value.</summary>
    public double? Lo { get; }
    /// <summary>The last group's lr (the only one for a single value).</summary>
    public double Hi { get; }
    /// <summary>True for Slice(...) or explicit per-group values; false for one lr shared by every group.</summary>
    public bool IsSlice { get; }

    /// <summary>One learning rate for every group.</summary>
    public static LrRange Of(double lr) => new(null, CheckLr(lr, "lr"), null, false);

    /// <summary>fastai's slice(hi): hi/10 for all groups but the last, hi for the last.</summary>
    public static LrRange Slice(double hi) => new(null, CheckLr(hi, "Slice(hi)"), null, true);

    /// <summary>fastai's slice(lo, hi): lo for the first group, hi for the last, geometric steps between.</summary>
    public static LrRange Slice(double lo, double hi) => new(CheckLr(lo, "Slice(lo, hi): lo"), CheckLr(hi, "Slice(lo, hi): hi"), null, true);

    /// <summary>Explicit learning rates, one per group (the count must match the groups when used).</summary>
    public static LrRange PerGroup(params double[] lrs)
    {
        if (lrs is null || lrs.Length == 0) throw new NativeCnnException("LrRange.PerGroup: needs at least one learning rate, got none");
        for (int i = 0; i < lrs.Length; i++) CheckLr(lrs[i], $"PerGroup[{i}]");
        return new(null, lrs[^1], (double[])lrs.Clone(), true);
    }

    /// <summary>One learning rate for every group.</summary>
    public static implicit operator LrRange(double lr) => Of(lr);
    /// <summary>One learning rate for every group (the float's shortest decimal, so 1e-3f is 0.001).</summary>
    public static implicit operator LrRange(float lr) => Of(ShortestDouble(lr));

    /// <summary>The learning rate of each of <paramref name="groups"/> groups.</summary>
    public double[] For(int groups)
    {
        if (groups < 1) throw new NativeCnnException($"LrRange: needs at least one group, got {groups}");
        if (Hi == 0) throw new NativeCnnException("LrRange: default(LrRange) holds no learning rate; use a number or LrRange.Slice");
        var lrs = new double[groups];
        if (_perGroup is not null)
        {
            if (_perGroup.Length != groups)
                throw new NativeCnnException($"LrRange: {_perGroup.Length} learning rates were given for {groups} groups");
            return (double[])_perGroup.Clone();
        }
        if (!IsSlice) { Array.Fill(lrs, Hi); return lrs; }
        if (Lo is not double lo)
        {
            Array.Fill(lrs, Hi / 10);
            lrs[^1] = Hi;
            return lrs;
        }
        // even_mults: lo * (hi/lo)^(i/(n-1)); with one group (where fastai divides by zero) just hi.
        if (groups == 1) { lrs[0] = Hi; return lrs; }
        double step = Math.Pow(Hi / lo, 1.0 / (groups - 1));
        for (int i = 0; i < groups; i++) lrs[i] = lo * Math.Pow(step, i);
        return lrs;
    }

    /// <summary>The value, or the per-group values in brackets.</summary>
    public override string ToString() => _perGroup is not null ? "[" + string.Join(", ", _perGroup.Select(Format)) + "]"
        : !IsSlice ? Format(Hi) : Lo is double lo ? $"slice({Format(lo)}, {Format(Hi)})" : $"slice({Format(Hi)})";

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static double ShortestDouble(float f) =>
        float.IsFinite(f) ? double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : f;

    private static double CheckLr(double lr, string what)
    {
        if (!(lr > 0) || double.IsInfinity(lr)) throw new NativeCnnException($"LrRange: {what} must be finite and > 0, got {lr}");
        return lr;
    }
}
