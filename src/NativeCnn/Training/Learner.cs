// The Learner: a model, its data, a loss, metrics and an optimizer, and the core loop
// fit -> epoch -> (train, validate) -> batch that raises events to ordered callbacks. Schedules,
// recording and printing are callbacks (the Recorder is added by default, as in fastai v1).
// Must hold: every batch (train and valid) runs inside its own MemoryScope, so after warm-up a step
// allocates no new buffers, and the batch's tensors (XB, YB, Pred, Loss) are only valid during its
// events; validation runs in Eval mode under NoGrad; nothing here reads a device value on the host
// (the Recorder sums losses on the device and reads them at the end of each phase).
// Cancelling (a CancellationToken) is checked before each batch: the batch under way finishes, no further
// event is raised (not even AfterFit, so no callback can move the weights), and OperationCanceledException
// reaches the caller with the model and optimizer as after the last completed step. Any exception leaving a fit
// (a cancellation included) raises FitFailed, not AfterFit, so displays can tidy up before it reaches the caller.
// Layer groups, freezing and the lr finder live in LearnerLayerGroups.cs and LrFinder.cs; export, load
// and predict in LearnerExport.cs.
using NativeCnn.Autograd;
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Training;

/// <summary>fastai's Learner: a model, its data, a loss, metrics and an optimizer, with the training loop (fit -> epoch -> batch) that raises events to ordered callbacks; one-cycle and constant-rate fits, the lr finder, layer groups and freezing, mixed precision, export and prediction.</summary>
public sealed partial class Learner
{
    private readonly List<Callback> _callbacks = new();
    private Callback[] _active = Array.Empty<Callback>();
    private CancellationToken _cancel;
    private IProgress<FitProgress>? _progress;

    /// <summary>fastai v1's default optimizer: AdamW, betas (0.9, 0.99), eps 1e-8, decoupled weight decay 1e-2.</summary>
    public static readonly Func<IEnumerable<ParamGroup>, float, Optimizer> DefaultOptimizer =
        (ps, lr) => new AdamW(ps, lr: lr, beta1: 0.9f, beta2: 0.99f, eps: 1e-8f, weightDecay: 1e-2f);

    /// <summary>A learner; <paramref name="lossFunc"/> maps (predictions, targets) to a scalar loss (e.g. F.CrossEntropy),
    /// <paramref name="optFunc"/> (parameter groups, one per layer group, lr) to an optimizer (null: <see cref="DefaultOptimizer"/>).</summary>
    public Learner(DataBunch data, Module model, Func<Tensor, Tensor, Tensor> lossFunc, IEnumerable<Metric>? metrics = null,
                   Func<IEnumerable<ParamGroup>, float, Optimizer>? optFunc = null)
    {
        Data = data ?? throw new NativeCnnException("Learner: data is null; expected a DataBunch");
        Model = model ?? throw new NativeCnnException("Learner: model is null; expected a Module");
        LossFunc = lossFunc ?? throw new NativeCnnException("Learner: lossFunc is null; expected (pred, target) -> loss");
        Metrics = (metrics ?? Array.Empty<Metric>()).ToList();
        for (int i = 0; i < Metrics.Count; i++)
            if (Metrics[i] is null) throw new NativeCnnException($"Learner: metric {i} is null");
        OptFunc = optFunc ?? DefaultOptimizer;
        Recorder = new Recorder();
        _callbacks.Add(Recorder);
        _layerGroups = new[] { (IReadOnlyList<Module>)new[] { Model } };
    }

    /// <summary>The train and valid batches; may be replaced between fits (progressive resizing, fine-tuning on new data).</summary>
    public DataBunch Data { get; set => field = value ?? throw new NativeCnnException("Learner.Data: the data is null; expected a DataBunch"); }
    /// <summary>The model being trained.</summary>
    public Module Model { get; }
    /// <summary>Maps (predictions, targets) to a scalar loss, e.g. F.CrossEntropy.</summary>
    public Func<Tensor, Tensor, Tensor> LossFunc { get; }
    /// <summary>The metrics computed over the validation set after each epoch.</summary>
    public IReadOnlyList<Metric> Metrics { get; }
    /// <summary>Makes the optimizer from one ParamGroup per layer group (the group's trainable parameters) and an lr.</summary>
    public Func<IEnumerable<ParamGroup>, float, Optimizer> OptFunc { get; }
    /// <summary>Made by the first fit (or <see cref="CreateOpt"/>) and kept across fits with its state; Split,
    /// Freeze, FreezeTo and Unfreeze drop it, so the next fit makes a fresh one (fastai v1's create_opt).</summary>
    public Optimizer? Opt { get; private set; }
    /// <summary>The always-present <see cref="Training.Recorder"/>: losses, learning rates and metrics of every fit.</summary>
    public Recorder Recorder { get; }
    /// <summary>The callbacks added with <see cref="AddCallback"/> (the Recorder first), used by every fit.</summary>
    public IReadOnlyList<Callback> Callbacks => _callbacks;

    // The loop's state, readable by callbacks.
    /// <summary>Epochs of the current fit.</summary>
    public int NEpochs { get; private set; }
    /// <summary>The current epoch of the fit, from 0.</summary>
    public int Epoch { get; private set; }
    /// <summary>Index of the current batch within the current phase (train or valid).</summary>
    public int Iter { get; private set; }
    /// <summary>Batches in the current phase.</summary>
    public int NIter { get; private set; }
    /// <summary>Training batches run so far in this fit (the schedule's step).</summary>
    public int TrainIter { get; private set; }
    /// <summary>Training batches in the whole fit: NEpochs x train batches per epoch.</summary>
    public int TotalTrainSteps { get; private set; }
    /// <summary>True in the training phase of an epoch, false in validation.</summary>
    public bool Training { get; private set; }
    /// <summary>The batch's input; a callback may replace it in BeforeBatch (mixed precision casts it to float16).</summary>
    public Tensor? XB { get; set; }
    /// <summary>The current batch's targets (valid during its events only).</summary>
    public Tensor? YB { get; private set; }
    /// <summary>The model's output; a callback may replace it in AfterPred (mixed precision casts it to float32).</summary>
    public Tensor? Pred { get; set; }
    /// <summary>The current batch's loss, a scalar on the device (valid during its events only).</summary>
    public Tensor? Loss { get; private set; }

    /// <summary>Adds <paramref name="cb"/> to every later fit; returns this learner for chaining.</summary>
    /// <exception cref="ArgumentException">cb is null.</exception>
    public Learner AddCallback(Callback cb)
    {
        _callbacks.Add(cb ?? throw new NativeCnnException("Learner.AddCallback: the callback is null"));
        return this;
    }

    /// <summary>Removes <paramref name="cb"/>; false if it was not added.</summary>
    public bool RemoveCallback(Callback cb) => _callbacks.Remove(cb);

    /// <summary>Makes the optimizer (once; later fits reuse it until Split/Freeze/Unfreeze): one ParamGroup per
    /// layer group holding that group's parameters with RequiresGrad (frozen ones are left out, so they never move).</summary>
    public Optimizer CreateOpt(float lr)
    {
        Opt ??= OptFunc(TrainableGroups(), lr) ?? throw new NativeCnnException("Learner: the optimizer factory returned null");
        return Opt;
    }

    /// <summary>Trains <paramref name="epochs"/> epochs at a constant learning rate: one value for every group,
    /// or a slice over the groups (<see cref="LrRange.Slice(double)"/>, <see cref="LrRange.Slice(double, double)"/>).</summary>
    public void Fit(int epochs, LrRange lr, params Callback[] extra) => Fit(epochs, lr, default, null, extra);

    /// <summary>As <see cref="Fit(int, LrRange, Callback[])"/>, stopping when <paramref name="cancellationToken"/> is
    /// cancelled and reporting to <paramref name="progress"/> after every training batch and every epoch.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled: the batch under way finished, the model and
    /// optimizer are as after it, and no further callback event ran.</exception>
    public void Fit(int epochs, LrRange lr, CancellationToken cancellationToken, IProgress<FitProgress>? progress = null, params Callback[] extra)
    {
        CheckLr(lr, "Fit");
        var opt = CreateOpt((float)lr.Hi);
        var lrs = lr.For(opt.ParamGroups.Count);
        for (int i = 0; i < lrs.Length; i++) opt.ParamGroups[i].Lr = (float)lrs[i];
        RunFit(epochs, extra, cancellationToken, progress);
    }

    /// <summary>fit_one_cycle with PyTorch OneCycleLR's step formula: per batch, lr cosine from maxLr/divFactor up to
    /// maxLr over the first pctStart of the steps, then down to maxLr/finalDiv (fastai's final_div; torch's
    /// final_div_factor is finalDiv/divFactor); momentum (beta1) from moms.Start to moms.Mid and back. maxLr is one
    /// value or a slice over the layer groups; each group follows the schedule with its own peak.</summary>
    public void FitOneCycle(int epochs, LrRange maxLr, (double Start, double Mid)? moms = null, double divFactor = 25,
                            double pctStart = 0.3, double finalDiv = 25e4, params Callback[] extra)
        => FitOneCycle(epochs, maxLr, default, null, moms, divFactor, pctStart, finalDiv, extra);

    /// <summary>As <see cref="FitOneCycle(int, LrRange, ValueTuple{double, double}?, double, double, double, Callback[])"/>,
    /// stopping when <paramref name="cancellationToken"/> is cancelled and reporting to <paramref name="progress"/>
    /// after every training batch and every epoch.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled: the batch under way finished, the model and
    /// optimizer are as after it, and no further callback event ran.</exception>
    public void FitOneCycle(int epochs, LrRange maxLr, CancellationToken cancellationToken, IProgress<FitProgress>? progress = null,
                            (double Start, double Mid)? moms = null, double divFactor = 25, double pctStart = 0.3, double finalDiv = 25e4,
                            params Callback[] extra)
    {
        CheckLr(maxLr, "FitOneCycle");
        CreateOpt((float)maxLr.Hi);
        var sched = new OneCycleScheduler(maxLr, moms ?? (0.95, 0.85), divFactor, pctStart, finalDiv);
        RunFit(epochs, extra.Prepend(sched).ToArray(), cancellationToken, progress);
    }

    private static void CheckLr(LrRange lr, string where)
    {
        if (!(lr.Hi > 0) || double.IsInfinity(lr.Hi)) throw new NativeCnnException($"Learner.{where}: lr must be finite and > 0, got {lr.Hi}");
    }

    private void RunFit(int epochs, Callback[] extra, CancellationToken cancel = default, IProgress<FitProgress>? progress = null)
    {
        Check.Positive(epochs, "Learner: epochs");
        ArgumentNullException.ThrowIfNull(extra);
        cancel.ThrowIfCancellationRequested();
        foreach (var cb in extra) if (cb is null) throw new NativeCnnException("Learner: an extra callback is null");
        // OrderBy is stable: equal orders keep the order they were added in.
        _active = _callbacks.Concat(extra).OrderBy(c => c.Order).ToArray();
        NEpochs = epochs;
        TrainIter = 0;
        TotalTrainSteps = epochs * Data.Train.BatchCount;
        _cancel = cancel;
        _progress = progress;
        try
        {
            try
            {
                Raise(static (c, l) => c.BeforeFit(l));
                for (Epoch = 0; Epoch < epochs; Epoch++) RunEpoch();
            }
            catch (CancelFitException) { }
            Raise(static (c, l) => c.AfterFit(l));
        }
        catch (Exception error)
        {
            RaiseFitFailed(error);
            throw;
        }
        finally
        {
            Model.Train();
            _active = Array.Empty<Callback>();
            _cancel = default;
            _progress = null;
        }
    }

    private void RunEpoch()
    {
        try
        {
            Raise(static (c, l) => c.BeforeEpoch(l));
            RunTrain();
            RunValidate();
        }
        catch (CancelEpochException) { }
        Raise(static (c, l) => c.AfterEpoch(l));
        if (_progress is { } p)
        {
            var r = Recorder;
            int last = r.TrainLosses.Count - 1;
            p.Report(new FitProgress(Epoch, NEpochs, TrainIter, TotalTrainSteps, EpochEnd: true,
                last >= 0 ? r.TrainLosses[last] : null,
                r.ValidLosses.Count > last && last >= 0 ? r.ValidLosses[last] : null,
                r.MetricValues.Count > last && last >= 0 ? r.MetricNames.Zip(r.MetricValues[last]).ToDictionary(m => m.First, m => m.Second) : null));
        }
    }

    private void RunTrain()
    {
        Training = true;
        Model.Train();
        Iter = 0;
        NIter = Data.Train.BatchCount;
        try
        {
            Raise(static (c, l) => c.BeforeTrain(l));
            foreach (var (x, y) in Data.Train.Epoch(_cancel)) RunBatch(x, y);
        }
        catch (CancelTrainException) { }
        Raise(static (c, l) => c.AfterTrain(l));
    }

    private void RunValidate()
    {
        Training = false;
        Model.Eval();
        Iter = 0;
        NIter = Data.Valid.BatchCount;
        try
        {
            using (new NoGrad())
            {
                try
                {
                    Raise(static (c, l) => c.BeforeValidate(l));
                    foreach (var (x, y) in Data.Valid.Epoch(_cancel)) RunBatch(x, y);
                }
                catch (CancelValidException) { }
                Raise(static (c, l) => c.AfterValidate(l));
            }
        }
        finally { Model.Train(); }
    }

    private void RunBatch(Tensor x, Tensor y)
    {
        // Before any work on the batch: a cancelled fit leaves everything as the last completed step did.
        _cancel.ThrowIfCancellationRequested();
        using (MemoryScope.Begin())
        {
            XB = x;
            YB = y;
            try
            {
                try
                {
                    Raise(static (c, l) => c.BeforeBatch(l));
                    Pred = Model.Forward(XB);
                    Raise(static (c, l) => c.AfterPred(l));
                    Loss = LossFunc(Pred, YB);
                    if (Loss.Numel != 1)
                        throw new NativeCnnException($"Learner: the loss function must return one value, got shape {Shape.Format(Loss.ShapeArray)}");
                    Raise(static (c, l) => c.AfterLoss(l));
                    if (Training)
                    {
                        var opt = Opt!;
                        opt.ZeroGrad();
                        Loss.Backward();
                        Raise(static (c, l) => c.AfterBackward(l));
                        opt.Step();
                        Raise(static (c, l) => c.AfterStep(l));
                    }
                }
                catch (CancelBatchException) { }
                Raise(static (c, l) => c.AfterBatch(l));
            }
            finally
            {
                // The scope takes these buffers back: nothing may read them after the batch.
                XB = YB = Pred = Loss = null;
                Iter++;
                if (Training) TrainIter++;
            }
        }
        if (Training && _progress is { } p)
            p.Report(new FitProgress(Epoch, NEpochs, TrainIter, TotalTrainSteps, EpochEnd: false, null, null, null));
    }

    private void Raise(Action<Callback, Learner> evt)
    {
        foreach (var cb in _active) evt(cb, this);
    }

    /// <summary>Tells every callback the fit failed; what a handler throws is dropped (the caller sees <paramref name="error"/>).</summary>
    private void RaiseFitFailed(Exception error)
    {
        foreach (var cb in _active)
        {
            try { cb.FitFailed(this, error); }
            catch (Exception) { }
        }
    }
}
