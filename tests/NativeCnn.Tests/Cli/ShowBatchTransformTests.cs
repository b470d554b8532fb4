// Each get_transforms flag changes what `nativecnn show-batch` draws the way fastai's argument does.
// The data: copies of one asymmetric 16x16 "F" (no symmetry, so its 8 dihedral images all differ). With
// rotate, zoom, warp and lighting off every drawn tile must be one of those 8 images exactly: --no-flip
// draws only the F itself; the default (do_flip) the F and its left-right mirror, both; --flip-vert
// vertical flips and 90-degree turns too. Rotate, zoom and warp (p_affine 1) move pixels; p_affine 0
// turns them off; lighting changes values but not the shape. Asserted on the PNG's pixels.
using NativeCnn.Tests.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class ShowBatchTransformTests
{
    private const int N = 16, Rows = 4, Cols = 8;
    private static readonly Rgb24 Ink = new(230, 200, 30), Paper = new(20, 40, 60);

    /// <summary>Names of the 8 dihedral images, as (x, y) of the tile -> (x, y) of the source.</summary>
    private static readonly (string Name, Func<int, int, (int, int)> Source)[] Dihedral =
    {
        ("identity", (x, y) => (x, y)),
        ("mirror", (x, y) => (N - 1 - x, y)),
        ("flip-vertical", (x, y) => (x, N - 1 - y)),
        ("rotate-180", (x, y) => (N - 1 - x, N - 1 - y)),
        ("transpose", (x, y) => (y, x)),
        ("rotate-90", (x, y) => (y, N - 1 - x)),
        ("rotate-270", (x, y) => (N - 1 - y, x)),
        ("anti-transpose", (x, y) => (N - 1 - y, N - 1 - x)),
    };

    /// <summary>The "F": a stem at x 3-5 from y 2 to 13, a top bar to x 12 at y 2-4, a middle bar to x 9 at y 7-8.</summary>
    private static bool IsInk(int x, int y) =>
        (x is >= 3 and <= 5 && y is >= 2 and <= 13) || (y is >= 2 and <= 4 && x is >= 3 and <= 12) || (y is >= 7 and <= 8 && x is >= 3 and <= 9);

    private static string WriteData(TempDir dir)
    {
        using var img = new Image<Rgb24>(N, N);
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
                img[x, y] = IsInk(x, y) ? Ink : Paper;
        for (int i = 0; i < Rows * Cols; i++) img.SaveAsPng(dir.File("data", "f", $"f{i:D2}.png"));
        return Path.Combine(dir.Path, "data");
    }

    /// <summary>Runs show-batch with the flags and returns the tiles' pixels (the grid's layout: gap 4, label strip 14).</summary>
    private static Rgb24[][,] Draw(params string[] flags)
    {
        using var dir = new TempDir();
        string data = WriteData(dir), grid = dir.File("grid.png");
        var (code, output, err) = Support.CliRunner.Run(new[] { "show-batch", data, "--out", grid, "--size", $"{N}", "--rows", $"{Rows}", "--cols", $"{Cols}", "--seed", "5" }.Concat(flags).ToArray());
        Assert.True(code == 0, err);
        Assert.Contains("transforms: ", output);
        using var img = Image.Load<Rgb24>(grid);
        var tiles = new Rgb24[Rows * Cols][,];
        for (int t = 0; t < tiles.Length; t++)
        {
            int ox = 4 + (t % Cols) * (N + 4), oy = 4 + (t / Cols) * (N + 14 + 4);
            tiles[t] = new Rgb24[N, N];
            for (int y = 0; y < N; y++)
                for (int x = 0; x < N; x++) tiles[t][x, y] = img[ox + x, oy + y];
        }
        return tiles;
    }

    private static bool Close(Rgb24 a, Rgb24 b) => Math.Abs(a.R - b.R) <= 2 && Math.Abs(a.G - b.G) <= 2 && Math.Abs(a.B - b.B) <= 2;

    /// <summary>The dihedral image the tile is exactly, or null.</summary>
    private static string? Which(Rgb24[,] tile)
    {
        foreach (var (name, source) in Dihedral)
        {
            bool all = true;
            for (int y = 0; y < N && all; y++)
                for (int x = 0; x < N && all; x++)
                {
                    var (sx, sy) = source(x, y);
                    all = Close(tile[x, y], IsInk(sx, sy) ? Ink : Paper);
                }
            if (all) return name;
        }
        return null;
    }

    private static readonly string[] NoAffineNoLighting = { "--max-rotate", "0", "--max-zoom", "1", "--max-warp", "0", "--max-lighting", "0" };

    [Fact]
    public void TheEightDihedralImagesOfTheFAreDistinct()
    {
        var images = Dihedral.Select(d => string.Concat(Enumerable.Range(0, N * N).Select(i => { var (sx, sy) = d.Source(i % N, i / N); return IsInk(sx, sy) ? '1' : '0'; })));
        Assert.Equal(8, images.Distinct().Count());
    }

    [Fact]
    public void NoFlipDrawsOnlyTheImageItself()
    {
        var kinds = Draw(NoAffineNoLighting.Append("--no-flip").ToArray()).Select(Which).ToList();
        Assert.All(kinds, k => Assert.Equal("identity", k));
    }

    [Fact]
    public void DoFlipDrawsTheImageAndItsMirrorOnly()
    {
        var kinds = Draw(NoAffineNoLighting).Select(Which).ToList();
        Assert.All(kinds, k => Assert.Contains(k, new[] { "identity", "mirror" }));
        Assert.Contains("identity", kinds);
        Assert.Contains("mirror", kinds);
    }

    [Fact]
    public void FlipVertDrawsVerticalFlipsAndQuarterTurns()
    {
        var kinds = Draw(NoAffineNoLighting.Append("--flip-vert").ToArray()).Select(Which).ToList();
        Assert.All(kinds, k => Assert.NotNull(k));   // every tile is one of the 8, exactly
        Assert.Contains(kinds, k => k is "flip-vertical" or "rotate-180");
        Assert.Contains(kinds, k => k is "rotate-90" or "rotate-270");
        Assert.True(kinds.Distinct().Count() >= 6, string.Join(", ", kinds.Distinct()));
    }

    [Theory]
    [InlineData("--max-rotate", "45")]
    [InlineData("--max-zoom", "2")]
    [InlineData("--max-warp", "0.4")]
    public void EachAffineTransformMovesPixelsAndPAffineZeroTurnsItOff(string flag, string value)
    {
        string[] others = NoAffineNoLighting.Chunk(2).Where(p => p[0] != flag).SelectMany(p => p).Append("--no-flip").ToArray();
        var moved = Draw(others.Concat(new[] { flag, value, "--p-affine", "1" }).ToArray()).Select(Which).ToList();
        Assert.True(moved.Count(k => k is null) >= Rows * Cols * 3 / 4, $"{flag} {value}: {moved.Count(k => k is null)} of {moved.Count} tiles moved");
        var off = Draw(others.Concat(new[] { flag, value, "--p-affine", "0" }).ToArray()).Select(Which).ToList();
        Assert.All(off, k => Assert.Equal("identity", k));
    }

    [Fact]
    public void LightingChangesValuesNotShape()
    {
        string[] flags = { "--max-rotate", "0", "--max-zoom", "1", "--max-warp", "0", "--no-flip", "--max-lighting", "0.5", "--p-lighting", "1" };
        var tiles = Draw(flags);
        int changed = 0;
        foreach (var tile in tiles)
        {
            if (Which(tile) is null) changed++;
            // the shape stays: every ink pixel is brighter in green than every paper pixel
            int minInk = 255, maxPaper = 0;
            for (int y = 0; y < N; y++)
                for (int x = 0; x < N; x++)
                    if (IsInk(x, y)) minInk = Math.Min(minInk, tile[x, y].G); else maxPaper = Math.Max(maxPaper, tile[x, y].G);
            Assert.True(minInk > maxPaper, $"ink {minInk} <= paper {maxPaper}");
        }
        Assert.True(changed >= Rows * Cols * 3 / 4, $"{changed} of {tiles.Length} tiles changed by lighting");
        Assert.All(Draw(flags.Append("--p-lighting").Append("0").ToArray()).Select(Which), k => Assert.Equal("identity", k));
    }
}
