// Labelled image-file datasets: a list of files, each with one class (single-label) or a set of
// classes (multi-label), and the sorted class vocabulary that belongs to the trained model.
// Sources: ImageNet-style folders (root/train/<class>/*, root/valid/<class>/*, root/test/*), one
// folder of class folders split at random by a seeded percentage, and CSV files (CsvDataset.cs).
// Must hold: Classes is sorted ordinally and every label indexes it; an empty class folder, a file
// that is not an image, or a label not in the vocabulary is an error naming it at creation; with
// skipUnreadable the file is left out, Skipped counts it and a warning names it (never silently).
namespace NativeCnn.Data;

/// <summary>One file with its labels (one label when single-label; none for unlabelled test data).</summary>
public sealed record ImageItem(string Path, int[] Labels, string Origin);

/// <summary>Options shared by every file dataset.</summary>
public sealed record DatasetOptions
{
    /// <summary>How each file is decoded (pixel limit, file size limit, channel conversion).</summary>
    public DecodeOptions Decode { get; init; } = DecodeOptions.Default;

    /// <summary>Read every header at creation and leave out unreadable files (with a warning) instead of failing.</summary>
    public bool SkipUnreadable { get; init; }

    /// <summary>Check every header at creation (type, size, channel count) so errors show before training.</summary>
    public bool Validate { get; init; } = true;

    /// <summary>Channel counts the model accepts; a file with another count is an error (or skipped). Null: any.</summary>
    public IReadOnlyCollection<int>? AllowedChannels { get; init; }

    /// <summary>Receives each warning (a skipped file); wins over <see cref="Logger"/>.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Where warnings go when <see cref="Warn"/> is null; null: <see cref="NativeCnnLogging.LoggerFactory"/>'s logger.</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }

    /// <summary>The defaults: validate headers, fail on unreadable files, any channel count.</summary>
    public static readonly DatasetOptions Default = new();
}

/// <summary>Labelled image files (from class folders or a CSV): decoded on demand by <see cref="Load"/>; headers checked when built (see <see cref="DatasetOptions.Validate"/>).</summary>
public sealed class ImageFileDataset : IImageSource
{
    private readonly ImageItem[] _items;

    /// <summary>A dataset of <paramref name="items"/> (path and class indices into <paramref name="classes"/>); <paramref name="name"/> names it in messages. Unless <paramref name="options"/> says otherwise, every header is checked now and an unreadable file is an error.</summary>
    /// <exception cref="ArgumentException">An item's label is outside the classes, or a file is unreadable (without SkipUnreadable).</exception>
    public ImageFileDataset(IEnumerable<ImageItem> items, IReadOnlyList<string> classes, bool multiLabel, string name, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(classes);
        Options = options ?? DatasetOptions.Default;
        Name = name;
        Classes = classes;
        MultiLabel = multiLabel;
        var all = items.ToArray();
        foreach (var item in all)
        {
            foreach (int l in item.Labels)
                if (l < 0 || l >= classes.Count)
                    throw new NativeCnnException($"{name}: {item.Origin} has label index {l}, expected 0 to {classes.Count - 1}");
            if (!multiLabel && item.Labels.Length > 1)
                throw new NativeCnnException($"{name}: {item.Origin} has {item.Labels.Length} labels but the dataset is single-label");
        }
        // Header checks read a few bytes per file: run them on every core, then report in file order
        // (the first problem, or every skipped file), so the outcome does not depend on timing.
        var problems = new string?[all.Length];
        if (Options.Validate || Options.SkipUnreadable)
            Parallel.For(0, all.Length, i => problems[i] = Probe(all[i]));
        var kept = new List<ImageItem>(all.Length);
        for (int i = 0; i < all.Length; i++)
        {
            if (problems[i] is string problem)
            {
                if (!Options.SkipUnreadable) throw new NativeCnnException(problem);
                Skipped++;
                NativeCnnLogging.Warner<ImageFileDataset>(Options.Warn, Options.Logger)($"warning: skipped {problem}");
                continue;
            }
            kept.Add(all[i]);
        }
        _items = kept.ToArray();
        if (Skipped > 0)
            NativeCnnLogging.Warner<ImageFileDataset>(Options.Warn, Options.Logger)($"warning: {name}: skipped {Skipped} unreadable file(s), kept {_items.Length}");
    }

    /// <inheritdoc/>
    public string Name { get; }
    /// <inheritdoc/>
    public IReadOnlyList<string> Classes { get; }
    /// <inheritdoc/>
    public bool MultiLabel { get; }
    /// <summary>The options the dataset was built with.</summary>
    public DatasetOptions Options { get; }
    /// <inheritdoc/>
    public int Count => _items.Length;

    /// <summary>Files left out at creation because they could not be read (only with SkipUnreadable).</summary>
    public int Skipped { get; }

    /// <summary>Item <paramref name="index"/>: its path, labels and origin (folder or CSV line).</summary>
    public ImageItem this[int index] => _items[index];

    /// <inheritdoc/>
    public int[] LabelsOf(int index) => _items[index].Labels;

    /// <inheritdoc/>
    public string Describe(int index) => _items[index].Path;

    /// <summary>Decodes item <paramref name="index"/>; errors name the file and where it came from.</summary>
    public DecodedImage Load(int index)
    {
        var item = _items[index];
        try { return ImageDecoder.Decode(item.Path, Options.Decode); }
        catch (NativeCnnException e) when (item.Origin != item.Path)
        {
            throw new NativeCnnException($"{e.Message} ({item.Origin})");
        }
    }

    private string? Probe(ImageItem item)
    {
        try
        {
            if (!File.Exists(item.Path)) return $"{item.Origin}: image file '{item.Path}' does not exist";
            var (_, _, c) = ImageDecoder.IdentifyFile(item.Path, Options.Decode);
            int effective = Options.Decode.ConvertTo ?? c;
            if (Options.AllowedChannels is { } allowed && !allowed.Contains(effective))
                return $"image file '{item.Path}' has {effective} channels, expected {string.Join(" or ", allowed)}";
            return null;
        }
        catch (NativeCnnException e) { return item.Origin == item.Path ? e.Message : $"{e.Message} ({item.Origin})"; }
        catch (IOException e) { return $"image file '{item.Path}' cannot be read: {e.Message}"; }
    }

    /// <summary>A random split: about <paramref name="validPercent"/>% of the items (seeded) go to the second set.</summary>
    public (ImageFileDataset Train, ImageFileDataset Valid) Split(double validPercent, Rng rng)
    {
        if (!(validPercent >= 0 && validPercent <= 100))
            throw new NativeCnnException($"{Name}: validation percentage must be in [0, 100], got {validPercent}");
        int nValid = (int)Math.Round(Count * validPercent / 100.0);
        int[] perm = rng.Permutation(Count);
        var valid = perm.Take(nValid).Order().Select(i => _items[i]);
        var train = perm.Skip(nValid).Order().Select(i => _items[i]);
        var noCheck = Options with { Validate = false, SkipUnreadable = false };
        return (new ImageFileDataset(train, Classes, MultiLabel, Name + "/train", noCheck),
                new ImageFileDataset(valid, Classes, MultiLabel, Name + "/valid", noCheck));
    }
}

/// <summary>Builds <see cref="ImageFileDataset"/>s from folder layouts: one folder per class, or ImageNet's train/valid(/test) folders of class folders.</summary>
public static class FolderDataset
{
    /// <summary>root/&lt;class&gt;/* : one dataset, classes from the sub-folder names (sorted).</summary>
    public static ImageFileDataset FromClassFolders(string root, DatasetOptions? options = null, IReadOnlyList<string>? classes = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder '{root}' does not exist");
        var dirs = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (dirs.Length == 0) throw new NativeCnnException($"image folder '{root}' has no class sub-folders; expected {root}/<class>/<image>");
        classes ??= dirs;
        var items = new List<ImageItem>();
        foreach (var d in dirs)
        {
            int label = IndexOf(classes, d);
            if (label < 0)
                throw new NativeCnnException($"class folder '{Path.Combine(root, d)}' is not in the model's classes ({string.Join(", ", classes)})");
            var files = ImageFiles(Path.Combine(root, d));
            if (files.Length == 0)
                throw new NativeCnnException($"class folder '{Path.Combine(root, d)}' holds no image files (expected {string.Join(" ", ImageDecoder.Extensions.Order())})");
            items.AddRange(files.Select(f => new ImageItem(f, new[] { label }, f)));
        }
        return new ImageFileDataset(items, classes, false, root, options);
    }

    /// <summary>ImageNet layout: root/train/&lt;class&gt;, root/valid/&lt;class&gt; (same classes) and an optional unlabelled root/test.</summary>
    public static (ImageFileDataset Train, ImageFileDataset Valid, ImageFileDataset? Test) FromImageNetLayout(string root, DatasetOptions? options = null, string train = "train", string valid = "valid", string test = "test")
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder '{root}' does not exist");
        if (!Directory.Exists(Path.Combine(root, train)))
            throw new NativeCnnException($"image folder '{root}' has no '{train}' sub-folder; expected {root}/{train}/<class>/<image>");
        var tr = FromClassFolders(Path.Combine(root, train), options);
        var va = FromClassFolders(Path.Combine(root, valid), options, tr.Classes);
        ImageFileDataset? te = null;
        string testDir = Path.Combine(root, test);
        if (Directory.Exists(testDir))
            te = new ImageFileDataset(ImageFiles(testDir).Select(f => new ImageItem(f, Array.Empty<int>(), f)), tr.Classes, false, testDir, options);
        return (tr, va, te);
    }

    /// <summary>Image files directly in <paramref name="dir"/>, sorted, by suffix.</summary>
    public static string[] ImageFiles(string dir) =>
        Directory.GetFiles(dir).Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToArray();

    internal static int IndexOf(IReadOnlyList<string> classes, string name)
    {
        for (int i = 0; i < classes.Count; i++) if (classes[i] == name) return i;
        return -1;
    }
}
