// Inference from an export bundle: image files are decoded, adapted to the model's channels, brought
// to its input size by the validation transform (the same centre crop / squish / pad the validation
// set saw in training) and normalised with the bundle's own statistics, then run in batches.
// Must hold: a file is prepared exactly as the DataLoader prepares a validation item, so a prediction
// equals the model's output on that item during training; a bad file fails naming it. Predict may be
// called from several threads (a server): decoding runs in parallel, the model one batch at a time,
// since a backend (the GPU one in particular) is driven by one thread at a time.
// Other inputs (a Stream, an ImageSharp image, pixel arrays, a Tensor) are in Predictor.Inputs.cs.
using NativeCnn.Autograd;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Nn;

namespace NativeCnn.Training;

/// <summary>One input's prediction: the top class and its probability, every class's probability
/// (softmax, or sigmoid when multi-label) and, when multi-label, the classes at or above the threshold.</summary>
/// <param name="File">The input: its file path, or a description such as "stream 0" or "row 3 of the tensor".</param>
/// <param name="Class">The most probable class's name.</param>
/// <param name="Probability">That class's probability, in [0, 1].</param>
/// <param name="Probabilities">Every class's probability in the order of <see cref="Predictor.Classes"/>.</param>
/// <param name="Labels">Multi-label: the classes at or above the threshold (possibly none); otherwise the top class alone.</param>
public sealed record Prediction(string File, string Class, float Probability, float[] Probabilities, string[] Labels);

/// <summary>In-process inference with a trained model (ML.NET's PredictionEngine, fastai's <c>learn.predict</c>):
/// inputs are prepared exactly as the validation set was in training (channels, size, normalisation from the
/// bundle's settings) and run in batches. Thread-safe: one instance may serve many requests.</summary>
public sealed partial class Predictor
{
    private readonly ImageTransform _transform;
    private readonly object _forward = new();

    /// <summary>A predictor over <paramref name="model"/> (put in Eval mode) fed as <paramref name="info"/> says.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public Predictor(Module model, BundleInfo info)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Info = info ?? throw new ArgumentNullException(nameof(info));
        _transform = new ImageTransform(info.Size.H, info.Size.W, info.Resize, AugmentOptions.None);
        Model.Eval();
    }

    /// <summary>The model; it runs in Eval mode (batch norm uses its running statistics, dropout is off).</summary>
    public Module Model { get; }
    /// <summary>What the model expects: classes, statistics, channels, size, resize method, multi-label threshold.</summary>
    public BundleInfo Info { get; }
    /// <summary>Class names in the order of <see cref="Prediction.Probabilities"/>.</summary>
    public IReadOnlyList<string> Classes => Info.Classes;

    /// <summary>Loads a bundle written by <c>Learner.Export</c> (its folder or model.safetensors) onto
    /// <paramref name="device"/> (the CPU if null). A custom model (not from the architecture registry) needs
    /// <paramref name="factory"/>, which builds an untrained model of the same layout from the bundle's settings.</summary>
    /// <exception cref="FileNotFoundException">No bundle at <paramref name="path"/>.</exception>
    /// <exception cref="ArgumentException">The bundle is malformed, or its weights do not fit the rebuilt model.</exception>
    public static Predictor Load(string path, Device? device = null, Func<BundleInfo, Module>? factory = null)
    {
        var (model, info) = ExportBundle.Load(path, device, factory);
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

    /// <summary>The (C, H, W) model input for a decoded image (values in [0, 1], any size and a channel count the
    /// model can take): adapted to the model's channels, brought to its size as the validation set was, normalised.
    /// <paramref name="name"/> names the image in errors.</summary>
    public float[] Prepare(DecodedImage image, string name = "image")
    {
        ArgumentNullException.ThrowIfNull(image);
        var img = ChannelAdapter.Adapt(image, Info.Channels, Info.TwoChannelFill, name);
        var x = new float[Info.Channels * Info.Size.H * Info.Size.W];
        _transform.Apply(img, x, null);
        Info.Stats.Apply(x, Info.Size.H * Info.Size.W);
        return x;
    }

    /// <summary>Predicts one image file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">The file is not a readable image, or has channels the model cannot take.</exception>
    public Prediction Predict(string file) => Predict(new[] { file })[0];

    /// <summary>Predicts every file, <paramref name="batchSize"/> at a time, in the order given.</summary>
    public IReadOnlyList<Prediction> Predict(IEnumerable<string> imageFiles, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(imageFiles);
        Check.Positive(batchSize, "Predictor: batch size");
        var files = imageFiles.ToArray();
        var result = new List<Prediction>(files.Length);
        int item = Info.Channels * Info.Size.H * Info.Size.W;
        // a batch's input stays well inside one array (the bundle caps the side at 4096 and channels at 4)
        batchSize = Math.Max(1, Math.Min(batchSize, (1 << 28) / item));
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
            Run(x, n, i => files[start + i], result);
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
        if ((long)inputs.Count * item > 1 << 28)
            throw new NativeCnnException($"Predictor: {inputs.Count} inputs of {item} values are over the batch limit of {1 << 28} values; expected at most {(1 << 28) / item} at once");
        var x = new float[inputs.Count * item];
        for (int i = 0; i < inputs.Count; i++)
        {
            if (inputs[i] is not { } one || one.Length != item)
                throw new NativeCnnException($"Predictor: input {i} ('{names[i]}') has {inputs[i]?.Length ?? 0} values, expected {item} ({Info.Channels}x{Info.Size.H}x{Info.Size.W}; use Prepare)");
            one.CopyTo(x, i * item);
        }
        var result = new List<Prediction>(inputs.Count);
        Run(x, inputs.Count, i => names[i], result);
        return result;
    }

    /// <summary>Runs prepared inputs <paramref name="x"/> ((n, C, H, W), normalised) through the model and adds
    /// one prediction per row to <paramref name="result"/>, named by <paramref name="name"/>.</summary>
    private void Run(float[] x, int n, Func<int, string> name, List<Prediction> result)
    {
        int c = Info.Channels, h = Info.Size.H, w = Info.Size.W;
        float[] probs;
        lock (_forward)
        using (new NoGrad())
        using (MemoryScope.Begin())
        {
            Model.Eval();   // a learner's model may have been put back in Train mode since the last call
            probs = Probabilities(Model.Forward(Tensor.FromArray(x, new[] { n, c, h, w }, Model.Device)), n);
        }
        AddPredictions(probs, n, name, result);
    }

    // Called under the forward lock: the model's outputs as probabilities on the host.
    private float[] Probabilities(Tensor logits, int n)
    {
        int k = Info.Classes.Count;
        if (logits.Dim != 2 || logits.Size(0) != n || logits.Size(1) != k)
            throw new NativeCnnException($"Predictor: the model gives outputs of shape {Shape.Format(logits.ShapeArray)}, expected ({n}, {k}) for {k} classes");
        return (Info.MultiLabel ? logits.Sigmoid() : F.Softmax(logits, 1)).ToArray();
    }

    private void AddPredictions(float[] probs, int n, Func<int, string> name, List<Prediction> result)
    {
        int k = Info.Classes.Count;
        for (int i = 0; i < n; i++)
        {
            var p = probs.AsSpan(i * k, k).ToArray();
            int best = 0;
            for (int j = 1; j < k; j++) if (p[j] > p[best]) best = j;
            var labels = Info.MultiLabel
                ? Enumerable.Range(0, k).Where(j => p[j] >= Info.Threshold).Select(j => Info.Classes[j]).ToArray()
                : new[] { Info.Classes[best] };
            result.Add(new Prediction(name(i), Info.Classes[best], p[best], p, labels));
        }
    }
}
