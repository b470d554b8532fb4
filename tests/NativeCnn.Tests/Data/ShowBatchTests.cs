// `nativecnn show-batch` in-process: writes a PNG grid whose cells are the loader's first batch
// (checked pixel by pixel in the validation view) with label strips; bad command lines exit 2.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Data;

public class ShowBatchTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    [Fact]
    public void WritesTheFirstBatchAsAGrid()
    {
        using var dir = new TempDir();
        var enc = ImageDecoderTests.Encoder("png", 3);
        for (int i = 0; i < 3; i++) TestImages.Write(dir.File("d", "cat", $"c{i}.png"), 8, 8, 3, enc, seed: i);
        for (int i = 0; i < 3; i++) TestImages.Write(dir.File("d", "dog", $"d{i}.png"), 8, 8, 3, enc, seed: 10 + i);
        string outPath = dir.File("grid.png");
        var (code, output, err) = Run("show-batch", dir.File("d"), "--out", outPath, "--size", "8", "--rows", "2", "--cols", "2", "--no-augment", "--seed", "3");
        Assert.True(code == 0, err);
        Assert.Contains("wrote", output);
        using var grid = Image.Load<Rgb24>(outPath);
        // 2 columns of (8 + gap 4) + gap; 2 rows of (8 + label strip 14 + gap 4) + gap.
        Assert.Equal(2 * 12 + 4, grid.Width);
        Assert.Equal(2 * 26 + 4, grid.Height);
        var ds = FolderDataset.FromClassFolders(dir.File("d"));
        var loader = new DataLoader(ds, new ImageTransform(8, 8), new DataLoaderOptions { BatchSize = 4, Shuffle = true, Channels = 3 }, new Rng(3));
        var batch = loader.Epoch().First();
        var x3 = batch.X.ToArray().AsSpan(3 * 192, 192).ToArray();
        // Cell 3 is row 1, column 1; without augmentation it is the decoded file itself.
        Assert.Equal(ds.Load(batch.Indices[3]).Pixels, x3);
        int ox = 4 + 12, oy = 4 + 26;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                Assert.Equal((byte)Math.Round(x3[64 + y * 8 + x] * 255), grid[ox + x, oy + y].G);
        // The label strip holds dark text pixels.
        int dark = 0;
        for (int y = oy + 8; y < oy + 22; y++)
            for (int x = ox; x < ox + 8; x++) if (grid[x, y].R == 0) dark++;
        Assert.True(dark > 0);
    }

    [Fact]
    public void WithoutDataShowsTheEmbeddedMnist()
    {
        using var dir = new TempDir();
        string outPath = dir.File("mnist.png");
        var (code, output, err) = Run("show-batch", "--out", outPath, "--size", "28", "--rows", "1", "--cols", "2", "--no-augment", "--seed", "1");
        Assert.True(code == 0, err);
        Assert.Contains("mnist10k", output);
        Assert.Contains("8000 images, 10 classes", output);
        using var grid = Image.Load<Rgb24>(outPath);
        Assert.Equal(2 * 32 + 4, grid.Width);
        Assert.Equal(28 + 14 + 4 + 4, grid.Height);
        // The validation view of the first shuffled digit, drawn grey on black: the cell equals it.
        var ds = new IdxImageSource(Mnist.LoadEmbedded().Train);
        var loader = new DataLoader(ds, new ImageTransform(28, 28), new DataLoaderOptions { BatchSize = 2, Shuffle = true, Channels = 3 }, new Rng(1));
        var x = loader.Epoch().First().X.ToArray();
        int bright = 0;
        for (int y = 0; y < 28; y++)
            for (int c = 0; c < 28; c++)
            {
                byte expected = (byte)Math.Round(Math.Clamp(x[y * 28 + c], 0f, 1f) * 255);
                Assert.Equal(expected, grid[4 + c, 4 + y].R);
                if (expected > 128) bright++;
            }
        Assert.True(bright > 20, "a digit has strokes");
    }

    [Fact]
    public void BadCommandLines()
    {
        Assert.Equal(2, Run("show-batch").Code);
        Assert.Equal(2, Run("show-batch", "x", "--size", "zero", "--out", "a.png").Code);
        Assert.Equal(2, Run("show-batch", "x").Code);
        var (code, _, err) = Run("show-batch", "/no/such/folder", "--out", "/tmp/a.png");
        Assert.Equal(1, code);
        Assert.Contains("/no/such/folder", err);
        Assert.Equal(0, Run("show-batch", "--help").Code);
    }
}
