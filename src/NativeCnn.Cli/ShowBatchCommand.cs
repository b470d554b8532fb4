// `nativecnn show-batch`: writes a PNG grid of augmented training images with their labels, so a user
// sees what the augmentation does. Labels are drawn with a built-in 3x5 pixel font (the engine has no
// font dependency). Must hold: the grid shows exactly what the DataLoader yields for the first batch
// (same seed, same transforms), values clamped to [0, 1]; bad arguments exit 2, bad data exit 1.
using System.Globalization;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

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
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new UsageException($"show-batch: {a} needs a value");
            int Int(int min)
            {
                string v = Next();
                if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) || r < min)
                    throw new UsageException($"show-batch: {a} expects an integer >= {min}, got '{v}'");
                return r;
            }
            switch (a)
            {
                case "--out": outPath = Next(); break;
                case "--size": size = Int(2); break;
                case "--rows": rows = Int(1); break;
                case "--cols": cols = Int(1); break;
                case "--seed": seed = (ulong)Int(0); break;
                case "--flip-vert": flipVert = true; break;
                case "--no-augment": augment = false; break;
                case "--multi-label": multi = true; break;
                case "--image-folder": imageFolder = Next(); break;
                case "--suffix": suffix = Next(); break;
                case "--verbose": break;
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

    private const int Scale = 2, Gap = 4, Strip = 5 * Scale + 4;

    internal static void WriteGrid(string path, float[] x, string[] labels, int size, int rows, int cols)
    {
        int cellH = size + Strip, plane = size * size;
        using var img = new Image<Rgb24>(cols * (size + Gap) + Gap, rows * (cellH + Gap) + Gap, new Rgb24(255, 255, 255));
        for (int k = 0; k < labels.Length && k < rows * cols; k++)
        {
            int ox = Gap + (k % cols) * (size + Gap), oy = Gap + (k / cols) * (cellH + Gap);
            for (int y = 0; y < size; y++)
                for (int xx = 0; xx < size; xx++)
                {
                    int o = k * 3 * plane + y * size + xx;
                    img[ox + xx, oy + y] = new Rgb24(Byte(x[o]), Byte(x[o + plane]), Byte(x[o + 2 * plane]));
                }
            DrawText(img, labels[k], ox, oy + size + 2, size);
        }
        img.SaveAsPng(path);
    }

    private static byte Byte(float v) => (byte)Math.Round(Math.Clamp(v, 0f, 1f) * 255f);

    // 3x5 glyphs, rows top to bottom, 3 bits each (MSB left); unknown characters draw as '?'.
    private static readonly Dictionary<char, string> Glyphs = new()
    {
        ['0'] = "111101101101111", ['1'] = "010110010010111", ['2'] = "111001111100111", ['3'] = "111001111001111",
        ['4'] = "101101111001001", ['5'] = "111100111001111", ['6'] = "111100111101111", ['7'] = "111001001001001",
        ['8'] = "111101111101111", ['9'] = "111101111001111", ['a'] = "010101111101101", ['b'] = "110101110101110",
        ['c'] = "011100100100011", ['d'] = "110101101101110", ['e'] = "111100110100111", ['f'] = "111100110100100",
        ['g'] = "011100101101011", ['h'] = "101101111101101", ['i'] = "111010010010111", ['j'] = "001001001101010",
        ['k'] = "101101110101101", ['l'] = "100100100100111", ['m'] = "101111111101101", ['n'] = "110101101101101",
        ['o'] = "010101101101010", ['p'] = "110101110100100", ['q'] = "010101101110011", ['r'] = "110101110101101",
        ['s'] = "011100010001110", ['t'] = "111010010010010", ['u'] = "101101101101111", ['v'] = "101101101101010",
        ['w'] = "101101111111101", ['x'] = "101101010101101", ['y'] = "101101010010010", ['z'] = "111001010100111",
        ['-'] = "000000111000000", ['_'] = "000000000000111", ['.'] = "000000000000010", [' '] = "000000000000000",
        ['?'] = "111001010000010",
    };

    private static void DrawText(Image<Rgb24> img, string text, int x0, int y0, int maxWidth)
    {
        int advance = 4 * Scale, fit = Math.Max(1, maxWidth / advance);
        if (text.Length > fit) text = text[..Math.Max(1, fit - 1)] + ".";
        for (int n = 0; n < text.Length; n++)
        {
            string g = Glyphs.TryGetValue(char.ToLowerInvariant(text[n]), out var s) ? s : Glyphs['?'];
            for (int r = 0; r < 5; r++)
                for (int c = 0; c < 3; c++)
                    if (g[r * 3 + c] == '1')
                        for (int dy = 0; dy < Scale; dy++)
                            for (int dx = 0; dx < Scale; dx++)
                                img[x0 + n * advance + c * Scale + dx, y0 + r * Scale + dy] = new Rgb24(0, 0, 0);
        }
    }
}
