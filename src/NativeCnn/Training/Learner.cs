// The Learner: a model, its data, a loss, metrics and an optimizer, and the core loop
// fit -> epoch -> (train, validate) -> batch that raises events to ordered callbacks. Schedules,
// recording and printing are callbacks (the Recorder is added by default, as in fastai v1).
// Must hold: every batch (train and valid) runs inside its own MemoryScope, so after warm-up a step
// allocates no new buffers, and the batch's tensors (XB, YB, Pred, Loss) are only valid during its
// events; validation runs in Eval mode under NoGrad; nothing here reads a device value on the host
// (the Recorder sums losses on the device and reads them at the end of each phase).
using NativeCnn.Autograd;
using NativeCnn.Backends;
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Training;

public sealed class Learner
{
    private readonly List<Callback> _callbacks = new();
    private Callback[] _active = Array.Empty<Callback>();

    /// <summary>fastai v1's default optimizer: AdamW, betas (0.9, 0.99), eps 1e-8, decoupled weight decay 1e-2.</summary>
    public static readonly Func<IEnumerable<Tensor>, float, Optimizer> DefaultOptimizer =
        (ps, lr) => new AdamW(ps, lr: lr, beta1: 0.9f, beta2: 0.99f, eps: 1e-8f, weightDecay: 1e-2f);

    /// <summary>A learner; <paramref name="lossFunc"/> maps (predictions, targets) to a scalar loss (e.g. F.CrossEntropy),
    /// <paramref name="optFunc"/> (parameters, lr) to an optimizer (null: <see cref="DefaultOptimizer"/>).</summary>
    public Learner(DataBunch data, Module model, Func<Tensor, Tensor, Tensor> lossFunc, IEnumerable<Metric>? metrics = null,
                   Func<IEnumerable<Tensor>, float, Optimizer>? optFunc = null)
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
    }

    public DataBunch Data { get; }
    public Module Model { get; }
    public Func<Tensor, Tensor, Tensor> LossFunc { get; }
    public IReadOnlyList<Metric> Metrics { get; }
    public Func<IEnumerable<Tensor>, float, Optimizer> OptFunc { get; }
    /// <summary>Made by the first fit (or <see cref="CreateOpt"/>) and kept across fits with its state.</summary>
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

    /// <summary>Makes the optimizer over the model's parameters (once); later fits reuse it.</summary>
    public Optimizer CreateOpt(float lr)
    {
        if (Opt is null) Opt = OptFunc(Model.Parameters(), lr) ?? throw new NativeCnnException("Learner: the optimizer factory returned null");
        return Opt;
    }

    /// <summary>Trains <paramref name="epochs"/> epochs at the constant learning rate <paramref name="lr"/> in every group.</summary>
    public void Fit(int epochs, float lr, params Callback[] extra)
    {
        CheckLr(lr, "Fit");
        var opt = CreateOpt(lr);
        foreach (var g in opt.ParamGroups) g.Lr = lr;
        RunFit(epochs, extra);
    }

    /// <summary>fastai's fit_one_cycle: per batch, lr cosine from maxLr/divFactor up to maxLr over the first
    /// pctStart of the steps, then down to maxLr/finalDiv; momentum (beta1) from moms.Start to moms.Mid and back.</summary>
    public void FitOneCycle(int epochs, float maxLr, (float Start, float Mid)? moms = null, float divFactor = 25f,
                            float pctStart = 0.3f, float finalDiv = 25e4f, params Callback[] extra)
    {
        CheckLr(maxLr, "FitOneCycle");
        CreateOpt(maxLr);
        var sched = new OneCycleScheduler(maxLr, moms ?? (0.95f, 0.85f), divFactor, pctStart, finalDiv);
        RunFit(epochs, extra.Prepend(sched).ToArray());
    }

    private static void CheckLr(float lr, string where)
    {
        if (!(lr > 0) || float.IsInfinity(lr)) throw new NativeCnnException($"Learner.{where}: lr must be finite and > 0, got {lr}");
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
