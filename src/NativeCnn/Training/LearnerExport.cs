// fastai's learn.export() / load_learner() / learn.predict() on the Learner: Export writes the model and
// what feeding it takes (classes, statistics, channels, size) as a bundle folder; Load rebuilds a Learner
// from a bundle for more training on new data; Predict runs the learner's current model on any input a
// Predictor takes. Must hold: Export works for any Module (a custom one records "custom" and is rebuilt
// by a factory at load time, see ExportBundle); Predict never changes the weights, and a later Fit puts
// the model back in Train mode as every fit does.
using NativeCnn.Data;
using NativeCnn.Nn;
using SixLabors.ImageSharp;

namespace NativeCnn.Training;

public sealed partial class Learner
{
    private (Predictor Predictor, DataBunch Data)? _predictor;

    /// <summary>Writes the model as an export bundle into folder <paramref name="dir"/> (created if needed; or, when
    /// it ends in .safetensors, to that file): model.safetensors (the weights under PyTorch names, float32 even in
    /// mixed precision, with the settings as metadata) and model.json (the same settings and tensor shapes, readable).
    /// <paramref name="threshold"/> is the multi-label decision threshold. Each file appears complete or not at all.</summary>
    /// <returns>The settings written.</returns>
    /// <exception cref="ArgumentException">The learner's DataBunch does not record classes, statistics, channels or size
    /// (every <see cref="ImageDataBunch"/> factory records them).</exception>
    public BundleInfo Export(string dir, float threshold = 0.5f)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var info = ExportBundle.Describe(this, threshold);
        ExportBundle.Save(this, info, dir);
        return info;
    }

    /// <summary>A Learner over the model of bundle <paramref name="dir"/>, to keep training it on <paramref name="data"/>
    /// (fine-tuning): the model is rebuilt (by <paramref name="factory"/> for a custom model), loaded with the bundle's
    /// weights and moved to <paramref name="device"/> (the CPU if null). The loss defaults to cross-entropy (binary
    /// cross-entropy with logits for a multi-label model). The optimizer starts fresh.</summary>
    /// <exception cref="FileNotFoundException">No bundle at <paramref name="dir"/>.</exception>
    /// <exception cref="ArgumentException">The data's classes, channels or statistics differ from the bundle's, or the
    /// bundle cannot be rebuilt (see <see cref="Predictor.Load"/>).</exception>
    public static Learner LoadExported(string dir, DataBunch data, Func<Tensor, Tensor, Tensor>? lossFunc = null, IEnumerable<Metric>? metrics = null,
                               Func<BundleInfo, Module>? factory = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (model, info) = ExportBundle.Load(dir, device, factory);
        if (data.Classes is { } classes && !classes.SequenceEqual(info.Classes))
            throw new ArgumentException($"Learner.LoadExported: the data's classes ({string.Join(", ", classes)}) differ from the model's ({string.Join(", ", info.Classes)}) in '{dir}'", nameof(data));
        if (data.Channels > 0 && data.Channels != info.Channels)
            throw new ArgumentException($"Learner.LoadExported: the data has {data.Channels} channels; the model in '{dir}' takes {info.Channels}", nameof(data));
        model.Train();
        lossFunc ??= info.MultiLabel ? (p, y) => F.BinaryCrossEntropyWithLogits(p, y) : (p, y) => F.CrossEntropy(p, y);
        return new Learner(data, model, lossFunc, metrics);
    }

    /// <summary>A Predictor over this learner's model (the same weights, not a copy), fed as <see cref="Data"/> records:
    /// what <see cref="Predict(string)"/> and its overloads use. Needs the DataBunch's classes, statistics, channels and size.</summary>
    /// <exception cref="ArgumentException">The DataBunch does not record them.</exception>
    public Predictor AsPredictor(float threshold = 0.5f)
    {
        if (_predictor is { } p && ReferenceEquals(p.Data, Data) && p.Predictor.Info.Threshold == threshold) return p.Predictor;
        var made = new Predictor(Model, ExportBundle.Describe(this, threshold));
        _predictor = (made, Data);
        return made;
    }

    /// <summary>Predicts one image file with the current model (fastai's <c>learn.predict</c>).</summary>
    public Prediction Predict(string file) => AsPredictor().Predict(file);
    /// <summary>Predicts image files, <paramref name="batchSize"/> at a time, in order.</summary>
    public IReadOnlyList<Prediction> Predict(IEnumerable<string> files, int batchSize = 32) => AsPredictor().Predict(files, batchSize);
    /// <summary>Predicts one encoded image read from <paramref name="stream"/>.</summary>
    public Prediction Predict(Stream stream, string name = "stream") => AsPredictor().Predict(stream, name);
    /// <summary>Predicts one ImageSharp image.</summary>
    public Prediction Predict(Image image, string name = "image") => AsPredictor().Predict(image, name);
    /// <summary>Predicts N images given as NCHW pixels in [0, 1] (see <see cref="Predictor.Predict(float[], int, int, int, int)"/>).</summary>
    public IReadOnlyList<Prediction> Predict(float[] pixels, int channels, int height, int width) => AsPredictor().Predict(pixels, channels, height, width);
    /// <summary>Predicts a prepared (N, C, H, W) or (C, H, W) model input (see <see cref="Predictor.Predict(Tensor)"/>).</summary>
    public IReadOnlyList<Prediction> Predict(Tensor input) => AsPredictor().Predict(input);
}
