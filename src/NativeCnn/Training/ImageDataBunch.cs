// The one way to make a Learner's data from what a user has: a folder of images (ImageNet layout or
// class folders), a CSV of name,labels rows, MNIST-format IDX files, or images already in memory. Each
// factory returns a DataBunch that records what a trained model must carry (classes, normalisation
// statistics, channels, size, multi-label), so Learner.Export works without further setup.
// Must hold: the same options give the same batches for the same seed; statistics are computed from the
// training images only (never the validation ones) unless given; every bad input fails naming it.
using Microsoft.Extensions.Logging;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;

namespace NativeCnn.Training;

/// <summary>How <see cref="ImageDataBunch"/> turns images into batches. Every setting has a default.</summary>
public sealed record ImageDataOptions
{
    /// <summary>Side of the square model input, in pixels: images are brought to Size x Size by <see cref="Resize"/>.
    /// Default 64 for image files; null keeps the images' own size (in-memory arrays and IDX files always keep it).</summary>
    public int? Size { get; init; }
    /// <summary>Input channels of the model (1 grey, 3 RGB, 4 RGBA); every image is adapted to it. Default 3 for
    /// image files; arrays and IDX files use their own channel count.</summary>
    public int? Channels { get; init; }
    /// <summary>Images per training batch (default 64). Validation batches hold at least 64.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Percentage (0 to 100) of the images held out for validation when the source has no valid split
    /// of its own (class folders, a CSV, arrays). Default 20.</summary>
    public double ValidPct { get; init; } = 20;
    /// <summary>Per-channel normalisation statistics; null computes them from (up to 1,000) training images.</summary>
    public NormStats? Stats { get; init; }
    /// <summary>fastai v1's default augmentation (flip, rotate, zoom, lighting, warp) on training batches. Default true for
    /// image files, false for arrays and IDX files (digits must not be flipped).</summary>
    public bool? Augment { get; init; }
    /// <summary>How an image reaches the model's size: centre crop (default), squish or pad.</summary>
    public ResizeMethod Resize { get; init; } = ResizeMethod.Crop;
    /// <summary>Where the batches are made: the model's device (default: the CPU).</summary>
    public Device? Device { get; init; }
    /// <summary>Seeds the split, the shuffling and the augmentation; null uses <see cref="Rng.Global"/>.</summary>
    public Rng? Rng { get; init; }
    /// <summary>Worker threads that decode and augment image files; default one per core.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Leave out images that fail to decode (with a warning) instead of failing. Default false.</summary>
    public bool SkipUnreadable { get; init; }
    /// <summary>Where warnings go; null: <see cref="NativeCnnLogging.LoggerFactory"/>'s logger.</summary>
    public ILogger? Logger { get; init; }
}

/// <summary>Builds the <see cref="DataBunch"/> of a Learner from a folder, a CSV file, IDX files or arrays.</summary>
public static class ImageDataBunch
{
    /// <summary>Images under <paramref name="path"/>: either the ImageNet layout (<c>train/&lt;class&gt;/*</c>,
    /// <c>valid/&lt;class&gt;/*</c>) or one folder per class (<c>&lt;class&gt;/*</c>), split at random by
    /// <see cref="ImageDataOptions.ValidPct"/>. Classes are the sub-folder names, sorted.</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="path"/> is not a folder.</exception>
    /// <exception cref="ArgumentException">The folder holds no class folders or no images, or an option is out of range.</exception>
    public static DataBunch FromFolder(string path, ImageDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var o = options ?? new ImageDataOptions();
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"image folder '{path}' does not exist; expected a folder of class folders or train/ and valid/ folders");
        var ds = DatasetOptionsOf(o);
        if (Directory.Exists(Path.Combine(path, "train")))
        {
            var (train, valid, _) = FolderDataset.FromImageNetLayout(path, ds);
            return FromSources(train, valid, o);
        }
        var all = FolderDataset.FromClassFolders(path, ds);
        var (t, v) = all.Split(o.ValidPct, o.Rng ?? Rng.Global);
        return FromSources(t, v, o);
    }

    /// <summary>Images named by a CSV file of <c>name,labels</c> rows (a header row first; labels separated by
    /// spaces when multi-label), split at random by <see cref="ImageDataOptions.ValidPct"/>.
    /// <paramref name="csv"/> sets the image folder (default: the CSV's folder), a file suffix, multi-label and the classes.</summary>
    /// <exception cref="FileNotFoundException"><paramref name="csvPath"/> does not exist.</exception>
    /// <exception cref="ArgumentException">A row, a file or an option is bad (the message names it).</exception>
    public static DataBunch FromCsv(string csvPath, CsvOptions? csv = null, ImageDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(csvPath);
        var o = options ?? new ImageDataOptions();
        if (!File.Exists(csvPath)) throw new FileNotFoundException($"CSV file '{csvPath}' does not exist", csvPath);
        var all = CsvDataset.Load(csvPath, csv, DatasetOptionsOf(o));
        var (t, v) = all.Split(o.ValidPct, o.Rng ?? Rng.Global);
        return FromSources(t, v, o);
    }

    /// <summary>MNIST-format IDX files in <paramref name="directory"/> (train-/valid-images-idx3-ubyte and
    /// -labels-idx1-ubyte, each .gz or plain): 1 channel, the images' own size, classes "0".."9", no augmentation,
    /// MNIST's statistics unless <see cref="ImageDataOptions.Stats"/> says otherwise.</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist.</exception>
    public static DataBunch FromIdx(string directory, ImageDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"IDX folder '{directory}' does not exist; expected a folder holding {string.Join(", ", Mnist.FileNames)}");
        var m = Mnist.LoadDirectory(directory);
        return FromIdx(m.Train, m.Valid, options);
    }

    /// <summary>IDX image sets already read (e.g. <c>Mnist.LoadEmbedded()</c>), batched on the device without
    /// worker threads: 1 channel, the images' own size, classes "0".."k-1", MNIST's statistics unless given.</summary>
    public static DataBunch FromIdx(ImageDataset train, ImageDataset valid, ImageDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(valid);
        var o = options ?? new ImageDataOptions();
        if (o.Augment == true) throw new ArgumentException("ImageDataBunch.FromIdx: IDX data is batched without augmentation; leave Augment unset or false", nameof(options));
        if (o.Channels is int c && c != 1) throw new ArgumentException($"ImageDataBunch.FromIdx: IDX images have 1 channel; Channels is {c}", nameof(options));
        if (o.Size is int s && (s != train.Height || s != train.Width))
            throw new ArgumentException($"ImageDataBunch.FromIdx: IDX images are {train.Height}x{train.Width} and are not resized; Size is {s}", nameof(options));
        var stats = o.Stats ?? NormStats.Mnist;
        if (stats.Channels != 1) throw new ArgumentException($"ImageDataBunch.FromIdx: the statistics have {stats.Channels} channels; IDX images have 1", nameof(options));
        if (o.BatchSize > train.Count) throw new ArgumentOutOfRangeException(nameof(options), o.BatchSize, $"ImageDataBunch: the batch size is larger than the {train.Count} training images");
        var rng = o.Rng ?? Rng.Global;
        var device = o.Device ?? Device.Cpu;
        var tr = new BatchIterator(train, o.BatchSize, shuffle: true, dropLast: true, rng: rng, mean: stats.Mean[0], std: stats.Std[0], device: device);
        var va = new BatchIterator(valid, Math.Max(o.BatchSize, 64), shuffle: false, rng: rng, mean: stats.Mean[0], std: stats.Std[0], device: device);
        return new DataBunch(new BatchIteratorSource(tr), new BatchIteratorSource(va))
        {
            Classes = Enumerable.Range(0, Math.Max(train.Classes, valid.Classes)).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            Stats = stats, Channels = 1, Size = (train.Height, train.Width),
        };
    }

    /// <summary>Images in memory: <paramref name="pixels"/> holds N images of <paramref name="channels"/> x
    /// <paramref name="height"/> x <paramref name="width"/> values in [0, 1] (NCHW, image after image) and
    /// <paramref name="labels"/> their class indices into <paramref name="classes"/>; split at random by
    /// <see cref="ImageDataOptions.ValidPct"/>. The model input keeps the images' size unless Size is set.</summary>
    /// <exception cref="ArgumentException">The lengths disagree, a label is outside the classes, or a value is not finite.</exception>
    public static DataBunch FromArrays(float[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classes, ImageDataOptions? options = null)
    {
        var o = options ?? new ImageDataOptions();
        var all = new ArrayImageSource(pixels, labels, channels, height, width, classes);
        var (t, v) = all.Split(o.ValidPct, o.Rng ?? Rng.Global);
        return FromSources(t, v, o with { Size = o.Size ?? (height == width ? height : null), Channels = o.Channels ?? channels, Augment = o.Augment ?? false },
                           (height, width));
    }

    /// <summary>Any two image sources (files, arrays, your own <see cref="IImageSource"/>) through the DataLoader:
    /// training batches shuffled (dropping a short last batch) and augmented as set, validation batches in order.</summary>
    /// <exception cref="ArgumentException">The sources disagree on their classes, the training set is empty or smaller than a batch.</exception>
    public static DataBunch FromSources(IImageSource train, IImageSource valid, ImageDataOptions? options = null) => FromSources(train, valid, options ?? new ImageDataOptions(), null);

    private static DataBunch FromSources(IImageSource train, IImageSource valid, ImageDataOptions o, (int H, int W)? native)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(valid);
        if (train.Count == 0) throw new ArgumentException($"ImageDataBunch: '{train.Name}' has no training images (all went to validation? lower ValidPct)", nameof(train));
        if (!train.Classes.SequenceEqual(valid.Classes))
            throw new ArgumentException($"ImageDataBunch: the train classes ({string.Join(", ", train.Classes)}) differ from the valid classes ({string.Join(", ", valid.Classes)})", nameof(valid));
        if (o.BatchSize <= 0 || o.BatchSize > train.Count)
            throw new ArgumentOutOfRangeException(nameof(o), o.BatchSize, $"ImageDataBunch: the batch size must be 1..{train.Count} (the training images of '{train.Name}')");
        if (!(o.ValidPct >= 0 && o.ValidPct <= 100)) throw new ArgumentOutOfRangeException(nameof(o), o.ValidPct, "ImageDataBunch: ValidPct must be in [0, 100]");
        int channels = o.Channels ?? 3;
        var size = o.Size is int s ? (s, s) : native ?? (64, 64);
        var rng = o.Rng ?? Rng.Global;
        var stats = o.Stats ?? NormStats.Compute(train, channels);
        if (stats.Channels != channels)
            throw new ArgumentException($"ImageDataBunch: the statistics have {stats.Channels} channels but the model takes {channels}", nameof(o));
        bool augment = o.Augment ?? true;
        var tf = new ImageTransform(size.Item1, size.Item2, o.Resize, augment ? new AugmentOptions() : AugmentOptions.None);
        var common = new DataLoaderOptions
        {
            Channels = channels, Normalize = stats, Device = o.Device, Workers = o.Workers,
            SkipUnreadable = o.SkipUnreadable, Logger = o.Logger,
        };
        var trainLoader = new DataLoader(train, tf, common with { BatchSize = o.BatchSize, Shuffle = true, DropLast = true, Train = augment }, rng);
        IBatchSource validSource = valid.Count == 0
            ? new ListSource(Array.Empty<(Tensor, Tensor)>())
            : new DataLoaderSource(new DataLoader(valid, tf, common with { BatchSize = Math.Max(o.BatchSize, 64) }, rng));
        return new DataBunch(new DataLoaderSource(trainLoader), validSource)
        {
            Classes = train.Classes.ToArray(), Stats = stats, Channels = channels, Size = size, MultiLabel = train.MultiLabel,
        };
    }

    private static DatasetOptions DatasetOptionsOf(ImageDataOptions o) =>
        new() { SkipUnreadable = o.SkipUnreadable, Logger = o.Logger };
}
