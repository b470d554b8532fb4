// The one-cycle policy as fastai's fit_one_cycle applies it, step by step: the learning rate warms up
// from lrMax/div to lrMax along a half cosine over the first pctStart of the steps, then anneals
// along a half cosine to lrMax/divFinal; momentum (beta1 for Adam) goes the opposite way,
// 0.95 -> 0.85 -> 0.95. Step i of n is evaluated at pct = i/n (fastai's combine_scheds), so step 0
// uses exactly lrMax/div and the peak is reached at step pctStart*n.
namespace NativeCnn.Optim;

public sealed class OneCycle
{
    private readonly float[] _lrMax;

    /// <summary>A schedule of <paramref name="totalSteps"/> steps peaking at <paramref name="lrMax"/> in every group.</summary>
    public OneCycle(float lrMax, int totalSteps, float pctStart = 0.3f, float div = 25f, float divFinal = 25e4f,
                    float momentumMax = 0.95f, float momentumMin = 0.85f)
        : this(new[] { lrMax }, totalSteps, pctStart, div, divFinal, momentumMax, momentumMin) { }

    /// <summary>A schedule with one peak learning rate per parameter group (a single value applies to all groups).</summary>
    public OneCycle(float[] lrMaxPerGroup, int totalSteps, float pctStart = 0.3f, float div = 25f, float divFinal = 25e4f,
                    float momentumMax = 0.95f, float momentumMin = 0.85f)
    {
        ArgumentNullException.ThrowIfNull(lrMaxPerGroup);
        if (lrMaxPerGroup.Length == 0) throw new NativeCnnException("OneCycle: needs at least one peak learning rate, got none");
        foreach (var lr in lrMaxPerGroup)
            if (!(lr > 0) || float.IsInfinity(lr)) throw new NativeCnnException($"OneCycle: peak learning rate must be finite and > 0, got {lr}");
        Check.Positive(totalSteps, "OneCycle: totalSteps");
        if (!(pctStart > 0 && pctStart < 1)) throw new NativeCnnException($"OneCycle: pctStart must be in (0, 1), got {pctStart}");
        if (!(div > 0) || !(divFinal > 0)) throw new NativeCnnException($"OneCycle: div and divFinal must be > 0, got {div} and {divFinal}");
        _lrMax = (float[])lrMaxPerGroup.Clone();
        TotalSteps = totalSteps;
        PctStart = pctStart;
        Div = div;
        DivFinal = divFinal;
        MomentumMax = momentumMax;
        MomentumMin = momentumMin;
    }

    public int TotalSteps { get; }
    public float PctStart { get; }
    public float Div { get; }
    public float DivFinal { get; }
    public float MomentumMax { get; }
    public float MomentumMin { get; }

    /// <summary>fastai's SchedCos: start + (1 + cos(pi * (1 - pct))) * (end - start) / 2.</summary>
    public static double CosineAnneal(double start, double end, double pct) => start + (1 + Math.Cos(Math.PI * (1 - pct))) * (end - start) / 2;

    /// <summary>The learning rate at <paramref name="step"/> (0-based) for a peak of <paramref name="lrMax"/>.</summary>
    public float LrAt(int step, float lrMax)
    {
        var (warm, p) = Phase(step);
        return warm ? (float)CosineAnneal(lrMax / Div, lrMax, p) : (float)CosineAnneal(lrMax, lrMax / DivFinal, p);
    }

    public float LrAt(int step) => LrAt(step, _lrMax[0]);

    public float MomentumAt(int step)
    {
        var (warm, p) = Phase(step);
        return warm ? (float)CosineAnneal(MomentumMax, MomentumMin, p) : (float)CosineAnneal(MomentumMin, MomentumMax, p);
    }

    /// <summary>Sets every group's Lr and Momentum (beta1) for <paramref name="step"/>; call before Step().</summary>
    public void Apply(Optimizer optimizer, int step)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var groups = optimizer.ParamGroups;
        if (_lrMax.Length != 1 && _lrMax.Length != groups.Count)
            throw new NativeCnnException($"OneCycle: {_lrMax.Length} peak learning rates were given for an optimizer with {groups.Count} parameter groups");
        float mom = MomentumAt(step);
        for (int i = 0; i < groups.Count; i++)
        {
            groups[i].Lr = LrAt(step, _lrMax[_lrMax.Length == 1 ? 0 : i]);
            groups[i].Momentum = mom;
        }
    }

    private (bool Warm, double Pct) Phase(int step)
    {
        if (step < 0 || step >= TotalSteps)
            throw new NativeCnnException($"OneCycle: step must be in [0, {TotalSteps}), got {step}");
        double pct = (double)step / TotalSteps;
        return pct < PctStart ? (true, pct / PctStart) : (false, (pct - PctStart) / (1 - PctStart));
    }
}
