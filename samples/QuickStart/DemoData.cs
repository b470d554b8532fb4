// The --demo data of the quick start: two classes of 16x16 PNGs (bright and dark squares with noise), so the
// sample runs anywhere in seconds (CI runs it this way). Your own images replace it.
/// <summary>Writes two classes of 16x16 PNGs (bright and dark squares with noise) for --demo.</summary>
static class DemoData
{
    public static string Write(string root)
    {
        var rng = new Random(1);
        foreach (var (cls, level) in new[] { ("bright", 190), ("dark", 60) })
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            for (int k = 0; k < 24; k++)
            {
                using var img = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(16, 16);
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 16; x++)
                    {
                        byte v = (byte)Math.Clamp(level + rng.Next(-50, 50), 0, 255);
                        img[x, y] = new SixLabors.ImageSharp.PixelFormats.Rgb24(v, v, v);
                    }
                SixLabors.ImageSharp.ImageExtensions.SaveAsPng(img, Path.Combine(root, cls, $"{k}.png"));
            }
        }
        return root;
    }
}
