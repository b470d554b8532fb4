// `nativecnn show-batch`: writes a PNG grid of augmented training images with their labels, so a user
// sees what the augmentation does. Labels are drawn with ImageGrid's built-in 3x5 pixel font (the engine
// has no font dependency). Must hold: the grid shows exactly what the DataLoader yields for the first batch
// (same seed, same transforms), values clamped to [0, 1]; bad arguments exit 2, bad data exit 1.
using System.Globalization;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;

namespace NativeCnn.Cli;

public static class ShowBatchCommand
{
    public const string Usage =
        "Usage: nativecnn show-batch [<data>] --out <grid.png> [options]\n" +
        "\n" +
        "<data> is a folder (root/train/<class>/*, or root/<class>/*) or a CSV file (name,labels);\n" +
        "without it, the embedded MNIST training digits.\n" +
        "Options:\n" +
        "  --out PATH          the PNG to write (required)\n" +
        "  --size N            image side in pixels (default 128)\n" +
        "  --rows N --cols N   grid shape (default 3 x 4)\n" +
        "  --seed N            seed of the shuffle and augmentation (default 0)\n" +
        "  --flip-vert         dihedral flips (8 orientations) instead of left-right only\n" +
        "  --resize squish|crop|pad   how images reach the size (default crop)\n" +
        "  --no-augment        show the validation view (centre crop only)\n" +
        "  --multi-label       CSV labels are space-separated sets\n" +
        "  --image-folder DIR  CSV: folder of the images (default the CSV's folder)\n" +
        "  --suffix S          CSV: appended to each name (e.g. .jpg)";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h")) { stdout.WriteLine(Usage); return Cli.ExitOk; }
        string? data = null, outPath = null, imageFolder = null, suffix = "";
        int size = 128, rows = 3, cols = 4;
        ulong seed = 0;
        bool flipVert = false, augment = true, multi = false;
        var resize = ResizeMethod.Crop;
        var reader = new ArgReader(args, "show-batch");
        while (reader.Next())
        {
            string a = reader.Flag;
            string Next() => reader.Value();
            int Int(int min, int max = int.MaxValue)
            {
                string v = Next();
                if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) || r < min)
                    throw new UsageException($"show-batch: {a} expects an integer >= {min}, got '{v}'");
                if (r > max) throw new UsageException($"show-batch: {a} expects an integer from {min} to {max}, got '{v}'");
                return r;
            }
            switch (a)
            {
                case "--out": outPath = Next(); break;
                case "--size": size = Int(2, Limits.MaxSize); break;
                case "--rows": rows = Int(1, Limits.MaxGrid); break;
                case "--cols": cols = Int(1, Limits.MaxGrid); break;
                case "--seed": seed = (ulong)Int(0); break;
                case "--flip-vert": reader.NoValue(); flipVert = true; break;
                case "--no-augment": reader.NoValue(); augment = false; break;
                case "--multi-label": reader.NoValue(); multi = true; break;
                case "--image-folder": imageFolder = Next(); break;
                case "--suffix": suffix = Next(); break;
                case "--verbose": reader.NoValue(); break;
                case "--resize":
                    string m = Next();
                    resize = m switch { "squish" => ResizeMethod.Squish, "crop" => ResizeMethod.Crop, "pad" => ResizeMethod.Pad, _ => throw new UsageException($"show-batch: --resize expects squish, crop or pad, got '{m}'") };
                    break;
                default:
                    if (a.StartsWith('-') || data is not null) throw new UsageException($"show-batch: unexpected argument '{a}' (see 'nativecnn show-batch --help')");
                    data = a;
                    break;
            }
        }
        if (outPath is null) throw new UsageException("show-batch: --out <grid.png> is required");
        OutputFolder.CheckFile(outPath, "show-batch", "--out");   // before the images are read
        Limits.CheckBatch("show-batch", rows * cols, 3, (size, size));

        IImageSource ds = data is null ? new IdxImageSource(Mnist.LoadEmbedded().Train) : Load(data, imageFolder, suffix, multi);
        var tf = new ImageTransform(size, size, resize, new AugmentOptions { FlipVert = flipVert });
        var loader = new DataLoader(ds, tf, new DataLoaderOptions { BatchSize = Math.Min(rows * cols, ds.Count), Shuffle = true, Train = augment, Channels = 3 }, new Rng(seed));
        var batch = loader.Epoch().First();
        var labels = batch.Indices.Select(i => string.Join(" ", ds.LabelsOf(i).Select(l => ds.Classes[l]))).ToArray();
        WriteGrid(outPath, batch.X.ToArray(), labels, size, rows, cols);
        stdout.WriteLine($"wrote {outPath}: {labels.Length} {(augment ? "augmented training" : "validation")} images of {size}x{size} from {ds.Name} ({ds.Count} images, {ds.Classes.Count} classes)");
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
