// Mixed-precision training (fastai v1's MixedPrecision / to_fp16, except that an overflow skips the
// step entirely): the model's parameters are float16 except batch norm's (float32 weights and running
// statistics); inputs are cast to float16 and the model's output back to float32 before the loss; every
// trainable parameter has a float32 master copy, and the optimizer steps the masters (its parameter
// slots are swapped for them, keeping groups and state); after each step the masters are cast back
// into the model. Gradients are scaled (LossScaler) so small float16 gradients do not flush to zero;
// after backward one fused pass per parameter unscales them into the masters' gradients and raises a
// device flag on inf/NaN; the host reads that flag once per step.
// Must hold: a step with an overflow changes neither the masters, the model nor the optimizer state;
// masters are refreshed from the model at the start of every fit where the model no longer matches
// them (so a model reloaded between fits, e.g. by the lr finder, is what trains on), and keep their
// float32 precision where it does.
using NativeCnn.Autograd;
using NativeCnn.Nn;

namespace NativeCnn.Training;

/// <summary>Dynamic loss scaling: the scale starts high, halves on every overflow (the step is
/// skipped) and doubles after <see cref="GrowthInterval"/> consecutive clean steps, up to <see cref="MaxScale"/>.</summary>
public sealed class LossScaler
{
    /// <summary>A scaler; defaults as fastai v1: 2^16 to start, doubling after 1,000 clean steps, at most 2^24.</summary>
    public LossScaler(float initScale = 65536f, int growthInterval = 1000, float maxScale = 16777216f)
    {
        if (!(initScale >= 1f) || float.IsInfinity(initScale)) throw new NativeCnnException($"LossScaler: initScale must be finite and >= 1, got {initScale}");
        if (growthInterval < 1) throw new NativeCnnException($"LossScaler: growthInterval must be >= 1 step, got {growthInterval}");
        if (!(maxScale >= initScale) || float.IsInfinity(maxScale)) throw new NativeCnnException($"LossScaler: maxScale must be finite and >= initScale {initScale}, got {maxScale}");
        Scale = initScale;
        GrowthInterval = growthInterval;
        MaxScale = maxScale;
    }

    /// <summary>The factor gradients are multiplied by in backward.</summary>
    public float Scale { get; private set; }
    /// <summary>Clean steps (no overflow) after which the scale doubles.</summary>
    public int GrowthInterval { get; }
    /// <summary>The largest scale allowed.</summary>
    public float MaxScale { get; }
    /// <summary>Clean steps since the last overflow or growth.</summary>
    public int CleanSteps { get; private set; }
    /// <summary>Steps skipped because of an overflow, since this scaler was made.</summary>
    public int SkippedSteps { get; private set; }

    /// <summary>Records one step's outcome and returns true when the step may be applied (no overflow).
    /// An overflow halves the scale (not below 1: at scale 1 an overflow is the model's own inf).</summary>
    public bool Update(bool overflow)
    {
        if (overflow)
        {
            Scale = Math.Max(1f, Scale / 2f);
            CleanSteps = 0;
            SkippedSteps++;
            return false;
        }
        if (++CleanSteps >= GrowthInterval)
        {
            Scale = Math.Min(MaxScale, Scale * 2f);
            CleanSteps = 0;
        }
        return true;
    }

    /// <summary>Resumes a saved state (a checkpoint's): the scale, capped at <see cref="MaxScale"/>, and
    /// the clean steps counted towards the next growth.</summary>
    public void Restore(float scale, int cleanSteps)
    {
        if (!(scale >= 1f) || float.IsInfinity(scale)) throw new NativeCnnException($"LossScaler: a restored scale must be finite and >= 1, got {scale}");
        if (cleanSteps < 0) throw new NativeCnnException($"LossScaler: restored clean steps must be >= 0, got {cleanSteps}");
        Scale = Math.Min(MaxScale, scale);
        CleanSteps = Math.Min(cleanSteps, GrowthInterval - 1);
    }
}

/// <summary>Trains in float16 with float32 master weights and dynamic loss scaling (see <see cref="LearnerMixedPrecision.ToFp16"/>).</summary>
public sealed class MixedPrecision : Callback
{
    private readonly Dictionary<Tensor, Tensor> _masterOf = new(ReferenceEqualityComparer.Instance);
    private readonly List<(Tensor Model, Tensor Master)> _pairs = new();
    private Tensor? _found;
    private bool _converted;

    /// <summary>Mixed precision with <paramref name="scaler"/> (null: a <see cref="LossScaler"/> with its defaults); usually added by <c>learn.ToFp16()</c>.</summary>
    public MixedPrecision(LossScaler? scaler = null) { Scaler = scaler ?? new LossScaler(); }

    /// <summary>The dynamic loss scaler.</summary>
    public LossScaler Scaler { get; }

    /// <summary>The float32 master copies, in the model's parameter order.</summary>
    public IReadOnlyList<Tensor> Masters => _pairs.Select(p => p.Master).ToList();

    /// <summary>The float32 master of a model parameter; null before the first fit made them, or for a
    /// tensor that is not one of the model's parameters.</summary>
    public Tensor? MasterOf(Tensor parameter) => _masterOf.GetValueOrDefault(parameter);

    /// <summary>After the schedules (-10), before the Recorder and metrics: they see the float32 output.</summary>
    public override int Order => -5;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        var opt = learn.Opt ?? throw new NativeCnnException("MixedPrecision: the learner has no optimizer at the start of the fit (call Fit, FitOneCycle or CreateOpt)");
        using var _ = new NoGrad();
        // masters first, from the float32 values, so the first fit loses nothing to float16 rounding
        foreach (var p in learn.Model.Parameters())
        {
            if (_masterOf.TryGetValue(p, out var master)) RefreshMaster(p, master);
            else
            {
                var m = MemoryScope.Outside(() => p.Detach().To(DType.Float32).Clone()).Keep();
                m.RequiresGrad = true;
                _masterOf[p] = m;
                _pairs.Add((p, m));
            }
        }
        if (!_converted)
        {
            ModelToHalf(learn.Model);
            _converted = true;
        }
        for (int g = 0; g < opt.ParamGroups.Count; g++)
        {
            var group = opt.ParamGroups[g];
            for (int i = 0; i < group.Parameters.Count; i++)
                if (_masterOf.TryGetValue(group.Parameters[i], out var m)) group.ReplaceParameter(i, m);
        }
        foreach (var (model, _) in _pairs) Module.ZeroGradOf(model);
        _found ??= MemoryScope.Outside(() => Tensor.Zeros(new[] { 1 }, DType.Float32, learn.Model.Device)).Keep();
    }

    /// <summary>Brings a master in line with its model parameter, which may have been changed between fits
    /// (a checkpoint or the lr finder's restore). A float32 parameter is copied. A float16 one replaces
    /// only the elements where it is no longer the master's float16 cast: a master the model still
    /// matches keeps its full precision (as after every step, and after Checkpoint.Load).</summary>
    private static void RefreshMaster(Tensor model, Tensor master)
    {
        if (model.DType == DType.Float32) { MixedPrecisionOps.CastInto(model, master); return; }
        float[] m = master.ToArray(), h = model.ToArray();
        bool changed = false;
        for (int i = 0; i < m.Length; i++)
            if ((float)(Half)m[i] != h[i] && !(float.IsNaN(m[i]) && float.IsNaN(h[i]))) { m[i] = h[i]; changed = true; }   // the backends' own rounding
        if (changed) master.CopyFrom(MemoryScope.Outside(() => Tensor.FromArray(m, master.ShapeArray, master.Device)));
    }

    /// <summary>Casts every parameter to float16 in place, except those of batch norm layers.</summary>
    public static void ModelToHalf(Module model)
    {
        foreach (var (_, module) in model.NamedModules())
        {
            if (module is BatchNormBase) continue;
            foreach (var (name, p) in module.NamedParameters())
                if (!name.Contains('.')) p.CastInPlace(DType.Float16);   // own parameters only: children are visited themselves
        }
    }

    /// <inheritdoc/>
    public override void BeforeBatch(Learner learn)
    {
        if (learn.XB is { } x && x.DType == DType.Float32) learn.XB = x.To(DType.Float16);
    }

    /// <inheritdoc/>
    public override void AfterPred(Learner learn)
    {
        var pred = learn.Pred!;
        if (pred.DType == DType.Float16) pred = pred.To(DType.Float32);
        if (learn.Training && pred.RequiresGrad) pred = pred.ScaleGradient(Scaler.Scale);
        learn.Pred = pred;
    }

    /// <inheritdoc/>
    public override void AfterBackward(Learner learn)
    {
        var found = _found!;
        float invScale = 1f / Scaler.Scale;
        using (new NoGrad())
        {
            MixedPrecisionOps.Fill(found, 0f);
            foreach (var (model, master) in _pairs)
            {
                if (model.Grad is not { } g) { master.Grad = null; continue; }
                master.Grad ??= MemoryScope.Outside(() => Tensor.Zeros(master.ShapeArray, DType.Float32, master.Device)).Keep();
                MixedPrecisionOps.Unscale(g, master.Grad, invScale, found);
                Module.ZeroGradOf(model);   // the next backward accumulates from zero (the optimizer zeroes only the masters)
            }
        }
        // the one host read of the step
        if (!Scaler.Update(overflow: found.Item() != 0f)) throw new CancelBatchException();
    }

    /// <inheritdoc/>
    public override void AfterStep(Learner learn)
    {
        using var _ = new NoGrad();
        foreach (var (model, master) in _pairs) MixedPrecisionOps.CastInto(master, model);
    }
}

/// <summary>Mixed precision on a Learner: <c>learn.ToFp16()</c> and its helpers.</summary>
public static class LearnerMixedPrecision
{
    /// <summary>Trains this learner in mixed precision (fastai's learn.to_fp16()): from the next fit on,
    /// the model runs in float16 except batch norm and the loss, the optimizer steps float32 master
    /// weights, and the loss is scaled dynamically (starting at <paramref name="initScale"/>, halved and
    /// the step skipped on overflow, doubled after <paramref name="growthInterval"/> clean steps, at most
    /// <paramref name="maxScale"/>). On the CPU the storage is float16 and the arithmetic float32.</summary>
    public static Learner ToFp16(this Learner learn, float initScale = 65536f, int growthInterval = 1000, float maxScale = 16777216f)
    {
        ArgumentNullException.ThrowIfNull(learn);
        if (learn.Callbacks.Any(c => c is MixedPrecision))
            throw new NativeCnnException("ToFp16: this learner already trains in mixed precision");
        learn.AddCallback(new MixedPrecision(new LossScaler(initScale, growthInterval, maxScale)));
        return learn;
    }

    /// <summary>The learner's mixed-precision callback, or null if it trains in float32.</summary>
    public static MixedPrecision? MixedPrecision(this Learner learn) => learn.Callbacks.OfType<MixedPrecision>().FirstOrDefault();

    /// <summary>The model's state dict at full precision: in mixed precision the float32 masters stand in
    /// for the float16 parameters (what checkpoints and export bundles store); otherwise the state dict.</summary>
    public static Dictionary<string, Tensor> FullPrecisionStateDict(this Learner learn)
    {
        ArgumentNullException.ThrowIfNull(learn);
        var state = learn.Model.StateDict();
        if (learn.MixedPrecision() is { } mp)
            foreach (var (name, p) in learn.Model.NamedParameters())
                if (mp.MasterOf(p) is { } master) state[name] = master.Detach();
        return state;
    }
}
