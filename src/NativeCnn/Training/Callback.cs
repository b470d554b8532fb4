// Callbacks: everything a Learner does beyond forward, loss, backward and step (schedules, recording,
// metrics, printing) hooks into the core loop's events. Callbacks run in ascending Order (stable for
// equal orders, so the order they were added breaks ties). A callback cancels part of the loop by
// throwing one of the Cancel*Exception types: the loop catches it at the matching level, still
// raises that level's After* event, and goes on with the next batch / epoch (or ends the fit).
namespace NativeCnn.Training;

/// <summary>A hook into the Learner's loop; override only the events you need.</summary>
public abstract class Callback
{
    /// <summary>Lower runs first. Schedules use -10 (set hyper-parameters before anything reads them),
    /// the Recorder 0, metrics 10, printers 20.</summary>
    public virtual int Order => 0;

    /// <summary>Once at the start of a fit, after the optimizer is made and before the first epoch.</summary>
    public virtual void BeforeFit(Learner learn) { }
    /// <summary>At the start of each epoch (<see cref="Learner.Epoch"/> set).</summary>
    public virtual void BeforeEpoch(Learner learn) { }
    /// <summary>Before the training phase of an epoch; the model is in training mode.</summary>
    public virtual void BeforeTrain(Learner learn) { }
    /// <summary>Before each batch (train and valid); <see cref="Learner.XB"/> and <see cref="Learner.YB"/> are set and XB may be replaced.</summary>
    public virtual void BeforeBatch(Learner learn) { }
    /// <summary>After the forward pass; <see cref="Learner.Pred"/> is set and may be replaced.</summary>
    public virtual void AfterPred(Learner learn) { }
    /// <summary>After the loss is computed (<see cref="Learner.Loss"/>), before backward.</summary>
    public virtual void AfterLoss(Learner learn) { }
    /// <summary>Training batches only: after backward, gradients are in each parameter's Grad; before the optimizer step.</summary>
    public virtual void AfterBackward(Learner learn) { }
    /// <summary>Training batches only: after the optimizer step.</summary>
    public virtual void AfterStep(Learner learn) { }
    /// <summary>At the end of each batch, train or valid (also after a <see cref="CancelBatchException"/>).</summary>
    public virtual void AfterBatch(Learner learn) { }
    /// <summary>After the training phase of an epoch (also after a <see cref="CancelTrainException"/>).</summary>
    public virtual void AfterTrain(Learner learn) { }
    /// <summary>Before validation; the model is in evaluation mode under NoGrad.</summary>
    public virtual void BeforeValidate(Learner learn) { }
    /// <summary>After validation (also after a <see cref="CancelValidException"/>).</summary>
    public virtual void AfterValidate(Learner learn) { }
    /// <summary>At the end of each epoch (also after a <see cref="CancelEpochException"/>).</summary>
    public virtual void AfterEpoch(Learner learn) { }
    /// <summary>Once at the end of a fit (also after a <see cref="CancelFitException"/>; not when a CancellationToken stopped it).</summary>
    public virtual void AfterFit(Learner learn) { }
    /// <summary>Once when an exception leaves the fit instead of <see cref="AfterFit"/> (a NaN loss stopped it, a
    /// data file failed, a CancellationToken cancelled it), before the exception reaches the caller: for displays to
    /// tidy up (a progress bar clears its lines so the error is not printed beneath them). The model and optimizer
    /// are as the failure left them; a handler must not train, and an exception it throws is ignored so the
    /// original one is the one the caller sees.</summary>
    public virtual void FitFailed(Learner learn, Exception error) { }
}

/// <summary>Skips the rest of the current batch (no backward or step if thrown before them); AfterBatch still runs.</summary>
public sealed class CancelBatchException : Exception
{
    /// <summary>The exception, with the message "batch cancelled".</summary>
    public CancelBatchException() : base("batch cancelled") { }
}

/// <summary>Ends the training phase of this epoch; AfterTrain runs, then validation.</summary>
public sealed class CancelTrainException : Exception
{
    /// <summary>The exception, with the message "training phase cancelled".</summary>
    public CancelTrainException() : base("training phase cancelled") { }
}

/// <summary>Ends the validation phase of this epoch; AfterValidate runs.</summary>
public sealed class CancelValidException : Exception
{
    /// <summary>The exception, with the message "validation cancelled".</summary>
    public CancelValidException() : base("validation cancelled") { }
}

/// <summary>Ends the current epoch; AfterEpoch runs, then the next epoch begins.</summary>
public sealed class CancelEpochException : Exception
{
    /// <summary>The exception, with the message "epoch cancelled".</summary>
    public CancelEpochException() : base("epoch cancelled") { }
}

/// <summary>Ends the fit; AfterFit runs.</summary>
public sealed class CancelFitException : Exception
{
    /// <summary>The exception, with the message "fit cancelled".</summary>
    public CancelFitException() : base("fit cancelled") { }
}
