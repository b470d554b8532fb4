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

    public virtual void BeforeFit(Learner learn) { }
    public virtual void BeforeEpoch(Learner learn) { }
    public virtual void BeforeTrain(Learner learn) { }
    public virtual void BeforeBatch(Learner learn) { }
    public virtual void AfterPred(Learner learn) { }
    public virtual void AfterLoss(Learner learn) { }
    public virtual void AfterBackward(Learner learn) { }
    public virtual void AfterStep(Learner learn) { }
    public virtual void AfterBatch(Learner learn) { }
    public virtual void AfterTrain(Learner learn) { }
    public virtual void BeforeValidate(Learner learn) { }
    public virtual void AfterValidate(Learner learn) { }
    public virtual void AfterEpoch(Learner learn) { }
    public virtual void AfterFit(Learner learn) { }
}

/// <summary>Skips the rest of the current batch (no backward or step if thrown before them); AfterBatch still runs.</summary>
public sealed class CancelBatchException : Exception { public CancelBatchException() : base("batch cancelled") { } }

/// <summary>Ends the training phase of this epoch; AfterTrain runs, then validation.</summary>
public sealed class CancelTrainException : Exception { public CancelTrainException() : base("training phase cancelled") { } }

/// <summary>Ends the validation phase of this epoch; AfterValidate runs.</summary>
public sealed class CancelValidException : Exception { public CancelValidException() : base("validation cancelled") { } }

/// <summary>Ends the current epoch; AfterEpoch runs, then the next epoch begins.</summary>
public sealed class CancelEpochException : Exception { public CancelEpochException() : base("epoch cancelled") { } }

/// <summary>Ends the fit; AfterFit runs.</summary>
public sealed class CancelFitException : Exception { public CancelFitException() : base("fit cancelled") { } }
