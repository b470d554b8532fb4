// The inference bundle: everything needed to rebuild a trained model and feed it correctly, in one
// folder: model.safetensors (the state dict under PyTorch names, loadable by safetensors.torch, with
// the settings below in its "__metadata__", strings as the format requires) and model.json (the same
// settings under the same keys as nested JSON values, plus every tensor's shape; readable, never read
// back). Settings: architecture name and arguments (Models.Architectures), classes, normalisation
// statistics, input channels and size, how images reach the size, multi-label flag and threshold.
// Any Module exports: a model the registry did not build is recorded as architecture "custom" with its
// type name and module tree (for people reading model.json), and is rebuilt at load time by a factory
// the caller passes (Predictor.Load(dir, info => new MyNet(...))), since code cannot be rebuilt from a
// description safely; its weights must then match the factory's model key for key, shape for shape.
// (Saved to a NAME.safetensors path instead of a folder, the same two files are NAME.safetensors and NAME.json.)
// Must hold: model.safetensors alone is complete and is replaced atomically; a bundle is loaded only
// after every setting parsed and the weights matched the rebuilt model key for key, shape for shape;
// a weight that is NaN or infinite is never written to a bundle nor loaded from one (it would predict NaN).
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;

namespace NativeCnn.Training;

/// <summary>What a bundle records about its model and the inputs it expects.</summary>
public sealed record BundleInfo
{
    /// <summary>The architecture's registry name ("mnist_cnn", "resnet18", ...) or <see cref="CustomArch"/>.</summary>
    public required string Arch { get; init; }
    /// <summary>The arguments the architecture was built with (input channels, classes, extras such as a custom model's type name).</summary>
    public required ArchArgs Args { get; init; }
    /// <summary>Class names in output order.</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>The per-channel normalisation statistics the model was trained with.</summary>
    public required NormStats Stats { get; init; }
    /// <summary>Input channels the model takes; images are adapted to it.</summary>
    public required int Channels { get; init; }
    /// <summary>Input height and width in pixels; images are brought to it by <see cref="Resize"/>.</summary>
    public required (int H, int W) Size { get; init; }
    /// <summary>Whether the outputs are independent sigmoid probabilities (multi-label) rather than one softmax.</summary>
    public bool MultiLabel { get; init; }
    /// <summary>Multi-label: a class is predicted when its sigmoid probability is at least this.</summary>
    public float Threshold { get; init; } = 0.5f;
    /// <summary>How an image reaches the input size (the validation transform): centre crop (default), squish or pad.</summary>
    public ResizeMethod Resize { get; init; } = ResizeMethod.Crop;
    /// <summary>What fills the third channel when a 2-channel image feeds a 3-channel model.</summary>
    public TwoChannelFill TwoChannelFill { get; init; } = TwoChannelFill.Zeros;
    /// <summary>The training transforms and the meaning of a 2nd/4th channel (alpha or data), for fine-tuning
    /// with the same; null when not recorded (metadata "augment", "input.extra_channel": AugmentMetadata).</summary>
    public AugmentOptions? Augment { get; init; }

    /// <summary>The metadata key marking a bundle and its format version.</summary>
    public const string FormatKey = "nativecnn.bundle", FormatVersion = "1";

    /// <summary>The largest input side and channel count a bundle may declare (checked before any size arithmetic).</summary>
    public const int MaxSide = 4096, MaxChannels = 4;

    /// <summary>The architecture name recorded for a model not built by <see cref="Architectures.Build"/>; such a
    /// bundle loads only with a factory (see <see cref="ExportBundle.Load(string, Device?, Func{BundleInfo, Module}?)"/>).</summary>
    public const string CustomArch = "custom";

    /// <summary>The key of <see cref="ArchArgs.Extra"/> that records a custom model's .NET type name.</summary>
    public const string CustomTypeKey = "type";

    /// <summary>True when the model is a custom one (not from the registry), which needs a factory to load.</summary>
    public bool IsCustom => Arch == CustomArch;

    /// <summary>The settings as safetensors metadata entries (statistics and classes as NormStats.ToMetadata writes them).</summary>
    public Dictionary<string, string> ToMetadata()
    {
        var d = Stats.ToMetadata(Classes);
        d[FormatKey] = FormatVersion;
        d["arch"] = Arch;
        d["arch.args"] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["in_channels"] = Args.InChannels, ["classes"] = Args.Classes, ["extra"] = Args.Extra,
        });
        d["input.channels"] = Channels.ToString(CultureInfo.InvariantCulture);
        d["input.size"] = string.Create(CultureInfo.InvariantCulture, $"{Size.H}x{Size.W}");
        d["input.resize"] = Resize.ToString().ToLowerInvariant();
        d["input.two_channel_fill"] = TwoChannelFill.ToString().ToLowerInvariant();
        d["multi_label"] = MultiLabel ? "true" : "false";
        d["threshold"] = Checkpoint.Num(Threshold);
        AugmentMetadata.Write(Augment, d);
        return d;
    }

    /// <summary>Reads <see cref="ToMetadata"/> back; <paramref name="source"/> names the file in errors.</summary>
    public static BundleInfo FromMetadata(IReadOnlyDictionary<string, string> d, string source)
    {
        string Get(string key) => d.TryGetValue(key, out var v) ? v
            : throw new NativeCnnException($"model '{source}' has no '{key}' metadata; it is not an export bundle (found: {string.Join(", ", d.Keys.Order())})");
        NativeCnnException Bad(string key, string expected) => new($"model '{source}': metadata '{key}' holds '{d[key]}', expected {expected}");
        int Int(string key, int max) => int.TryParse(Get(key), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 && v <= max ? v : throw Bad(key, $"an integer from 1 to {max}");

        if (Get(FormatKey) != FormatVersion) throw Bad(FormatKey, $"version {FormatVersion}");
        ArchArgs args;
        try
        {
            using var doc = JsonDocument.Parse(Get("arch.args"));
            var r = doc.RootElement;
            var extra = r.TryGetProperty("extra", out var e) ? e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "") : new();
            args = new ArchArgs(r.GetProperty("in_channels").GetInt32(), r.GetProperty("classes").GetInt32()) { Extra = extra };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Bad("arch.args", "a JSON object with in_channels, classes and extra");
        }
        var size = Get("input.size").Split('x');
        if (size.Length != 2 || !int.TryParse(size[0], NumberStyles.None, CultureInfo.InvariantCulture, out int h) || h <= 0 || h > MaxSide
            || !int.TryParse(size[1], NumberStyles.None, CultureInfo.InvariantCulture, out int w) || w <= 0 || w > MaxSide)
            throw Bad("input.size", $"HxW with integers from 1 to {MaxSide}, e.g. 28x28");
        var classes = NormStats.ClassesFromMetadata(d, source);
        var info = new BundleInfo
        {
            Arch = Get("arch"),
            Args = args,
            Classes = classes,
            Stats = NormStats.FromMetadata(d, source),
            Channels = Int("input.channels", MaxChannels),
            Size = (h, w),
            MultiLabel = Get("multi_label") switch { "true" => true, "false" => false, _ => throw Bad("multi_label", "true or false") },
            Threshold = float.TryParse(Get("threshold"), NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t > 0 && t < 1 ? t : throw Bad("threshold", "a number in (0, 1)"),
            Resize = Enum.TryParse<ResizeMethod>(Get("input.resize"), ignoreCase: true, out var rm) ? rm : throw Bad("input.resize", "squish, crop or pad"),
            TwoChannelFill = Enum.TryParse<TwoChannelFill>(Get("input.two_channel_fill"), ignoreCase: true, out var f) ? f : throw Bad("input.two_channel_fill", "zeros or mean"),
            Augment = AugmentMetadata.Read(d, source),
        };
        info.Validate(source);
        return info;
    }

    internal void Validate(string source)
    {
        if (Stats.Channels != Channels)
            throw new NativeCnnException($"model '{source}': the statistics have {Stats.Channels} channels but the input has {Channels}");
        if (Args.InChannels != Channels)
            throw new NativeCnnException($"model '{source}': the architecture takes {Args.InChannels} channels but the input has {Channels}");
        if (Classes.Count != Args.Classes)
            throw new NativeCnnException($"model '{source}': {Classes.Count} class names for an architecture with {Args.Classes} outputs");
    }
}

/// <summary>Writes and reads export bundles: the model's weights (safetensors, PyTorch names) with the settings that feeding it needs. <c>Learner.Export</c> and <c>Predictor.Load</c> are the usual entry points.</summary>
public static class ExportBundle
{
    /// <summary>The file names inside a bundle folder: the weights with settings as metadata, and the same settings readable.</summary>
    public const string WeightsFile = "model.safetensors", SettingsFile = "model.json";

    /// <summary>The bundle settings of a learner whose model came from <see cref="Architectures.Build"/> and
    /// whose DataBunch records classes, statistics, channels and size; null when any of them is unknown.</summary>
    public static BundleInfo? TryDescribe(Learner learn, float threshold = 0.5f)
    {
        try { return Describe(learn, threshold); }
        catch (NativeCnnException) { return null; }
    }

    /// <summary>As <see cref="TryDescribe"/>, but an unknown setting is an error naming it.</summary>
    public static BundleInfo Describe(Learner learn, float threshold = 0.5f)
    {
        ArgumentNullException.ThrowIfNull(learn);
        var d = learn.Data;
        var missing = new List<string>();
        if (d.Classes is null) missing.Add("Classes");
        if (d.Stats is null) missing.Add("Stats");
        if (d.Channels <= 0) missing.Add("Channels");
        if (d.Size.H <= 0 || d.Size.W <= 0) missing.Add("Size");
        if (missing.Count > 0)
            throw new NativeCnnException($"export: the learner's DataBunch does not record {string.Join(", ", missing)}; set them where the bunch is built (they belong to the trained model)");
        var spec = Architectures.SpecOf(learn.Model) ?? CustomSpec(learn.Model, d.Channels, d.Classes!.Count);
        var info = new BundleInfo
        {
            Arch = spec.Name, Args = spec.Args, Classes = d.Classes!.ToArray(), Stats = d.Stats!, Channels = d.Channels, Size = d.Size,
            MultiLabel = d.MultiLabel, Threshold = threshold, Augment = d.Augment,
        };
        info.Validate("export");
        return info;
    }

    /// <summary>The spec recorded for a model the registry did not build: architecture "custom", the data's
    /// channels and classes, and the model's .NET type name (a reader's hint; loading takes a factory).</summary>
    internal static ArchSpec CustomSpec(Module model, int channels, int classes) =>
        new(BundleInfo.CustomArch, new ArchArgs(channels, classes)
        {
            Extra = new Dictionary<string, string> { [BundleInfo.CustomTypeKey] = model.GetType().FullName ?? model.GetType().Name },
        });

    /// <summary>Writes the learner's model as a bundle into folder <paramref name="path"/> (created if needed)
    /// or, when it ends in .safetensors, to that file.</summary>
    public static void Save(Learner learn, string path, float threshold = 0.5f) => Save(learn, Describe(learn, threshold), path);

    /// <summary>Writes the learner's model with <paramref name="info"/>; in mixed precision, its float32
    /// master weights (a bundle is for float32 inference).</summary>
    public static void Save(Learner learn, BundleInfo info, string path)
    {
        ArgumentNullException.ThrowIfNull(learn);
        Save(learn.FullPrecisionStateDict(), info, path);
    }

    /// <summary>Writes <paramref name="model"/> with <paramref name="info"/> into folder <paramref name="path"/>
    /// (created if needed), or, when <paramref name="path"/> ends in .safetensors, to that file (with the
    /// readable settings beside it as NAME.json).</summary>
    public static void Save(Module model, BundleInfo info, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        Save(model.StateDict(), info, path);
    }

    private static void Save(Dictionary<string, Tensor> state, BundleInfo info, string path)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(path);
        info.Validate(path);
        RefuseNonFinite(state, $"export '{path}'");
        string weights, settings;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            weights = path;
            settings = Path.ChangeExtension(path, ".json");
        }
        else
        {
            if (File.Exists(path)) throw new NativeCnnException($"export: '{path}' is a file; expected a folder for the bundle (or a .safetensors file name)");
            Directory.CreateDirectory(path);
            weights = Path.Combine(path, WeightsFile);
            settings = Path.Combine(path, SettingsFile);
        }
        var meta = info.ToMetadata();
        var bytes = SafeTensors.Serialize(state, meta);
        AtomicFile.Write(weights, s => s.Write(bytes));
        var readable = ReadableSettings(meta, state.ToDictionary(kv => kv.Key, kv => kv.Value.ShapeArray));
        AtomicFile.Write(settings, s => s.Write(readable));
    }

    /// <summary>model.json: the metadata under the same keys, each value as the JSON it holds (arch.args an
    /// object, classes a list, norm.mean/std lists of numbers, flags true/false, counts and the threshold
    /// numbers; anything else a string), and "tensors": every tensor's shape as a list, so a reader sees
    /// the architecture's layout. Indented with lists of scalars on one line (ReadableJson), keys in ordinal
    /// order; nothing reads it back.</summary>
    public static byte[] ReadableSettings(IReadOnlyDictionary<string, string> meta, IReadOnlyDictionary<string, int[]> shapes)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(shapes);
        var root = new JsonObject();
        foreach (var (key, value) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal)) root[key] = ReadableValue(key, value);
        var tensors = new JsonObject();
        foreach (var (name, shape) in shapes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) tensors[name] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray());
        root["tensors"] = tensors;
        return System.Text.Encoding.UTF8.GetBytes(ReadableJson.Write(root));
    }

    private static readonly System.Text.RegularExpressions.Regex JsonNumber = new(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$");

    // A metadata string as the JSON value it stands for; left a string when it is none of those forms.
    private static JsonNode? ReadableValue(string key, string value)
    {
        if (key == BundleInfo.FormatKey) return value;
        if (value is "true" or "false") return value == "true";
        if (value.StartsWith('{') || value.StartsWith('['))
        {
            try { return JsonNode.Parse(value); }
            catch (JsonException) { return value; }
        }
        if (key is "norm.mean" or "norm.std")
        {
            var parts = value.Split(',');
            if (parts.All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)))
                return new JsonArray(parts.Select(p => (JsonNode)double.Parse(p, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray());
            return value;
        }
        if (JsonNumber.IsMatch(value)) return JsonNode.Parse(value);   // the literal as written (e.g. "0.5", "3")
        return value;
    }

    /// <summary>Makes a bundle from a checkpoint that records the bundle settings (Checkpoint.Save adds them
    /// when the model came from the registry and the DataBunch knew its classes and statistics).
    /// <paramref name="threshold"/> overrides the recorded multi-label threshold. Returns the settings written.</summary>
    public static BundleInfo FromCheckpoint(string checkpoint, string dir, float? threshold = null, Func<BundleInfo, Module>? factory = null)
    {
        var (weights, meta) = Checkpoint.Read(checkpoint);
        if (!meta.ContainsKey(BundleInfo.FormatKey))
            throw new NativeCnnException($"checkpoint '{checkpoint}' does not record the model's architecture, classes and statistics (it was saved from a model not built by Architectures.Build, or from a DataBunch without Classes/Stats/Channels/Size), so it cannot become a bundle");
        var info = BundleInfo.FromMetadata(meta, checkpoint);
        if (threshold is float t) info = info with { Threshold = t };
        var model = Rebuild(info, checkpoint, factory);
        try { model.LoadStateDict(weights, strict: true); }
        catch (NativeCnnException e) { throw new NativeCnnException($"checkpoint '{checkpoint}': the weights do not fit architecture '{info.Arch}': {e.Message}"); }
        Save(model, info, dir);
        return info;
    }

    /// <summary>Throws, naming the first tensor and element, when a floating-point tensor of
    /// <paramref name="state"/> holds NaN or an infinity; <paramref name="what"/> starts the message.</summary>
    public static void RefuseNonFinite(IReadOnlyDictionary<string, Tensor> state, string what)
    {
        int bad = 0;
        string? first = null;
        foreach (var (key, t) in state.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (t.DType == DType.Int32) continue;
            var v = t.ToArray();
            int n = 0, at = -1;
            for (int i = 0; i < v.Length; i++)
                if (!float.IsFinite(v[i])) { n++; if (at < 0) at = i; }
            if (n == 0) continue;
            bad++;
            first ??= string.Create(CultureInfo.InvariantCulture, $"'{key}' holds {n} non-finite value(s) (element {at} is {v[at]})");
        }
        if (first is not null)
            throw new NativeCnnException($"{what}: the weights must be finite, but {first}{(bad > 1 ? $" and {bad - 1} more tensor(s) too" : "")}; the model diverged or its weights are corrupt");
    }

    /// <summary>The weights file a path names: a bundle folder, a folder holding one as "model" (a train
    /// --out folder), or the .safetensors file itself.</summary>
    public static string Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path)) return path;
        foreach (var candidate in new[] { Path.Combine(path, WeightsFile), Path.Combine(path, "model", WeightsFile) })
            if (File.Exists(candidate)) return candidate;
        throw new FileNotFoundException(Directory.Exists(path)
            ? $"model '{path}' holds no {WeightsFile} (nor model/{WeightsFile}); expected an export bundle folder"
            : $"model '{path}' does not exist; expected an export bundle folder or its {WeightsFile}", path);
    }

    /// <summary>Rebuilds the model of a bundle on <paramref name="device"/> (the CPU if null), in Eval mode.
    /// <paramref name="factory"/> builds the model from the bundle's settings; it is required for a custom model
    /// (<see cref="BundleInfo.IsCustom"/>) and, when given, replaces the registry for any bundle.</summary>
    /// <exception cref="FileNotFoundException">No bundle at <paramref name="path"/>.</exception>
    /// <exception cref="ArgumentException">The bundle is malformed, its model is custom and no factory was given, or
    /// the weights do not match the rebuilt model key for key and shape for shape.</exception>
    public static (Module Model, BundleInfo Info) Load(string path, Device? device = null, Func<BundleInfo, Module>? factory = null)
    {
        var file = Resolve(path);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var weights = SafeTensors.Load(file, null, meta);
        var info = BundleInfo.FromMetadata(meta, file);
        RefuseNonFinite(weights, $"model '{file}'");
        var model = Rebuild(info, file, factory);
        try { model.LoadStateDict(weights, strict: true); }
        catch (NativeCnnException e) { throw new NativeCnnException($"model '{file}': the weights do not fit architecture '{info.Arch}': {e.Message}"); }
        if (device is not null) model.To(device);
        model.Eval();
        return (model, info);
    }

    private static Module Rebuild(BundleInfo info, string source, Func<BundleInfo, Module>? factory)
    {
        if (factory is not null)
            return factory(info) ?? throw new ArgumentException($"model '{source}': the factory returned null; expected a Module", nameof(factory));
        if (info.IsCustom)
        {
            string type = info.Args.Extra.GetValueOrDefault(BundleInfo.CustomTypeKey, "?");
            throw new ArgumentException($"model '{source}' is a custom model ({type}) that the architecture registry cannot rebuild; pass a factory, e.g. Predictor.Load(path, info => new MyModel(...)), or register it with Architectures.Register", nameof(factory));
        }
        // A private generator: the init is overwritten, and rebuilding must not advance Rng.Global.
        return Architectures.Build(info.Arch, info.Args, new Rng(0));
    }
}
