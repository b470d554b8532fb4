// What the DataLoader reads from: numbered images with labels and a class vocabulary. Implemented by
// image files (ImageFileDataset: folders, CSV) and by in-memory IDX/MNIST sets (IdxImageSource).
// Must hold: Load(i) returns a fresh (or never-mutated) image in [0, 1]; LabelsOf(i) indexes Classes;
// Describe(i) names the item in error messages (the file path for files).
namespace NativeCnn.Data;

public interface IImageSource
{
    string Name { get; }
    int Count { get; }
    IReadOnlyList<string> Classes { get; }
    bool MultiLabel { get; }
    DecodedImage Load(int index);
    int[] LabelsOf(int index);
    string Describe(int index);
}

/// <summary>An IDX (MNIST-format) image set as a 1-channel image source; classes are "0".."k-1".</summary>
public sealed class IdxImageSource : IImageSource
{
    private readonly ImageDataset _data;
    private readonly string[] _classes;

    public IdxImageSource(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        _classes = Enumerable.Range(0, data.Classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    public string Name => _data.Name;
    public int Count => _data.Count;
    public IReadOnlyList<string> Classes => _classes;
    public bool MultiLabel => false;

    public DecodedImage Load(int index)
    {
        int size = _data.Height * _data.Width;
        var px = new float[size];
        var src = _data.Pixels.AsSpan(index * size, size);
        for (int p = 0; p < size; p++) px[p] = src[p] / 255f;
        return new DecodedImage(px, 1, _data.Height, _data.Width);
    }

    public int[] LabelsOf(int index) => new[] { _data.Labels[index] };

    public string Describe(int index) => $"IDX set '{_data.Name}' image {index}";
}
