// MNIST in IDX form: the embedded 10,000-digit subset (8,000 train / 2,000 valid, the engine's
// default data set, shipped as resources "mnist10k/<file>" of the NativeCnn.Datasets.Mnist assembly,
// a package of its own so applications training on their own images do not carry 1.6 MB of digits)
// or the four files from a directory. Must hold: the four files are validated as a pair each.
using System.Reflection;

namespace NativeCnn.Data;

/// <summary>The train and valid parts of an MNIST-format data set.</summary>
/// <param name="Train">The training images and labels.</param>
/// <param name="Valid">The validation images and labels.</param>
public sealed record MnistData(ImageDataset Train, ImageDataset Valid);

/// <summary>MNIST in IDX form: the 10,000 digits of the NativeCnn.Datasets.Mnist package, or the four IDX files from a folder.</summary>
public static class Mnist
{
    /// <summary>Channel mean and standard deviation of MNIST pixels scaled to [0, 1] (torchvision's values).</summary>
    public const float Mean = 0.1307f, Std = 0.3081f;

    /// <summary>The four files a folder must hold (each .gz or plain): train images, train labels, valid images, valid labels.</summary>
    public static readonly string[] FileNames =
    {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "valid-images-idx3-ubyte.gz", "valid-labels-idx1-ubyte.gz",
    };

    /// <summary>The assembly (and NuGet package) that holds the embedded digits.</summary>
    public const string EmbeddedAssemblyName = "NativeCnn.Datasets.Mnist";

    /// <summary>The 8,000 / 2,000 digits of the NativeCnn.Datasets.Mnist package: no download, no files.</summary>
    /// <exception cref="InvalidOperationException">The application does not reference NativeCnn.Datasets.Mnist.</exception>
    public static MnistData LoadEmbedded()
    {
        System.Reflection.Assembly asm;
        try { asm = System.Reflection.Assembly.Load(new AssemblyName(EmbeddedAssemblyName)); }
        catch (FileNotFoundException)
        {
            throw new InvalidOperationException($"Mnist.LoadEmbedded: the embedded MNIST digits ship in the {EmbeddedAssemblyName} package, which this application does not reference; add it (dotnet add package {EmbeddedAssemblyName}) or load the IDX files with Mnist.LoadDirectory");
        }
        IdxData Load(string file)
        {
            using var s = asm.GetManifestResourceStream("mnist10k/" + file)
                ?? throw new InvalidOperationException($"internal: embedded resource 'mnist10k/{file}' is missing from {asm.GetName().Name}");
            return Idx.Read(s, "embedded:mnist10k/" + file);
        }
        return new MnistData(
            ImageDataset.FromIdx(Load(FileNames[0]), Load(FileNames[1]), 10, "embedded:mnist10k/" + FileNames[0], "embedded:mnist10k/" + FileNames[1]),
            ImageDataset.FromIdx(Load(FileNames[2]), Load(FileNames[3]), 10, "embedded:mnist10k/" + FileNames[2], "embedded:mnist10k/" + FileNames[3]));
    }

    /// <summary>Reads train-/valid-images-idx3-ubyte and -labels-idx1-ubyte (each .gz or plain) from <paramref name="directory"/>.</summary>
    public static MnistData LoadDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"MNIST data directory '{directory}' does not exist; expected a directory holding {string.Join(", ", FileNames)}");
        string Find(string file)
        {
            var gz = Path.Combine(directory, file);
            if (File.Exists(gz)) return gz;
            var plain = Path.Combine(directory, Path.GetFileNameWithoutExtension(file));
            if (File.Exists(plain)) return plain;
            throw new FileNotFoundException($"MNIST data directory '{directory}' has no '{file}' (or '{Path.GetFileName(plain)}'); expected {string.Join(", ", FileNames)}", gz);
        }
        var paths = FileNames.Select(Find).ToArray();
        var idx = paths.Select(Idx.ReadFile).ToArray();
        return new MnistData(
            ImageDataset.FromIdx(idx[0], idx[1], 10, paths[0], paths[1]),
            ImageDataset.FromIdx(idx[2], idx[3], 10, paths[2], paths[3]));
    }
}
