// What `train` and `finetune` feed the Learner: the data named by --data (format detected: the
// embedded MNIST, an IDX folder, an ImageNet-style folder, a folder of class folders, a CSV file) as a
// DataBunch that records classes, statistics, channels and size for the export bundle; and the
// --metrics list. Must hold: IDX data goes through the BatchIterator exactly as before (the README's
// table does not change); image files through the DataLoader with statistics computed from the
// training images; every problem with the data names it.
using System.Globalization;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Training;

namespace NativeCnn.Cli;

/// <summary>The data of a run and what the model must know about it.</summary>
public sealed record LoadedData(DataBunch Bunch, int TrainCount, int ValidCount, string Description)
{
    public IReadOnlyList<string> Classes => Bunch.Classes!;
    public bool MultiLabel => Bunch.MultiLabel;
}

internal static class TrainData
{
    /// <summary>Loads --data for `train`: format detection, split, limit, statistics, loaders.</summary>
    public static LoadedData Load(TrainOptions o, Device device, Rng rng)
    {
        if (o.EmbeddedMnist)
        {
            if (o.MultiLabel) throw new UsageException($"{o.Command}: --multi-label needs a CSV file as --data; MNIST is single-label");
            var m = Mnist.LoadEmbedded();
            return Idx(o, m.Train, m.Valid, "embedded:mnist10k", device, rng);
        }
        string path = o.DataDir!;
        if (Directory.Exists(path))
        {
            if (Mnist.FileNames.Any(f => File.Exists(Path.Combine(path, f)) || File.Exists(Path.Combine(path, Path.GetFileNameWithoutExtension(f)))))
            {
                if (o.MultiLabel) throw new UsageException($"{o.Command}: --multi-label needs a CSV file as --data; IDX data is single-label");
                var m = Mnist.LoadDirectory(path);
                return Idx(o, m.Train, m.Valid, path, device, rng);
            }
            if (o.MultiLabel) throw new UsageException($"{o.Command}: --multi-label needs a CSV file as --data; '{path}' is a folder of class folders (single-label)");
            if (Directory.Exists(Path.Combine(path, "train")))
            {
                var (tr, va, _) = FolderDataset.FromImageNetLayout(path);
                return Images(o, tr, va, path, device, rng);
            }
            var all = FolderDataset.FromClassFolders(path);
            var (t, v) = all.Split(o.ValidPct, rng);
            return Images(o, t, v, path, device, rng);
        }
        if (File.Exists(path))
        {
            if (!path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
                throw new NativeCnnException($"--data '{path}' is a file but not a .csv file; expected mnist, a folder or a CSV file of name,labels rows");
            var all = CsvDataset.Load(path, new CsvOptions { ImageFolder = o.Folder, Suffix = o.Suffix, MultiLabel = o.MultiLabel });
            var (t, v) = all.Split(o.ValidPct, rng);
            return Images(o, t, v, path, device, rng);
        }
        throw new NativeCnnException($"--data '{path}' does not exist; expected mnist, a folder or a CSV file");
    }

    private static LoadedData Idx(TrainOptions o, ImageDataset train, ImageDataset valid, string name, Device device, Rng rng)
    {
        if (o.Size is int s && (s != train.Height || s != train.Width))
            throw new UsageException($"{o.Command}: --size {s} cannot resize IDX images; they are {train.Height}x{train.Width} (leave --size out)");
        if (o.Channels is int c && c != 1)
            throw new UsageException($"{o.Command}: --channels {c} does not apply to IDX images, which have 1 channel");
        if (o.Limit is int n) (train, valid) = (train.Take(n), valid.Take(n));
        return FromIdx(o, train, valid, name, device, rng);
    }

    /// <summary>IDX (MNIST) data through BatchIterator, normalised with MNIST's statistics.</summary>
    public static LoadedData FromIdx(TrainOptions o, ImageDataset train, ImageDataset valid, string name, Device device, Rng rng)
    {
        RequireTwoClasses(name, train.Classes, null, false);
        if (o.BatchSize > train.Count)
            throw new UsageException($"{o.Command}: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");
        var trainBatches = new BatchIterator(train, o.BatchSize, shuffle: true, dropLast: true, rng: rng, device: device);
        var validBatches = new BatchIterator(valid, Math.Max(o.BatchSize, 256), shuffle: false, device: device);
        var bunch = new DataBunch(new BatchIteratorSource(trainBatches), new BatchIteratorSource(validBatches))
        {
            Classes = Enumerable.Range(0, train.Classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(),
            Stats = NormStats.Mnist,
            Channels = 1,
            Size = (train.Height, train.Width),
        };
        return new LoadedData(bunch, train.Count, valid.Count, name);
    }

    private static LoadedData Images(TrainOptions o, ImageFileDataset train, ImageFileDataset valid, string name, Device device, Rng rng)
    {
        if (o.Limit is int n) (train, valid) = (Spread(train, n), Spread(valid, n));
        int channels = o.Channels ?? 3, size = o.Size ?? 64;
        var stats = o.Norm switch
        {
            "imagenet" => NormStats.ImageNet,
            "cifar" => NormStats.Cifar,
            "mnist" => NormStats.Mnist,
            _ => NormStats.Compute(train, channels),
        };
        if (stats.Channels != channels)
            throw new UsageException($"{o.Command}: --norm {o.Norm} has statistics for {stats.Channels} channel(s), but the model takes {channels} (--channels)");
        return FromFiles(o, train, valid, name, device, rng, train.Classes, channels, (size, size), stats, o.Augment, transforms: o.TrainTransforms());
    }

    /// <summary>Image files through the DataLoader; an empty validation set gives a valid source of no batches.</summary>
    public static LoadedData FromFiles(TrainOptions o, ImageFileDataset train, ImageFileDataset valid, string name, Device device, Rng rng,
                                       IReadOnlyList<string> classes, int channels, (int H, int W) size, NormStats stats, bool augment,
                                       ResizeMethod resize = ResizeMethod.Crop, TwoChannelFill fill = TwoChannelFill.Zeros, string command = "train",
                                       AugmentOptions? transforms = null)
    {
        if (train.Count == 0) throw new NativeCnnException($"{name}: no training images (all {valid.Count} went to validation; lower --valid-pct)");
        RequireTwoClasses(name, classes.Count, classes, train.MultiLabel);
        if (o.BatchSize > train.Count)
            throw new UsageException($"{command}: --bs {o.BatchSize} is larger than the {train.Count} training images; expected at most {train.Count}");
        Limits.CheckBatch(command, Math.Max(o.BatchSize, 64), channels, size);
        transforms ??= augment ? new AugmentOptions() : AugmentOptions.None;
        var tf = new ImageTransform(size.H, size.W, resize, augment ? transforms : AugmentOptions.None);
        var common = new DataLoaderOptions { Channels = channels, Normalize = stats, Device = device, TwoChannelFill = fill };
        var trainLoader = new DataLoader(train, tf, common with { BatchSize = o.BatchSize, Shuffle = true, DropLast = true, Train = augment }, rng);
        IBatchSource validSource = valid.Count == 0
            ? new ListSource(Array.Empty<(Tensor, Tensor)>())
            : new DataLoaderSource(new DataLoader(valid, tf, common with { BatchSize = Math.Max(o.BatchSize, 64) }, rng));
        var bunch = new DataBunch(new DataLoaderSource(trainLoader), validSource)
        {
            Classes = classes, Stats = stats, Channels = channels, Size = size, MultiLabel = train.MultiLabel, Augment = transforms,
        };
        return new LoadedData(bunch, train.Count, valid.Count, name);
    }

    /// <summary>A single-label classifier of one class learns nothing (loss 0, accuracy 1, that class for any
    /// input): refused, naming the data and the class.</summary>
    private static void RequireTwoClasses(string name, int count, IReadOnlyList<string>? classes, bool multiLabel)
    {
        if (multiLabel || count >= 2) return;
        throw new NativeCnnException($"--data '{name}' has {count} class{(count == 1 ? "" : "es")}{(classes is { Count: > 0 } ? $" ({string.Join(", ", classes)})" : "")}; " +
                                     "single-label classification needs at least 2 classes (add a folder or label per class)");
    }

    /// <summary>At most <paramref name="n"/> items spread evenly over the set (so every class keeps some).</summary>
    internal static ImageFileDataset Spread(ImageFileDataset data, int n)
    {
        if (n >= data.Count) return data;
        var picked = Enumerable.Range(0, n).Select(k => data[(int)((long)k * data.Count / n)]);
        return new ImageFileDataset(picked, data.Classes, data.MultiLabel, data.Name, data.Options with { Validate = false, SkipUnreadable = false });
    }
}

/// <summary>The --metrics list: accuracy, error_rate, top_k[:K], accuracy_thresh[:T], fbeta[:T].</summary>
internal static class MetricList
{
    /// <summary>Builds the metrics; <paramref name="multiLabel"/> null checks only the names (at parse time).</summary>
    public static List<Metric> Parse(string? spec, bool? multiLabel, float? thresh, string command)
    {
        if (spec is null)
            return multiLabel == true
                ? new List<Metric> { Metrics.AccuracyThresh(thresh ?? 0.5f), Metrics.FBeta(thresh: thresh ?? 0.2f) }
                : new List<Metric> { Metrics.Accuracy() };
        var list = new List<Metric>();
        foreach (var raw in spec.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = raw.Split(':', 2);
            string name = parts[0];
            string? arg = parts.Length > 1 ? parts[1] : null;
            float Thresh(float fallback)
            {
                if (arg is null) return thresh ?? fallback;
                return float.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t > 0 && t < 1 ? t
                    : throw new UsageException($"{command}: --metrics {name}:{arg} expects a threshold between 0 and 1");
            }
            void NoArg()
            {
                if (arg is not null) throw new UsageException($"{command}: --metrics {name} takes no parameter, got '{raw}'");
            }
            bool? needsMulti;
            Metric m;
            switch (name)
            {
                case "accuracy": NoArg(); m = Metrics.Accuracy(); needsMulti = false; break;
                case "error_rate": NoArg(); m = Metrics.ErrorRate(); needsMulti = false; break;
                case "top_k":
                    int k = 5;
                    if (arg is not null && (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out k) || k <= 0))
                        throw new UsageException($"{command}: --metrics top_k:{arg} expects a positive integer k");
                    m = Metrics.TopKAccuracy(k); needsMulti = false; break;
                case "accuracy_thresh": m = Metrics.AccuracyThresh(Thresh(0.5f)); needsMulti = true; break;
                case "fbeta": m = Metrics.FBeta(thresh: Thresh(0.2f)); needsMulti = true; break;
                default:
                    throw new UsageException($"{command}: --metrics expects a comma list of accuracy, error_rate, top_k[:K], accuracy_thresh[:T], fbeta[:T]; got '{raw}'");
            }
            if (multiLabel is bool ml && ml != needsMulti)
                throw new UsageException($"{command}: metric '{name}' is for {(needsMulti == true ? "multi-label" : "single-label")} data, but the data is {(ml ? "multi-label" : "single-label")}");
            list.Add(m);
        }
        return list;
    }
}
