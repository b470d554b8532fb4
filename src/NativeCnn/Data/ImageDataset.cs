// An in-memory labelled grey-scale image set: N images of H x W bytes (0..255) and N class labels.
// Must hold: Pixels.Length == Count * Height * Width and every label is in [0, Classes).
namespace NativeCnn.Data;

/// <summary>An in-memory labelled grey image set (MNIST and other IDX files): N images of H x W bytes and N class labels.</summary>
public sealed class ImageDataset
{
    /// <summary>A set of <paramref name="labels"/>.Length images whose bytes (0..255, row-major, image after image) are <paramref name="pixels"/>, each <paramref name="height"/> x <paramref name="width"/>, with labels in [0, <paramref name="classes"/>); <paramref name="name"/> names it in messages.</summary>
    /// <exception cref="ArgumentException">The lengths disagree or a label is out of range.</exception>
    public ImageDataset(byte[] pixels, int[] labels, int height, int width, int classes, string name)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        Check.Positive(height, $"{name}: image height");
        Check.Positive(width, $"{name}: image width");
        Check.Positive(classes, $"{name}: classes");
        if ((long)labels.Length * height * width != pixels.Length)
            throw new NativeCnnException($"{name}: {labels.Length} labels need {(long)labels.Length * height * width} pixels of {height}x{width}, got {pixels.Length}");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                throw new NativeCnnException($"{name}: label {i} is {labels[i]}, expected 0 to {classes - 1}");
        Pixels = pixels;
        Labels = labels;
        Height = height;
        Width = width;
        Classes = classes;
        Name = name;
    }

    /// <summary>The pixels, N x H x W bytes.</summary>
    public byte[] Pixels { get; }
    /// <summary>One class index per image.</summary>
    public int[] Labels { get; }
    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;
    /// <summary>Image height in pixels.</summary>
    public int Height { get; }
    /// <summary>Image width in pixels.</summary>
    public int Width { get; }
    /// <summary>Number of classes (labels are below it).</summary>
    public int Classes { get; }
    /// <summary>A name for messages.</summary>
    public string Name { get; }

    /// <summary>The first <paramref name="count"/> images (or all if there are fewer).</summary>
    public ImageDataset Take(int count)
    {
        Check.Positive(count, $"{Name}: Take count");
        if (count >= Count) return this;
        int size = Height * Width;
        return new ImageDataset(Pixels.AsSpan(0, count * size).ToArray(), Labels.AsSpan(0, count).ToArray(), Height, Width, Classes, Name);
    }

    /// <summary>Pairs an IDX image file (N, H, W) with an IDX label file (N).</summary>
    public static ImageDataset FromIdx(IdxData images, IdxData labels, int classes, string imagesName, string labelsName)
    {
        if (images.Dimensions.Length != 3)
            throw new NativeCnnException($"IDX file '{imagesName}': expected 3 dimensions (count, rows, columns) for images, got {Shape.Format(images.Dimensions)}");
        if (labels.Dimensions.Length != 1)
            throw new NativeCnnException($"IDX file '{labelsName}': expected 1 dimension (count) for labels, got {Shape.Format(labels.Dimensions)}");
        if (images.Dimensions[0] != labels.Dimensions[0])
            throw new NativeCnnException($"'{imagesName}' holds {images.Dimensions[0]} images but '{labelsName}' holds {labels.Dimensions[0]} labels; expected equal counts");
        var ys = new int[labels.Values.Length];
        for (int i = 0; i < ys.Length; i++)
        {
            ys[i] = labels.Values[i];
            if (ys[i] >= classes)
                throw new NativeCnnException($"IDX file '{labelsName}': label {i} is {ys[i]}, expected 0 to {classes - 1}");
        }
        return new ImageDataset(images.Values, ys, images.Dimensions[1], images.Dimensions[2], classes, imagesName);
    }
}
