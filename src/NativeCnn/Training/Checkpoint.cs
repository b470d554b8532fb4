// Checkpoints: a Learner's weights and optimizer state in one safetensors file, so training resumes
// exactly where it stopped. Layout (PyTorch names, flattened as fastai's {'model':..., 'opt':...}):
//   model.<state dict name>              every parameter and buffer (e.g. model.0.weight, model.1.running_mean)
//   opt.state.<param name>.<key>         per-parameter state (exp_avg, exp_avg_sq, step; momentum_buffer)
//   __metadata__: opt.type, opt.settings (JSON), opt.param_groups (JSON: lr, momentum, beta2, eps,
//   weight_decay and the parameter names of each group), plus the export-bundle settings when known.
// Must hold: the file is written to a unique temporary file in the target's directory, flushed to
// disk, then moved over the target, so a kill mid-save leaves the old checkpoint (or none), never half
// of one; Load validates the whole file (format, keys, shapes, optimizer type and groups) before it
// changes the model or the optimizer, and every defect names the file. Not saved: the Recorder's
// history and the position inside a fit's schedule, so a run resumes exactly at a fit boundary.
// Mixed precision (ToFp16): the file holds the float32 master weights under the model's names (so it
// loads into a float32 model as well) and the loss scaler's state (mixed_precision.* metadata); Load
// puts the weights into the masters exactly and their float16 casts into the model.
// SaveModelCallback (fastai's) saves one during a fit: the best epoch by a monitored value, or every epoch.
using System.Globalization;
using System.Text.Json;
using NativeCnn.Autograd;
using NativeCnn.IO;
using NativeCnn.Optim;

namespace NativeCnn.Training;

/// <summary>What <see cref="Checkpoint.Load"/> found in a file.</summary>
public sealed record CheckpointInfo(bool HasOptimizer, string? OptimizerType, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Training checkpoints: weights (float32 masters in mixed precision), optimizer state and settings, and the bundle settings when known, in one safetensors file written atomically; loading refuses a file that does not fit.</summary>
public static class Checkpoint
{
    /// <summary>The metadata key marking a checkpoint and its format version.</summary>
    public const string FormatKey = "nativecnn.checkpoint", FormatVersion = "1";
    private const string ModelPrefix = "model.", StatePrefix = "opt.state.";
    private const string LossScaleKey = "mixed_precision.loss_scale", CleanStepsKey = "mixed_precision.clean_steps";

    // A group's settings under snake_case names as in torch's param_groups ("momentum" is beta1 for Adam/AdamW).
    private sealed record GroupRecord(float Lr, float Momentum, float Beta2, float Eps, float WeightDecay, string[] Params);

    private static readonly JsonSerializerOptions Snake = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Saves the model's state dict and (with <paramref name="withOpt"/>, when the optimizer exists)
    /// its state to <paramref name="path"/>, atomically. <paramref name="metadata"/> adds string entries; the
    /// export-bundle settings (architecture, classes, statistics, ...) are added when they are known.</summary>
    public static void Save(Learner learn, string path, bool withOpt = true, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(learn);
        ArgumentNullException.ThrowIfNull(path);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in learn.FullPrecisionStateDict()) tensors[ModelPrefix + name] = t;   // float32 masters in mixed precision
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { [FormatKey] = FormatVersion };
        if (learn.MixedPrecision() is { } mp)
        {
            meta[LossScaleKey] = Num(mp.Scaler.Scale);
            meta[CleanStepsKey] = mp.Scaler.CleanSteps.ToString(CultureInfo.InvariantCulture);
        }
        if (ExportBundle.TryDescribe(learn) is { } bundle)
            foreach (var (k, v) in bundle.ToMetadata()) meta[k] = v;
        if (metadata is not null)
            foreach (var (k, v) in metadata) meta[k] = v;
        if (withOpt && learn.Opt is { } opt)
        {
            var names = ParamNames(learn);
            var groups = new List<GroupRecord>();
            foreach (var g in opt.ParamGroups)
            {
                var ps = g.Parameters.Select(p => names.TryGetValue(p, out var n) ? n
                    : throw new NativeCnnException($"checkpoint '{path}': the optimizer holds a parameter of shape {Shape.Format(p.ShapeArray)} that is not in the model")).ToArray();
                groups.Add(new GroupRecord(g.Lr, g.Momentum, g.Beta2, g.Eps, g.WeightDecay, ps));
                foreach (var p in g.Parameters)
                    foreach (var (key, value) in opt.GetState(p))
                        tensors[$"{StatePrefix}{names[p]}.{key}"] = value;
            }
            meta["opt.type"] = opt.Name;
            meta["opt.settings"] = JsonSerializer.Serialize(opt.Settings);
            meta["opt.param_groups"] = JsonSerializer.Serialize(groups, Snake);
        }
        var bytes = SafeTensors.Serialize(tensors, meta);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Loads a file written by <see cref="Save"/> into the learner's model and (with
    /// <paramref name="withOpt"/>, when the file has one) its optimizer, made first if the learner has none.
    /// <paramref name="strict"/>: the model's keys must match the file's exactly. A file saved without an
    /// optimizer leaves the optimizer as it is (see <see cref="CheckpointInfo.HasOptimizer"/>).</summary>
    public static CheckpointInfo Load(Learner learn, string path, bool withOpt = true, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(learn);
        ArgumentNullException.ThrowIfNull(path);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var all = SafeTensors.Load(path, learn.Model.Device, meta);
        if (!meta.TryGetValue(FormatKey, out var version))
            throw new NativeCnnException($"checkpoint '{path}' has no '{FormatKey}' metadata: it was not written by Checkpoint.Save (for plain weights use Module.LoadStateDict)");
        if (version != FormatVersion)
            throw new NativeCnnException($"checkpoint '{path}' has format version '{version}', expected '{FormatVersion}'");

        var model = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in all)
        {
            if (k.StartsWith(ModelPrefix, StringComparison.Ordinal)) model[k[ModelPrefix.Length..]] = v;
            else if (k.StartsWith(StatePrefix, StringComparison.Ordinal)) state[k] = v;
            else throw new NativeCnnException($"checkpoint '{path}': tensor '{k}' is neither model.* nor opt.state.*");
        }
        bool hasOpt = meta.TryGetValue("opt.type", out var optType);

        // Everything about the optimizer is checked before the model changes.
        Action? applyOpt = null;
        if (withOpt && hasOpt) applyOpt = PrepareOptimizer(learn, path, optType!, meta, state);

        var mp = learn.MixedPrecision();
        (float Scale, int CleanSteps)? scaler = mp is not null ? ReadScaler(path, meta) : null;

        try { learn.Model.LoadStateDict(model, strict); }
        catch (NativeCnnException e) { throw new NativeCnnException($"checkpoint '{path}': {e.Message}"); }
        if (mp is not null)
        {
            // the masters take the file's values exactly (the model holds their float16 casts)
            using var _ = new NoGrad();
            foreach (var (name, p) in learn.Model.NamedParameters())
                if (mp.MasterOf(p) is { } master && model.TryGetValue(name, out var value)) master.CopyFrom(value);
            if (scaler is var (scale, clean)) mp.Scaler.Restore(scale, clean);
        }
        applyOpt?.Invoke();
        return new CheckpointInfo(hasOpt, optType, meta);
    }

    /// <summary>The model state (names without the "model." prefix, on the CPU) and the metadata of a
    /// checkpoint, without a Learner (e.g. to export it as a bundle).</summary>
    public static (Dictionary<string, Tensor> Model, Dictionary<string, string> Metadata) Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var all = SafeTensors.Load(path, null, meta);
        if (meta.GetValueOrDefault(FormatKey) != FormatVersion)
            throw new NativeCnnException($"checkpoint '{path}' has no '{FormatKey}' = '{FormatVersion}' metadata: it was not written by Checkpoint.Save");
        var model = all.Where(p => p.Key.StartsWith(ModelPrefix, StringComparison.Ordinal))
            .ToDictionary(p => p.Key[ModelPrefix.Length..], p => p.Value, StringComparer.Ordinal);
        return (model, meta);
    }

    private static Action PrepareOptimizer(Learner learn, string path, string optType, Dictionary<string, string> meta, Dictionary<string, Tensor> state)
    {
        string Fail(string problem) => $"checkpoint '{path}': {problem}";
        GroupRecord[] groups;
        try
        {
            groups = JsonSerializer.Deserialize<GroupRecord[]>(meta.GetValueOrDefault("opt.param_groups") ?? "null", Snake) ?? throw new JsonException("missing");
        }
        catch (JsonException e) { throw new NativeCnnException(Fail($"metadata 'opt.param_groups' is not a list of groups ({e.Message})")); }
        if (groups.Length == 0 || groups.Any(g => g?.Params is null))
            throw new NativeCnnException(Fail("metadata 'opt.param_groups' has an empty or malformed group"));

        var opt = learn.Opt;
        if (opt is not null && opt.Name != optType)
            throw new NativeCnnException(Fail($"holds {optType} state but the learner's optimizer is {opt.Name}"));
        opt ??= learn.CreateOpt(groups[0].Lr);
        if (opt.Name != optType)
            throw new NativeCnnException(Fail($"holds {optType} state but the learner's optimizer factory makes {opt.Name}"));
        var fileSettings = meta.GetValueOrDefault("opt.settings") ?? "{}";
        var ownSettings = JsonSerializer.Serialize(opt.Settings);
        if (fileSettings != ownSettings)
            throw new NativeCnnException(Fail($"was saved with {optType} settings {fileSettings}, the learner's optimizer has {ownSettings}"));
        if (groups.Length != opt.ParamGroups.Count)
            throw new NativeCnnException(Fail($"has {groups.Length} parameter group(s), the learner's optimizer has {opt.ParamGroups.Count} (freeze or unfreeze the learner as it was when saved)"));

        var names = ParamNames(learn);
        var perParam = new List<(Tensor Param, Dictionary<string, Tensor> Values, string Name)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int g = 0; g < groups.Length; g++)
        {
            var ps = opt.ParamGroups[g].Parameters;
            var own = ps.Select(p => names.TryGetValue(p, out var n) ? n : throw new NativeCnnException(Fail($"the optimizer holds a parameter of shape {Shape.Format(p.ShapeArray)} that is not in the model"))).ToArray();
            if (!own.SequenceEqual(groups[g].Params))
                throw new NativeCnnException(Fail($"group {g} holds parameters [{string.Join(", ", groups[g].Params)}], the learner's group {g} holds [{string.Join(", ", own)}]"));
            for (int i = 0; i < ps.Count; i++)
            {
                string prefix = $"{StatePrefix}{own[i]}.";
                var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var (k, v) in state)
                    if (k.StartsWith(prefix, StringComparison.Ordinal) && !k[prefix.Length..].Contains('.'))
                    {
                        values[k[prefix.Length..]] = v;
                        used.Add(k);
                    }
                foreach (var (k, v) in values)
                    if (k != "step" && !Shape.Equal(v.ShapeArray, ps[i].ShapeArray))
                        throw new NativeCnnException(Fail($"'{prefix}{k}' has shape {Shape.Format(v.ShapeArray)}, the parameter '{own[i]}' has {Shape.Format(ps[i].ShapeArray)}"));
                perParam.Add((ps[i], values, own[i]));
            }
        }
        var stray = state.Keys.Where(k => !used.Contains(k)).ToList();
        if (stray.Count > 0)
            throw new NativeCnnException(Fail($"optimizer state for parameters the learner's optimizer does not hold: {string.Join(", ", stray.Take(5))}{(stray.Count > 5 ? ", ..." : "")}"));

        return () =>
        {
            foreach (var (p, values, name) in perParam) opt.SetState(p, values, $"checkpoint '{path}' ({name})");
            for (int g = 0; g < groups.Length; g++)
            {
                var pg = opt.ParamGroups[g];
                pg.Lr = groups[g].Lr;
                pg.Momentum = groups[g].Momentum;
                pg.Beta2 = groups[g].Beta2;
                pg.Eps = groups[g].Eps;
                pg.WeightDecay = groups[g].WeightDecay;
            }
        };
    }

    /// <summary>Each model parameter's name, and, in mixed precision, its float32 master's (the one the
    /// optimizer steps) under the same name.</summary>
    private static Dictionary<Tensor, string> ParamNames(Learner learn)
    {
        var names = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        var mp = learn.MixedPrecision();
        foreach (var (n, p) in learn.Model.NamedParameters())
        {
            names[p] = n;
            if (mp?.MasterOf(p) is { } master) names[master] = n;
        }
        return names;
    }

    /// <summary>The loss scaler's state recorded by a mixed-precision save, or null if the file has none.</summary>
    private static (float Scale, int CleanSteps)? ReadScaler(string path, Dictionary<string, string> meta)
    {
        if (!meta.TryGetValue(LossScaleKey, out var s)) return null;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var scale) || !(scale >= 1f) || float.IsInfinity(scale))
            throw new NativeCnnException($"checkpoint '{path}': metadata '{LossScaleKey}' is '{s}', expected a finite number >= 1");
        var c = meta.GetValueOrDefault(CleanStepsKey) ?? "0";
        if (!int.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out var clean) || clean < 0)
            throw new NativeCnnException($"checkpoint '{path}': metadata '{CleanStepsKey}' is '{c}', expected a count >= 0");
        return (scale, clean);
    }

    internal static string Num(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>learn.Save(path) / learn.Load(path), as fastai's learn.save / learn.load (with a full path).</summary>
public static class CheckpointExtensions
{
    /// <summary>Saves the model (and, with <paramref name="withOpt"/>, the optimizer state) to <paramref name="path"/>, atomically.</summary>
    public static void Save(this Learner learn, string path, bool withOpt = true) => Checkpoint.Save(learn, path, withOpt);

    /// <summary>Loads a checkpoint written by Save into this learner; with <paramref name="withOpt"/> the optimizer state too; <paramref name="strict"/> requires every key to match.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">The file is not a checkpoint or does not fit the model.</exception>
    public static CheckpointInfo Load(this Learner learn, string path, bool withOpt = true, bool strict = true) => Checkpoint.Load(learn, path, withOpt, strict);
}
