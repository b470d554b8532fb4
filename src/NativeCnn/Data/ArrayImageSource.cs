// Images held in memory as one float array (N, C, H, W) with values in [0, 1] and one class index per
// image: the in-memory input of the DataLoader (and so of ImageDataBunch.FromArrays), beside files and IDX.
// Must hold: the arrays are checked once here (lengths, label range, finite values), so a bad input fails
// naming the image, not deep inside a worker; Load(i) returns a copy, so augmentation never alters the data.
namespace NativeCnn.Data;

/// <summary>An in-memory image set: <c>N</c> images of <c>C x H x W</c> floats in [0, 1] with single labels.</summary>
public sealed class ArrayImageSource : IImageSource
{
    private readonly float[] _pixels;
    private readonly int[] _labels;
    private readonly int[] _index;

    /// <summary>Wraps <paramref name="pixels"/> (N x C x H x W values in [0, 1], image after image, channel planes
    /// in order) and <paramref name="labels"/> (N class indices into <paramref name="classes"/>). The arrays are not
    /// copied: do not change them while a loader reads them.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The lengths disagree, a label is outside the classes, or a value is not finite.</exception>
    public ArrayImageSource(float[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classes, string name = "arrays")
        : this(pixels, labels, channels, height, width, classes, name, null) { }

    private ArrayImageSource(float[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classes, string name, int[]? index)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classes);
        Check.Positive(channels, $"images '{name}': channels");
        Check.Positive(height, $"images '{name}': height");
        Check.Positive(width, $"images '{name}': width");
        if (classes.Count == 0) throw new NativeCnnException($"images '{name}': no class names; expected one per class");
        long item = (long)channels * height * width;
        if (pixels.Length != item * labels.Length)
            throw new NativeCnnException($"images '{name}': {labels.Length} labels of {channels}x{height}x{width} images need {item * labels.Length} values, got {pixels.Length}");
        if (index is null)
        {
            for (int i = 0; i < labels.Length; i++)
                if ((uint)labels[i] >= (uint)classes.Count)
                    throw new NativeCnnException($"images '{name}': label {labels[i]} of image {i} is not a class index; expected 0..{classes.Count - 1}");
            for (long i = 0; i < pixels.Length; i++)
                if (!float.IsFinite(pixels[i]))
                    throw new NativeCnnException($"images '{name}': image {i / item} holds {pixels[i]}; expected finite values in [0, 1]");
        }
        _pixels = pixels;
        _labels = labels;
        _index = index ?? Enumerable.Range(0, labels.Length).ToArray();
        Channels = channels;
        Height = height;
        Width = width;
        Classes = classes;
        Name = name;
    }

    /// <inheritdoc/>
    public string Name { get; }
    /// <inheritdoc/>
    public int Count => _index.Length;
    /// <inheritdoc/>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>Always false: each image has one label.</summary>
    public bool MultiLabel => false;
    /// <summary>Channels of every image.</summary>
    public int Channels { get; }
    /// <summary>Height of every image, in pixels.</summary>
    public int Height { get; }
    /// <summary>Width of every image, in pixels.</summary>
    public int Width { get; }

    /// <inheritdoc/>
    public DecodedImage Load(int index)
    {
        int item = Channels * Height * Width;
        return new DecodedImage(_pixels.AsSpan(_index[index] * item, item).ToArray(), Channels, Height, Width);
    }

    /// <inheritdoc/>
    public int[] LabelsOf(int index) => new[] { _labels[_index[index]] };

    /// <inheritdoc/>
    public string Describe(int index) => $"image {_index[index]} of '{Name}'";

    /// <summary>Splits the images at random (seeded by <paramref name="rng"/>) into a train part and a valid part
    /// holding about <paramref name="validPercent"/> percent (0 to 100) of them; both read the same arrays.</summary>
    public (ArrayImageSource Train, ArrayImageSource Valid) Split(double validPercent, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!(validPercent >= 0 && validPercent <= 100))
            throw new ArgumentOutOfRangeException(nameof(validPercent), validPercent, $"images '{Name}': the validation percentage must be in [0, 100]");
        var order = rng.Permutation(Count);
        int nValid = (int)Math.Round(Count * validPercent / 100.0);
        var valid = order.Take(nValid).Order().Select(i => _index[i]).ToArray();
        var train = order.Skip(nValid).Order().Select(i => _index[i]).ToArray();
        return (new ArrayImageSource(_pixels, _labels, Channels, Height, Width, Classes, Name + " (train)", train),
                new ArrayImageSource(_pixels, _labels, Channels, Height, Width, Classes, Name + " (valid)", valid));
    }
}
