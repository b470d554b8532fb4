// Test images written by the tests themselves (a known pattern in every format and channel count)
// and a temporary folder that removes itself.
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Tests.Data;

public sealed class TempDir : IDisposable
{
    public TempDir() { Path = Directory.CreateTempSubdirectory("nativecnn-data-").FullName; }
    public string Path { get; }
    public string File(params string[] parts)
    {
        var p = System.IO.Path.Combine(new[] { Path }.Concat(parts).ToArray());
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        return p;
    }
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public static class TestImages
{
    /// <summary>The pattern's byte value at (x, y) of channel c (distinct per channel; alpha kept opaque-ish but varying).</summary>
    public static byte Value(int x, int y, int c, int seed = 0) => (byte)((x * 37 + y * 11 + c * 60 + seed * 13) % 256);

    public static byte Alpha(int x, int y) => (byte)(128 + (x * 7 + y * 3) % 128);

    /// <summary>Writes a w x h image with 1, 2, 3 or 4 channels using the given encoder.</summary>
    public static void Write(string path, int w, int h, int channels, IImageEncoder encoder, int seed = 0)
    {
        switch (channels)
        {
            case 1:
                using (var img = new Image<L8>(w, h)) { Fill(img, (x, y) => new L8(Value(x, y, 0, seed))); img.Save(path, encoder); }
                break;
            case 2:
                using (var img = new Image<La16>(w, h)) { Fill(img, (x, y) => new La16(Value(x, y, 0, seed), Alpha(x, y))); img.Save(path, encoder); }
                break;
            case 3:
                using (var img = new Image<Rgb24>(w, h)) { Fill(img, (x, y) => new Rgb24(Value(x, y, 0, seed), Value(x, y, 1, seed), Value(x, y, 2, seed))); img.Save(path, encoder); }
                break;
            default:
                using (var img = new Image<Rgba32>(w, h)) { Fill(img, (x, y) => new Rgba32(Value(x, y, 0, seed), Value(x, y, 1, seed), Value(x, y, 2, seed), Alpha(x, y))); img.Save(path, encoder); }
                break;
        }
    }

    /// <summary>Expected decoded value (in [0,1]) of the pattern for a file with `channels` channels.</summary>
    public static float Expected(int x, int y, int c, int channels, int seed = 0)
    {
        bool alpha = (channels == 2 && c == 1) || (channels == 4 && c == 3);
        return (alpha ? Alpha(x, y) : Value(x, y, c, seed)) / 255f;
    }

    private static void Fill<T>(Image<T> img, Func<int, int, T> f) where T : unmanaged, IPixel<T>
    {
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++) img[x, y] = f(x, y);
    }

    public static DecodedImageBuilder Pattern(int c, int h, int w) => new(c, h, w);
}

/// <summary>An in-memory DecodedImage with a pattern (for transform tests, no files).</summary>
public sealed class DecodedImageBuilder
{
    public DecodedImageBuilder(int c, int h, int w) { C = c; H = h; W = w; }
    public int C { get; }
    public int H { get; }
    public int W { get; }
    public NativeCnn.Data.DecodedImage Build()
    {
        var px = new float[C * H * W];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) px[(c * H + y) * W + x] = TestImages.Value(x, y, c) / 255f;
        return new NativeCnn.Data.DecodedImage(px, C, H, W);
    }
}
