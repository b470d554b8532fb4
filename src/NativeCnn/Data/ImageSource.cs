// What the DataLoader reads from: numbered images with labels and a class vocabulary. Implemented by
// image files (ImageFileDataset: folders, CSV) and by in-memory IDX/MNIST sets (IdxImageSource).
// Must hold: Load(i) returns a fresh (or never-mutated) image in [0, 1]; LabelsOf(i) indexes Classes;
// Describe(i) names the item in error messages (the file path for files).
namespace NativeCnn.Data;

/// <summary>What a <see cref="DataLoader"/> reads: numbered images with labels and a class vocabulary. Implement it to feed your own storage (a database, a zip) to the loader.</summary>
public interface IImageSource
{
    /// <summary>A name for messages (the folder or file the images came from).</summary>
    string Name { get; }
    /// <summary>Number of images.</summary>
    int Count { get; }
    /// <summary>Class names; labels index them.</summary>
    IReadOnlyList<string> Classes { get; }
    /// <summary>True when an image may have several labels (targets become multi-hot vectors).</summary>
    bool MultiLabel { get; }
    /// <summary>Image <paramref name="index"/> (0..Count-1) as (C, H, W) floats in [0, 1]; a fresh or never-mutated image.</summary>
    /// <exception cref="ArgumentException">The image cannot be read (the message names it).</exception>
    DecodedImage Load(int index);
    /// <summary>The class indices of image <paramref name="index"/> (one for single-label sets).</summary>
    int[] LabelsOf(int index);
    /// <summary>Image <paramref name="index"/> named for messages (its file path for files).</summary>
    string Describe(int index);
}

/// <summary>An IDX (MNIST-format) image set as a 1-channel image source; classes are "0".."k-1".</summary>
public sealed class IdxImageSource : IImageSource
{
    private readonly ImageDataset _data;
    private readonly string[] _classes;

    /// <summary>Wraps <paramref name="data"/>; classes are "0".."k-1".</summary>
    public IdxImageSource(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        _classes = Enumerable.Range(0, data.Classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <inheritdoc/>
    public string Name => _data.Name;
    /// <inheritdoc/>
    public int Count => _data.Count;
    /// <inheritdoc/>
    public IReadOnlyList<string> Classes => _classes;
    /// <summary>Always false: IDX labels are single.</summary>
    public bool MultiLabel => false;

    /// <inheritdoc/>
    public DecodedImage Load(int index)
    {
        int size = _data.Height * _data.Width;
        var px = new float[size];
        var src = _data.Pixels.AsSpan(index * size, size);
        for (int p = 0; p < size; p++) px[p] = src[p] / 255f;
        return new DecodedImage(px, 1, _data.Height, _data.Width);
    }

    /// <inheritdoc/>
    public int[] LabelsOf(int index) => new[] { _data.Labels[index] };

    /// <inheritdoc/>
    public string Describe(int index) => $"IDX set '{_data.Name}' image {index}";
}
