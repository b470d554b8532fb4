// `nativecnn show-batch`: writes a PNG grid of augmented training images with their labels, so a user
// sees what the augmentation does (the shared transform flags, from fastai's defaults or a model's own). Labels are drawn with ImageGrid's built-in 3x5 pixel font (the engine
// has no font dependency). Must hold: the grid shows exactly what the DataLoader yields for the first batch
// (same seed, same transforms), values clamped to [0, 1]; bad arguments exit 2, bad data exit 1.
using System.Globalization;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class ShowBatchCommand
{
    public const string Usage =
        "Usage: nativecnn show-batch [<data>] --out <grid.png> [options]\n" +
        "\n" +
        "Draws the first training batch as the model sees it: <data> (or --data) is a folder (root/train/<class>/*,\n" +
        "or root/<class>/*) or a CSV file (name,labels); without it, the embedded MNIST training digits.\n" +
        "The transforms are fastai's get_transforms defaults, a model's own (--model), changed by the flags given.\n" +
        "\n" +
        "Options:\n" +
        "  --out PATH          the PNG to write (required)\n" +
        "  --data D            the data (instead of <data>)\n" +
        "  --model DIR         start from an exported model's transforms and input size (as it was trained)\n" +
        "  --size N            image side in pixels (default 128, or the model's)\n" +
        "  --rows N --cols N   grid shape (default 3 x 4)\n" +
        "  --seed N            seed of the shuffle and augmentation (default 0)\n" +
        "  --resize squish|crop|pad   how images reach the size (default crop)\n" +
        "  --no-augment        show the validation view (centre crop only)\n" +
        "  --multi-label       CSV labels are space-separated sets\n" +
        "  --folder DIR        CSV: folder of the images (default the CSV's folder; also --image-folder)\n" +
        "  --suffix S          CSV: appended to each name (e.g. .jpg)\n" +
        "{TRANSFORMS}\n" +
        "  --verbose           stack traces on errors\n" +
        "  -h, --help          show this help";

    /// <summary>Every flag show-batch takes.</summary>
    public static readonly string[] Flags = new[]
    {
        "--out", "--data", "--model", "--size", "--rows", "--cols", "--seed", "--resize", "--no-augment", "--multi-label", "--folder", "--image-folder", "--suffix",
    }.Concat(AugmentArgs.Flags).Concat(new[] { "--verbose", "--help" }).ToArray();

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? data = null, outPath = null, imageFolder = null, model = null;
        int rows = 3, cols = 4;
        var resize = ResizeMethod.Crop;
        var o = new TrainOptions { Seed = 0 };
        TrainOptions.ParseInto(o, args, "show-batch", (a, reader) =>
        {
            int Int(int min, int max = int.MaxValue)
            {
                string v = reader.Value();
                if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) || r < min)
                    throw new UsageException($"show-batch: {a} expects an integer >= {min}, got '{v}'");
                if (r > max) throw new UsageException($"show-batch: {a} expects an integer from {min} to {max}, got '{v}'");
                return r;
            }
            switch (a)
            {
                case "--out": outPath = reader.Value(); return true;
                case "--model": model = reader.Value(); return true;
                case "--size": o.Size = Int(2, Limits.MaxSize); return true;
                case "--rows": rows = Int(1, Limits.MaxGrid); return true;
                case "--cols": cols = Int(1, Limits.MaxGrid); return true;
                case "--image-folder": imageFolder = reader.Value(); return true;
                case "--resize":
                    string m = reader.Value();
                    resize = m switch { "squish" => ResizeMethod.Squish, "crop" => ResizeMethod.Crop, "pad" => ResizeMethod.Pad, _ => throw new UsageException($"show-batch: --resize expects squish, crop or pad, got '{m}'") };
                    return true;
                case "--help" or "-h" or "--verbose": return false;
                case var positional when !positional.StartsWith('-'):
                    if (data is not null) throw new UsageException($"show-batch: unexpected argument '{a}' (see 'nativecnn show-batch --help')");
                    data = positional;
                    return true;
                default: return false;
            }
        }, Flags);
        if (o.Help) { stdout.WriteLine(TrainOptions.Fill(Usage)); return Cli.ExitOk; }
        if (data is not null && o.DataDir is not null) throw new UsageException($"show-batch: the data is given twice ('{data}' and --data '{o.DataDir}'); give one");
        data ??= o.DataDir is "mnist" ? null : o.DataDir;
        if (outPath is null) throw new UsageException("show-batch: --out <grid.png> is required");
        OutputFolder.CheckFile(outPath, "show-batch", "--out");   // before the images are read
        AugmentOptions? baseline = null;
        int size = o.Size ?? 128;
        if (model is not null)
        {
            var (_, info) = ExportBundle.Load(model, Device.Cpu);
            baseline = info.Augment;
            resize = info.Resize;
            if (o.Size is null) size = info.Size.H;
        }
        Limits.CheckBatch("show-batch", rows * cols, 3, (size, size));

        IImageSource ds = data is null ? new IdxImageSource(Mnist.LoadEmbedded().Train) : Load(data, o.Folder ?? imageFolder, o.Suffix, o.MultiLabel);
        var transforms = o.TrainTransforms(baseline);
        var tf = new ImageTransform(size, size, resize, transforms);
        var loader = new DataLoader(ds, tf, new DataLoaderOptions { BatchSize = Math.Min(rows * cols, ds.Count), Shuffle = true, Train = o.Augment, Channels = 3 }, new Rng(o.Seed));
        var batch = loader.Epoch().First();
        var labels = batch.Indices.Select(i => string.Join(" ", ds.LabelsOf(i).Select(l => ds.Classes[l]))).ToArray();
        WriteGrid(outPath, batch.X.ToArray(), labels, size, rows, cols);
        stdout.WriteLine($"wrote {outPath}: {labels.Length} {(o.Augment ? "augmented training" : "validation")} images of {size}x{size} from {ds.Name} ({ds.Count} images, {ds.Classes.Count} classes)");
        stdout.WriteLine(o.Augment ? $"transforms: {AugmentMetadata.Describe(transforms)}" : "transforms: none (validation view)");
        return Cli.ExitOk;
    }

    private static ImageFileDataset Load(string data, string? imageFolder, string suffix, bool multi)
    {
        if (File.Exists(data) && data.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            return CsvDataset.Load(data, new CsvOptions { ImageFolder = imageFolder, Suffix = suffix, MultiLabel = multi });
        if (!Directory.Exists(data)) throw new NativeCnnException($"show-batch: data '{data}' is neither a folder nor a .csv file");
        return Directory.Exists(Path.Combine(data, "train")) ? FolderDataset.FromImageNetLayout(data).Train : FolderDataset.FromClassFolders(data);
    }

    // The grid and its pixel font live in Reports/ImageGrid (shared with the top-losses plot).
    internal static void WriteGrid(string path, float[] x, string[] labels, int size, int rows, int cols) =>
        NativeCnn.Reports.ImageGrid.WritePng(path, x, 3, size, size, labels, rows, cols);
}
