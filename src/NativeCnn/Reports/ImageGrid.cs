// A PNG grid of images with text labels under each, used by `show-batch` and by the top-losses plot of
// ClassificationInterpretation (top_losses.png; the HTML report shows single images, RenderImage, with
// HTML captions instead). Labels are drawn with a built-in 3x5 pixel font, because the engine
// takes no font dependency. Must hold: pixel values are in [0, 1] (clamped), one channel draws grey,
// three draw RGB; a label line that does not fit its cell is cut and ends with '.'; labels may hold
// several lines ('\n'); the layout of a one-line grid at zoom 1 is the one show-batch always had.
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Reports;

/// <summary>PNG grids of images with text labels under each (show-batch, top losses), drawn with a built-in pixel font.</summary>
public static class ImageGrid
{
    /// <summary>Pixel size of one font dot, the gap between cells, and the height of one label line.</summary>
    public const int Scale = 2, Gap = 4, LineHeight = 5 * Scale + 2;

    /// <summary>Draws <paramref name="labels"/>.Count images (row-major, (count, channels, height, width) in
    /// <paramref name="pixels"/>, values in [0, 1]) on a white grid of <paramref name="rows"/> x <paramref name="cols"/>
    /// cells, each image magnified <paramref name="zoom"/> times (nearest neighbour) with its label below.</summary>
    public static Image<Rgb24> Render(ReadOnlySpan<float> pixels, int channels, int height, int width,
                                      IReadOnlyList<string> labels, int rows, int cols, int zoom = 1)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (channels != 1 && channels != 3) throw new NativeCnnException($"ImageGrid: images must have 1 or 3 channels, got {channels}");
        Check.Positive(height, "ImageGrid: height");
        Check.Positive(width, "ImageGrid: width");
        Check.Positive(rows, "ImageGrid: rows");
        Check.Positive(cols, "ImageGrid: cols");
        Check.Positive(zoom, "ImageGrid: zoom");
        int plane = height * width, count = Math.Min(labels.Count, rows * cols);
        if (pixels.Length < count * channels * plane)
            throw new NativeCnnException($"ImageGrid: {count} images of {channels}x{height}x{width} need {count * channels * plane} values, got {pixels.Length}");
        int lines = Math.Max(1, labels.Take(count).Select(l => l.Split('\n').Length).DefaultIfEmpty(1).Max());
        int cellW = width * zoom, cellH = height * zoom + lines * LineHeight + 2;
        var img = new Image<Rgb24>(cols * (cellW + Gap) + Gap, rows * (cellH + Gap) + Gap, new Rgb24(255, 255, 255));
        for (int k = 0; k < count; k++)
        {
            int ox = Gap + (k % cols) * (cellW + Gap), oy = Gap + (k / cols) * (cellH + Gap);
            int o = k * channels * plane;
            for (int y = 0; y < height * zoom; y++)
                for (int x = 0; x < cellW; x++)
                {
                    int p = o + (y / zoom) * width + x / zoom;
                    img[ox + x, oy + y] = channels == 1
                        ? Grey(Byte(pixels[p]))
                        : new Rgb24(Byte(pixels[p]), Byte(pixels[p + plane]), Byte(pixels[p + 2 * plane]));
                }
            var textLines = labels[k].Split('\n');
            for (int l = 0; l < textLines.Length; l++)
                DrawText(img, textLines[l], ox, oy + height * zoom + 2 + l * LineHeight, cellW);
        }
        return img;
    }

    /// <summary>One image ((channels, height, width) in <paramref name="pixels"/>, values in [0, 1]; 1 channel grey,
    /// 3 RGB) at its own size, with no label or border.</summary>
    public static Image<Rgb24> RenderImage(ReadOnlySpan<float> pixels, int channels, int height, int width)
    {
        if (channels != 1 && channels != 3) throw new NativeCnnException($"ImageGrid: images must have 1 or 3 channels, got {channels}");
        Check.Positive(height, "ImageGrid: height");
        Check.Positive(width, "ImageGrid: width");
        int plane = height * width;
        if (pixels.Length < channels * plane)
            throw new NativeCnnException($"ImageGrid: an image of {channels}x{height}x{width} needs {channels * plane} values, got {pixels.Length}");
        var img = new Image<Rgb24>(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int p = y * width + x;
                img[x, y] = channels == 1 ? Grey(Byte(pixels[p])) : new Rgb24(Byte(pixels[p]), Byte(pixels[p + plane]), Byte(pixels[p + 2 * plane]));
            }
        return img;
    }

    /// <summary><see cref="Render"/> written as a PNG file.</summary>
    public static void WritePng(string path, ReadOnlySpan<float> pixels, int channels, int height, int width,
                                IReadOnlyList<string> labels, int rows, int cols, int zoom = 1)
    {
        using var img = Render(pixels, channels, height, width, labels, rows, cols, zoom);
        img.SaveAsPng(path);
    }

    private static Rgb24 Grey(byte v) => new(v, v, v);

    private static byte Byte(float v) => (byte)Math.Round(Math.Clamp(float.IsNaN(v) ? 0f : v, 0f, 1f) * 255f);

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
        ['/'] = "001001010100100", [':'] = "000010000010000", ['='] = "000111000111000", ['?'] = "111001010000010",
    };

    /// <summary>Draws one line of text in black at (x0, y0), cut to <paramref name="maxWidth"/> pixels.</summary>
    public static void DrawText(Image<Rgb24> img, string text, int x0, int y0, int maxWidth)
    {
        ArgumentNullException.ThrowIfNull(img);
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
                            {
                                int px = x0 + n * advance + c * Scale + dx, py = y0 + r * Scale + dy;
                                if (px < img.Width && py < img.Height) img[px, py] = new Rgb24(0, 0, 0);
                            }
        }
    }
}
