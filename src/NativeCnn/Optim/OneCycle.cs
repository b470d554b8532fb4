// The one-cycle policy, step by step, with exactly the formula of PyTorch's
// torch.optim.lr_scheduler.OneCycleLR (anneal_strategy 'cos', three_phase False): the learning rate
// rises from lrMax/div to lrMax along a half cosine until step pctStart*n - 1, then falls along a
// half cosine to lrMax/divFinal at step n - 1; momentum (beta1 for Adam) goes the opposite way,
// momentumMax -> momentumMin -> momentumMax. Values are computed in double (the golden test holds
// them to torch's to 1e-9 relative); the optimizer receives them rounded to float32.
// divFinal is fastai's final_div (the last lr is lrMax/divFinal); torch's final_div_factor is
// divFinal/div (fastai's 25e4 with div 25 is torch's 1e4). A zero-length phase (pctStart*n = 1, where
// torch divides by zero) is taken as already finished: its step gets the phase's end value.
namespace NativeCnn.Optim;

/// <summary>The one-cycle schedule (PyTorch OneCycleLR, cosine annealing): the learning rate rises from max / Div to max over the first PctStart of the steps and falls to max / DivFinal; momentum moves the opposite way between MomentumMax and MomentumMin.</summary>
public sealed class OneCycle
{
    private readonly double[] _lrMax;
    private readonly double _warmEnd, _coolEnd;

    /// <summary>A schedule of <paramref name="totalSteps"/> steps peaking at <paramref name="lrMax"/> in every group.</summary>
    public OneCycle(double lrMax, int totalSteps, double pctStart = 0.3, double div = 25, double divFinal = 25e4,
                    double momentumMax = 0.95, double momentumMin = 0.85)
        : this(new[] { lrMax }, totalSteps, pctStart, div, divFinal, momentumMax, momentumMin) { }

    /// <summary>A schedule with one peak learning rate per parameter group (a single value applies to all groups).</summary>
    public OneCycle(double[] lrMaxPerGroup, int totalSteps, double pctStart = 0.3, double div = 25, double divFinal = 25e4,
                    double momentumMax = 0.95, double momentumMin = 0.85)
    {
        ArgumentNullException.ThrowIfNull(lrMaxPerGroup);
        if (lrMaxPerGroup.Length == 0) throw new NativeCnnException("OneCycle: needs at least one peak learning rate, got none");
        foreach (var lr in lrMaxPerGroup)
            if (!(lr > 0) || double.IsInfinity(lr)) throw new NativeCnnException($"OneCycle: peak learning rate must be finite and > 0, got {lr}");
        Check.Positive(totalSteps, "OneCycle: totalSteps");
        if (!(pctStart > 0 && pctStart < 1)) throw new NativeCnnException($"OneCycle: pctStart must be in (0, 1), got {pctStart}");
        if (!(div > 0) || !(divFinal > 0) || double.IsInfinity(div) || double.IsInfinity(divFinal))
            throw new NativeCnnException($"OneCycle: div and divFinal must be finite and > 0, got {div} and {divFinal}");
        if (!double.IsFinite(momentumMax) || !double.IsFinite(momentumMin))
            throw new NativeCnnException($"OneCycle: momentums must be finite, got {momentumMax} and {momentumMin}");
        _lrMax = (double[])lrMaxPerGroup.Clone();
        TotalSteps = totalSteps;
        PctStart = pctStart;
        Div = div;
        DivFinal = divFinal;
        MomentumMax = momentumMax;
        MomentumMin = momentumMin;
        // torch: phase ends at float(pct_start * total_steps) - 1 and total_steps - 1.
        _warmEnd = pctStart * totalSteps - 1;
        _coolEnd = totalSteps - 1;
    }

    /// <summary>Steps in the whole schedule.</summary>
    public int TotalSteps { get; }
    /// <summary>Fraction of the steps spent rising (default 0.3).</summary>
    public double PctStart { get; }
    /// <summary>The starting learning rate is the peak divided by this (default 25).</summary>
    public double Div { get; }
    /// <summary>The final learning rate is the peak divided by this (default 25e4).</summary>
    public double DivFinal { get; }
    /// <summary>Momentum (or beta1) at the start and the end.</summary>
    public double MomentumMax { get; }
    /// <summary>Momentum (or beta1) at the learning-rate peak.</summary>
    public double MomentumMin { get; }
    /// <summary>The peak learning rate of each group (one value: every group).</summary>
    public IReadOnlyList<double> LrMax => _lrMax;

    /// <summary>torch's _annealing_cos: end + (start - end) / 2 * (cos(pi * pct) + 1).</summary>
    public static double CosineAnneal(double start, double end, double pct) => end + (start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1);

    /// <summary>The learning rate at <paramref name="step"/> (0-based) for a peak of <paramref name="lrMax"/>.</summary>
    public double LrAt(int step, double lrMax)
    {
        var (warm, p) = Phase(step);
        double initial = lrMax / Div, min = lrMax / DivFinal;
        return warm ? CosineAnneal(initial, lrMax, p) : CosineAnneal(lrMax, min, p);
    }

    /// <summary>The learning rate at <paramref name="step"/> for the first group's peak.</summary>
    public double LrAt(int step) => LrAt(step, _lrMax[0]);

    /// <summary>The momentum (beta1) at <paramref name="step"/> (0-based).</summary>
    public double MomentumAt(int step)
    {
        var (warm, p) = Phase(step);
        return warm ? CosineAnneal(MomentumMax, MomentumMin, p) : CosineAnneal(MomentumMin, MomentumMax, p);
    }

    /// <summary>Sets every group's Lr and Momentum (beta1), rounded to float32, for <paramref name="step"/>; call before Step().</summary>
    public void Apply(Optimizer optimizer, int step)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var groups = optimizer.ParamGroups;
        if (_lrMax.Length != 1 && _lrMax.Length != groups.Count)
            throw new NativeCnnException($"OneCycle: {_lrMax.Length} peak learning rates were given for an optimizer with {groups.Count} parameter groups");
        float mom = (float)MomentumAt(step);
        for (int i = 0; i < groups.Count; i++)
        {
            groups[i].Lr = (float)LrAt(step, _lrMax[_lrMax.Length == 1 ? 0 : i]);
            groups[i].Momentum = mom;
        }
    }

    // torch's get_lr: the first phase whose end_step >= step (the last phase otherwise); the second
    // phase starts at the first one's end_step, not one after it.
    private (bool Warm, double Pct) Phase(int step)
    {
        if (step < 0 || step >= TotalSteps)
            throw new NativeCnnException($"OneCycle: step must be in [0, {TotalSteps}), got {step}");
        if (step <= _warmEnd) return (true, _warmEnd == 0 ? 1.0 : step / _warmEnd);
        double len = _coolEnd - _warmEnd;
        return (false, len == 0 ? 1.0 : (step - _warmEnd) / len);
    }
}
