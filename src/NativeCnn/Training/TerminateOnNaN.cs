// fastai's TerminateOnNaNCallback: a NaN or infinite loss stops the fit at once with an error naming
// the epoch, the batch and what to try, instead of training on and reporting numbers computed from
// NaN. Must hold: a training batch's loss is checked before its backward and step (so the weights
// never take a non-finite step from it), the validation loss once per phase from the Recorder (no
// extra read); the error is a NativeCnnException, so the CLI turns it into one line and exit 1.
// Cost: one device-to-host read of the loss per training batch (what fastai does; free on the CPU).
using System.Globalization;

namespace NativeCnn.Training;

/// <summary>Stops training with a <see cref="NativeCnnException"/> as soon as a loss is NaN or infinite.</summary>
public sealed class TerminateOnNaNCallback : Callback
{
    /// <summary>A callback whose error ends with <paramref name="hint"/> (null: a generic hint about the
    /// learning rate, the inputs and the initial weights).</summary>
    public TerminateOnNaNCallback(string? hint = null)
    {
        Hint = hint ?? "try a lower learning rate (e.g. 10x lower), and check the inputs and the initial weights for NaN or infinite values";
    }

    /// <summary>What the error suggests trying.</summary>
    public string Hint { get; }

    /// <summary>After the Recorder (0), so the validation loss of the phase is there to read.</summary>
    public override int Order => 5;

    /// <summary>Checks a training batch's loss before its backward pass and optimizer step.</summary>
    public override void AfterLoss(Learner learn)
    {
        if (!learn.Training || learn.Loss is null) return;
        float loss = learn.Loss.Item();
        if (!float.IsFinite(loss)) throw Stop(learn, "training", loss, $"batch {learn.Iter} of {learn.NIter}");
    }

    /// <summary>Checks the validation loss of the phase (a mean over every validation item).</summary>
    public override void AfterValidate(Learner learn)
    {
        var v = learn.Recorder.ValidLosses;
        // NaN also stands for "no validation items": only a phase that ran batches is judged
        if (v.Count > 0 && !double.IsFinite(v[^1]) && learn.Data.Valid.BatchCount > 0)
            throw Stop(learn, "validation", v[^1], "the validation set");
    }

    private NativeCnnException Stop(Learner learn, string phase, double loss, string where) =>
        new(string.Create(CultureInfo.InvariantCulture,
            $"the {phase} loss is {(double.IsNaN(loss) ? "NaN" : loss > 0 ? "+infinity" : "-infinity")} at epoch {learn.Epoch}, {where}; training stopped (a finite loss was expected); {Hint}"));
}
