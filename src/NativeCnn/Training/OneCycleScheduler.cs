// The one-cycle schedule as a callback: before every training batch it sets lr and momentum (beta1
// for Adam) on every parameter group from Optim.OneCycle (PyTorch's OneCycleLR formula, in double),
// at the fit's global training step. Each group peaks at its own lr from the LrRange.
// Must hold: the schedule spans exactly the fit's NEpochs x train batches, so step 0 uses
// maxLr/divFactor and momentum moms.Start; validation batches change nothing.
using NativeCnn.Optim;

namespace NativeCnn.Training;

/// <summary>The callback of <see cref="Learner.FitOneCycle(int, LrRange, ValueTuple{double, double}?, double, double, double, Callback[])"/>: sets each group's learning rate and momentum before every training batch from a <see cref="OneCycle"/> schedule.</summary>
public sealed class OneCycleScheduler : Callback
{
    private readonly LrRange _maxLr;
    private readonly double _div, _pctStart, _finalDiv;
    private readonly (double Start, double Mid) _moms;
    private OneCycle? _sched;

    /// <summary>A schedule peaking at <paramref name="maxLr"/> (one value or a slice over the groups), momentum from <paramref name="moms"/>.Start to .Mid and back; see <see cref="OneCycle"/> for <paramref name="divFactor"/>, <paramref name="pctStart"/> and <paramref name="finalDiv"/>.</summary>
    public OneCycleScheduler(LrRange maxLr, (double Start, double Mid) moms, double divFactor = 25, double pctStart = 0.3, double finalDiv = 25e4)
    {
        _maxLr = maxLr; _moms = moms; _div = divFactor; _pctStart = pctStart; _finalDiv = finalDiv;
    }

    // Before every other callback, so recorders and printers see this batch's values.
    /// <inheritdoc/>
    public override int Order => -10;

    /// <summary>The schedule of the fit under way.</summary>
    public OneCycle Schedule => _sched ?? throw new NativeCnnException("OneCycleScheduler: the schedule exists only once a fit has begun");

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        var opt = learn.Opt ?? throw new NativeCnnException("OneCycleScheduler: the learner has no optimizer (fit through Learner.Fit/FitOneCycle)");
        _sched = new OneCycle(_maxLr.For(opt.ParamGroups.Count), learn.TotalTrainSteps, _pctStart, _div, _finalDiv, _moms.Start, _moms.Mid);
    }

    /// <inheritdoc/>
    public override void BeforeBatch(Learner learn)
    {
        if (learn.Training) Schedule.Apply(learn.Opt!, learn.TrainIter);
    }
}
