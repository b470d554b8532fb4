// The Predictor's other inputs besides file paths: encoded bytes in a Stream, an ImageSharp image,
// pixels in a float array (any size, values in [0, 1]) and a Tensor already prepared as the model's input.
// Must hold: every image input goes through the same preparation as a file (decode, channels, validation
// transform, the bundle's statistics), so the same picture gives the same prediction whatever its form;
// a Tensor is taken as is (it is the model's input), after its shape is checked.
using NativeCnn.Autograd;
using NativeCnn.Data;
using SixLabors.ImageSharp;

namespace NativeCnn.Training;

public sealed partial class Predictor
{
    /// <summary>Predicts one encoded image (PNG, JPEG, BMP, GIF, TIFF, WebP, TGA) read from <paramref name="stream"/>
    /// to its end; <paramref name="name"/> names it in errors and in <see cref="Prediction.File"/>.</summary>
    /// <exception cref="ArgumentException">The bytes are not a readable image.</exception>
    public Prediction Predict(Stream stream, string name = "stream") => Predict(new[] { stream }, name: name)[0];

    /// <summary>Predicts each encoded image of <paramref name="streams"/>, <paramref name="batchSize"/> at a time;
    /// they are named "<paramref name="name"/> 0", "<paramref name="name"/> 1", ... in the results.</summary>
    public IReadOnlyList<Prediction> Predict(IEnumerable<Stream> streams, int batchSize = 32, string name = "stream")
    {
        ArgumentNullException.ThrowIfNull(streams);
        var images = streams.Select((s, i) =>
        {
            ArgumentNullException.ThrowIfNull(s, nameof(streams));
            using var copy = new MemoryStream();
            s.CopyTo(copy);
            string label = $"{name} {i}";
            return (ImageDecoder.Decode(copy.ToArray(), label), label);
        });
        return PredictDecoded(images, batchSize);
    }

    /// <summary>Predicts an ImageSharp image (any pixel format; 16-bit formats keep their precision).</summary>
    public Prediction Predict(Image image, string name = "image") => Predict(new[] { image }, name: name)[0];

    /// <summary>Predicts each ImageSharp image, <paramref name="batchSize"/> at a time.</summary>
    public IReadOnlyList<Prediction> Predict(IEnumerable<Image> images, int batchSize = 32, string name = "image")
    {
        ArgumentNullException.ThrowIfNull(images);
        // Through a lossless PNG, so an Image is read by the very decoder a file is (grey stays grey, 16 bits stay 16).
        var decoded = images.Select((img, i) =>
        {
            ArgumentNullException.ThrowIfNull(img, nameof(images));
            using var png = new MemoryStream();
            img.SaveAsPng(png);
            string label = $"{name} {i}";
            return (ImageDecoder.Decode(png.ToArray(), label), label);
        });
        return PredictDecoded(decoded, batchSize);
    }

    /// <summary>Predicts one decoded image (values in [0, 1], any size).</summary>
    public Prediction Predict(DecodedImage image, string name = "image") => PredictDecoded(new[] { (image, name) }, 1)[0];

    /// <summary>Predicts images given as pixels: <paramref name="pixels"/> holds N images of <paramref name="channels"/> x
    /// <paramref name="height"/> x <paramref name="width"/> values in [0, 1] (NCHW, image after image), at any size and
    /// any channel count the model can take; each is prepared as a file would be. One image: N = 1.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of channels x height x width, or a value is not finite.</exception>
    public IReadOnlyList<Prediction> Predict(float[] pixels, int channels, int height, int width, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        Check.Positive(channels, "Predictor: channels");
        Check.Positive(height, "Predictor: height");
        Check.Positive(width, "Predictor: width");
        int item = channels * height * width;
        if (pixels.Length == 0 || pixels.Length % item != 0)
            throw new NativeCnnException($"Predictor: {pixels.Length} values are not a whole number of {channels}x{height}x{width} images");
        for (int i = 0; i < pixels.Length; i++)
            if (!float.IsFinite(pixels[i]))
                throw new NativeCnnException($"Predictor: image {i / item} holds {pixels[i]}; expected finite values in [0, 1]");
        var images = Enumerable.Range(0, pixels.Length / item).Select(i =>
            (new DecodedImage(pixels.AsSpan(i * item, item).ToArray(), channels, height, width), $"image {i}"));
        return PredictDecoded(images, batchSize);
    }

    /// <summary>Predicts a tensor that already is the model's input: (N, C, H, W) or one (C, H, W) image, with the
    /// model's channels and size, normalised with <see cref="BundleInfo.Stats"/> (as a Learner's batches are). Rows are
    /// named "row 0", "row 1", ... The tensor may live on any device; it is moved to the model's.</summary>
    /// <exception cref="ArgumentException">The shape is not (N, C, H, W) / (C, H, W) with the model's C, H and W.</exception>
    public IReadOnlyList<Prediction> Predict(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int c = Info.Channels, h = Info.Size.H, w = Info.Size.W;
        var shape = input.ShapeArray;
        bool ok = (shape.Length == 4 && shape[0] > 0 && shape[1] == c && shape[2] == h && shape[3] == w) || (shape.Length == 3 && shape[0] == c && shape[1] == h && shape[2] == w);
        if (!ok)
            throw new NativeCnnException($"Predictor: the input tensor has shape {Shape.Format(shape)}; expected (N, {c}, {h}, {w}) or ({c}, {h}, {w})");
        int n = shape.Length == 4 ? shape[0] : 1;
        float[] probs;
        lock (_forward)
        using (new NoGrad())
        using (MemoryScope.Begin())
        {
            Model.Eval();
            var x = input.Reshape(n, c, h, w);
            if (x.Device != Model.Device) x = x.To(Model.Device);
            if (x.DType != DType.Float32) x = x.To(DType.Float32);
            probs = Probabilities(Model.Forward(x), n);
        }
        var result = new List<Prediction>(n);
        AddPredictions(probs, n, i => $"row {i}", result);
        return result;
    }

    // Decoded images through preparation and the model, batchSize at a time, in order.
    private List<Prediction> PredictDecoded(IEnumerable<(DecodedImage Image, string Name)> images, int batchSize)
    {
        Check.Positive(batchSize, "Predictor: batch size");
        int item = Info.Channels * Info.Size.H * Info.Size.W;
        var result = new List<Prediction>();
        foreach (var chunk in images.Chunk(batchSize))
        {
            var x = new float[chunk.Length * item];
            // The first failing image in order is reported, whatever the timing (as for files).
            var errors = new Exception?[chunk.Length];
            Parallel.For(0, chunk.Length, i =>
            {
                try { Prepare(chunk[i].Image, chunk[i].Name).CopyTo(x, i * item); }
                catch (Exception e) { errors[i] = e; }
            });
            if (errors.FirstOrDefault(e => e is not null) is { } error)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            Run(x, chunk.Length, i => chunk[i].Name, result);
        }
        return result;
    }
}
