// The Learner: a model, its data, a loss, metrics and an optimizer, and the core loop
// fit -> epoch -> (train, validate) -> batch that raises events to ordered callbacks. Schedules,
// recording and printing are callbacks (the Recorder is added by default, as in fastai v1).
// Must hold: every batch (train and valid) runs inside its own MemoryScope, so after warm-up a step
// allocates no new buffers, and the batch's tensors (XB, YB, Pred, Loss) are only valid during its
// events; validation runs in Eval mode under NoGrad; nothing here reads a device value on the host
// (the Recorder sums losses on the device and reads them at the end of each phase).
// Layer groups, freezing and the lr finder live in LearnerLayerGroups.cs and LrFinder.cs.
using NativeCnn.Autograd;
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Training;

public sealed partial class Learner
{
    private readonly List<Callback> _callbacks = new();
    private Callback[] _active = Array.Empty<Callback>();

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

    public DataBunch Data { get; set => field = value ?? throw new NativeCnnException("Learner.Data: the data is null; expected a DataBunch"); }
    public Module Model { get; }
    public Func<Tensor, Tensor, Tensor> LossFunc { get; }
    public IReadOnlyList<Metric> Metrics { get; }
    /// <summary>Makes the optimizer from one ParamGroup per layer group (the group's trainable parameters) and an lr.</summary>
    public Func<IEnumerable<ParamGroup>, float, Optimizer> OptFunc { get; }
    /// <summary>Made by the first fit (or <see cref="CreateOpt"/>) and kept across fits with its state; Split,
    /// Freeze, FreezeTo and Unfreeze drop it, so the next fit makes a fresh one (fastai v1's create_opt).</summary>
    public Optimizer? Opt { get; private set; }
    public Recorder Recorder { get; }
    public IReadOnlyList<Callback> Callbacks => _callbacks;

    // The loop's state, readable by callbacks.
    public int NEpochs { get; private set; }
    public int Epoch { get; private set; }
    /// <summary>Index of the current batch within the current phase (train or valid).</summary>
    public int Iter { get; private set; }
    /// <summary>Batches in the current phase.</summary>
    public int NIter { get; private set; }
    /// <summary>Training batches run so far in this fit (the schedule's step).</summary>
    public int TrainIter { get; private set; }
    /// <summary>Training batches in the whole fit: NEpochs x train batches per epoch.</summary>
    public int TotalTrainSteps { get; private set; }
    public bool Training { get; private set; }
    /// <summary>The batch's input; a callback may replace it in BeforeBatch (mixed precision casts it to float16).</summary>
    public Tensor? XB { get; set; }
    public Tensor? YB { get; private set; }
    /// <summary>The model's output; a callback may replace it in AfterPred (mixed precision casts it to float32).</summary>
    public Tensor? Pred { get; set; }
    public Tensor? Loss { get; private set; }

    public Learner AddCallback(Callback cb)
    {
        _callbacks.Add(cb ?? throw new NativeCnnException("Learner.AddCallback: the callback is null"));
        return this;
    }

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
    public void Fit(int epochs, LrRange lr, params Callback[] extra)
    {
        CheckLr(lr, "Fit");
        var opt = CreateOpt((float)lr.Hi);
        var lrs = lr.For(opt.ParamGroups.Count);
        for (int i = 0; i < lrs.Length; i++) opt.ParamGroups[i].Lr = (float)lrs[i];
        RunFit(epochs, extra);
    }

    /// <summary>fit_one_cycle with PyTorch OneCycleLR's step formula: per batch, lr cosine from maxLr/divFactor up to
    /// maxLr over the first pctStart of the steps, then down to maxLr/finalDiv (fastai's final_div; torch's
    /// final_div_factor is finalDiv/divFactor); momentum (beta1) from moms.Start to moms.Mid and back. maxLr is one
    /// value or a slice over the layer groups; each group follows the schedule with its own peak.</summary>
    public void FitOneCycle(int epochs, LrRange maxLr, (double Start, double Mid)? moms = null, double divFactor = 25,
                            double pctStart = 0.3, double finalDiv = 25e4, params Callback[] extra)
    {
        CheckLr(maxLr, "FitOneCycle");
        CreateOpt((float)maxLr.Hi);
        var sched = new OneCycleScheduler(maxLr, moms ?? (0.95, 0.85), divFactor, pctStart, finalDiv);
        RunFit(epochs, extra.Prepend(sched).ToArray());
    }

    private static void CheckLr(LrRange lr, string where)
    {
        if (!(lr.Hi > 0) || double.IsInfinity(lr.Hi)) throw new NativeCnnException($"Learner.{where}: lr must be finite and > 0, got {lr.Hi}");
    }

    private void RunFit(int epochs, Callback[] extra)
    {
        Check.Positive(epochs, "Learner: epochs");
        foreach (var cb in extra) if (cb is null) throw new NativeCnnException("Learner: an extra callback is null");
        // OrderBy is stable: equal orders keep the order they were added in.
        _active = _callbacks.Concat(extra).OrderBy(c => c.Order).ToArray();
        NEpochs = epochs;
        TrainIter = 0;
        TotalTrainSteps = epochs * Data.Train.BatchCount;
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
        finally
        {
            Model.Train();
            _active = Array.Empty<Callback>();
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
            foreach (var (x, y) in Data.Train.Epoch()) RunBatch(x, y);
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
                    foreach (var (x, y) in Data.Valid.Epoch()) RunBatch(x, y);
                }
                catch (CancelValidException) { }
                Raise(static (c, l) => c.AfterValidate(l));
            }
        }
        finally { Model.Train(); }
    }

    private void RunBatch(Tensor x, Tensor y)
    {
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
    }

    private void Raise(Action<Callback, Learner> evt)
    {
        foreach (var cb in _active) evt(cb, this);
    }
}
