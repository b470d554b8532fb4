// Inference from an export bundle: image files are decoded, adapted to the model's channels, brought
// to its input size by the validation transform (the same centre crop / squish / pad the validation
// set saw in training) and normalised with the bundle's own statistics, then run in batches.
// Must hold: a file is prepared exactly as the DataLoader prepares a validation item, so a prediction
// equals the model's output on that item during training; a bad file fails naming it. Predict may be
// called from several threads (a server): decoding runs in parallel, the model one batch at a time,
// since a backend (the GPU one in particular) is driven by one thread at a time.
using NativeCnn.Autograd;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Nn;

namespace NativeCnn.Training;

/// <summary>One file's prediction: the top class and its probability, every class's probability
/// (softmax, or sigmoid when multi-label) and, when multi-label, the classes at or above the threshold.</summary>
public sealed record Prediction(string File, string Class, float Probability, float[] Probabilities, string[] Labels);

public sealed class Predictor
{
    private readonly ImageTransform _transform;
    private readonly object _forward = new();

    public Predictor(Module model, BundleInfo info)
    {
        Model = model ?? throw new NativeCnnException("Predictor: the model is null");
        Info = info ?? throw new NativeCnnException("Predictor: the bundle info is null");
        _transform = new ImageTransform(info.Size.H, info.Size.W, info.Resize, AugmentOptions.None);
        Model.Eval();
    }

    public Module Model { get; }
    public BundleInfo Info { get; }
    public IReadOnlyList<string> Classes => Info.Classes;

    /// <summary>Loads a bundle (folder or its model.safetensors) onto <paramref name="device"/> (the CPU if null).</summary>
    public static Predictor Load(string path, Device? device = null)
    {
        var (model, info) = ExportBundle.Load(path, device);
        return new Predictor(model, info);
    }

    /// <summary>The (C, H, W) model input for one file, normalised.</summary>
    public float[] Prepare(string file) => Prepare(ImageDecoder.Decode(file), file);

    /// <summary>The (C, H, W) model input for an image held in memory (an upload), decoded by the
    /// training decoder with <paramref name="options"/> (e.g. a lower pixel limit) and prepared as a file
    /// is; <paramref name="name"/> names the image in errors.</summary>
    public float[] Prepare(byte[] bytes, string name, DecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(name);
        return Prepare(ImageDecoder.Decode(bytes, name, options), name);
    }

    private float[] Prepare(DecodedImage decoded, string name)
    {
        var img = ChannelAdapter.Adapt(decoded, Info.Channels, Info.TwoChannelFill, name);
        var x = new float[Info.Channels * Info.Size.H * Info.Size.W];
        _transform.Apply(img, x, null);
        Info.Stats.Apply(x, Info.Size.H * Info.Size.W);
        return x;
    }

    public Prediction Predict(string file) => Predict(new[] { file })[0];

    /// <summary>Predicts every file, <paramref name="batchSize"/> at a time, in the order given.</summary>
    public IReadOnlyList<Prediction> Predict(IEnumerable<string> imageFiles, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(imageFiles);
        Check.Positive(batchSize, "Predictor: batch size");
        var files = imageFiles.ToArray();
        var result = new List<Prediction>(files.Length);
        int item = Info.Channels * Info.Size.H * Info.Size.W;
        for (int start = 0; start < files.Length; start += batchSize)
        {
            int n = Math.Min(batchSize, files.Length - start);
            var x = new float[n * item];
            // Decoded on every core; the first failing file in order is reported, whatever the timing.
            var errors = new Exception?[n];
            Parallel.For(0, n, i =>
            {
                try { Prepare(files[start + i]).CopyTo(x, i * item); }
                catch (Exception e) { errors[i] = e; }
            });
            if (errors.FirstOrDefault(e => e is not null) is { } error)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            result.AddRange(Forward(x, files.AsSpan(start, n)));
        }
        return result;
    }

    /// <summary>Predicts inputs made by <see cref="Prepare(byte[], string, DecodeOptions?)"/> (or the file
    /// overload) as one batch, in the order given; <paramref name="names"/> become the predictions' File.
    /// A server batches concurrent requests through this: one forward pass for all of them.</summary>
    public IReadOnlyList<Prediction> PredictPrepared(IReadOnlyList<float[]> inputs, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count != inputs.Count) throw new NativeCnnException($"Predictor: {inputs.Count} inputs but {names.Count} names; expected one name per input");
        if (inputs.Count == 0) return Array.Empty<Prediction>();
        int item = Info.Channels * Info.Size.H * Info.Size.W;
        var x = new float[inputs.Count * item];
        for (int i = 0; i < inputs.Count; i++)
        {
            if (inputs[i] is not { } one || one.Length != item)
                throw new NativeCnnException($"Predictor: input {i} ('{names[i]}') has {inputs[i]?.Length ?? 0} values, expected {item} ({Info.Channels}x{Info.Size.H}x{Info.Size.W}; use Prepare)");
            one.CopyTo(x, i * item);
        }
        return Forward(x, names.ToArray());
    }

    // One forward pass over n = names.Length prepared inputs packed in x.
    private List<Prediction> Forward(float[] x, ReadOnlySpan<string> names)
    {
        int n = names.Length, c = Info.Channels, h = Info.Size.H, w = Info.Size.W, k = Info.Classes.Count;
        var result = new List<Prediction>(n);
        float[] probs;
        lock (_forward)
        using (new NoGrad())
        using (MemoryScope.Begin())
        {
            var logits = Model.Forward(Tensor.FromArray(x, new[] { n, c, h, w }, Model.Device));
            if (logits.Dim != 2 || logits.Size(1) != k)
                throw new NativeCnnException($"Predictor: the model gives outputs of shape {Shape.Format(logits.ShapeArray)}, expected ({n}, {k}) for {k} classes");
            probs = (Info.MultiLabel ? logits.Sigmoid() : F.Softmax(logits, 1)).ToArray();
        }
        for (int i = 0; i < n; i++)
        {
            var p = probs.AsSpan(i * k, k).ToArray();
            int best = 0;
            for (int j = 1; j < k; j++) if (p[j] > p[best]) best = j;
            var labels = Info.MultiLabel
                ? Enumerable.Range(0, k).Where(j => p[j] >= Info.Threshold).Select(j => Info.Classes[j]).ToArray()
                : new[] { Info.Classes[best] };
            result.Add(new Prediction(names[i], Info.Classes[best], p[best], p, labels));
        }
        return result;
    }
}
