// Decoding of every supported format and channel count, from files the test writes, plus every
// bad-input case (missing, unknown type, corrupt, truncated, over the pixel limit).
using NativeCnn.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Tiff.Constants;
using SixLabors.ImageSharp.Formats.Webp;
using Xunit;

namespace NativeCnn.Tests.Data;

public class ImageDecoderTests
{
    public static IEnumerable<object[]> Cases() => new[]
    {
        // name, file channels, expected decoded channels, tolerance (lossy formats are approximate)
        new object[] { "png-grey.png", 1, 1, 0.0 },
        new object[] { "png-greyalpha.png", 2, 2, 0.0 },
        new object[] { "png-rgb.png", 3, 3, 0.0 },
        new object[] { "png-rgba.png", 4, 4, 0.0 },
        new object[] { "jpeg-rgb.jpg", 3, 3, 0.12 },
        new object[] { "jpeg-grey.jpg", 1, 1, 0.08 },
        new object[] { "bmp-rgb.bmp", 3, 3, 0.0 },
        new object[] { "bmp-rgba.bmp", 4, 4, 0.0 },
        // GIF is a palette format: the encoder's quantiser may move a level by one step.
        new object[] { "gif-rgb.gif", 3, 3, 1.0 / 255 },
        new object[] { "tiff-rgb.tiff", 3, 3, 0.0 },
        new object[] { "tiff-grey.tif", 1, 1, 0.0 },
        new object[] { "webp-rgb.webp", 3, 3, 0.0 },
        new object[] { "webp-rgba.webp", 4, 4, 0.0 },
        new object[] { "tga-rgb.tga", 3, 3, 0.0 },
        new object[] { "tga-rgba.tga", 4, 4, 0.0 },
        new object[] { "tga-grey.tga", 1, 1, 0.0 },
    };

    internal static IImageEncoder Encoder(string name, int channels) => name.Split('-')[0] switch
    {
        "png" => new PngEncoder { ColorType = channels switch { 1 => PngColorType.Grayscale, 2 => PngColorType.GrayscaleWithAlpha, 3 => PngColorType.Rgb, _ => PngColorType.RgbWithAlpha }, BitDepth = PngBitDepth.Bit8 },
        "jpeg" => new JpegEncoder { Quality = 100, ColorType = channels == 1 ? JpegColorType.Luminance : JpegColorType.YCbCrRatio444 },
        "bmp" => new BmpEncoder { BitsPerPixel = channels == 4 ? BmpBitsPerPixel.Pixel32 : BmpBitsPerPixel.Pixel24, SupportTransparency = channels == 4 },
        "gif" => new GifEncoder(),
        "tiff" => new TiffEncoder { BitsPerPixel = channels == 1 ? TiffBitsPerPixel.Bit8 : TiffBitsPerPixel.Bit24, Compression = TiffCompression.Deflate },
        "webp" => new WebpEncoder { FileFormat = WebpFileFormatType.Lossless },
        "tga" => new TgaEncoder { BitsPerPixel = channels switch { 1 => TgaBitsPerPixel.Pixel8, 3 => TgaBitsPerPixel.Pixel24, _ => TgaBitsPerPixel.Pixel32 }, Compression = TgaCompression.RunLength },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodesEveryFormatAndChannelCountToChw(string name, int fileChannels, int channels, double tol)
    {
        using var dir = new TempDir();
        string path = dir.File(name);
        const int w = 7, h = 5;
        TestImages.Write(path, w, h, fileChannels, Encoder(name, fileChannels));
        var img = ImageDecoder.Decode(path);
        Assert.Equal((channels, h, w), (img.Channels, img.Height, img.Width));
        double maxErr = 0;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    maxErr = Math.Max(maxErr, Math.Abs(img.At(c, y, x) - TestImages.Expected(x, y, c, fileChannels)));
        Assert.True(maxErr <= tol + 1e-6, $"{name}: max error {maxErr} > {tol}");
    }

    [Fact]
    public void ConvertsOnRequest()
    {
        using var dir = new TempDir();
        string path = dir.File("g.png");
        TestImages.Write(path, 4, 3, 1, Encoder("png", 1));
        var rgb = ImageDecoder.Decode(path, new DecodeOptions { ConvertTo = 3 });
        Assert.Equal(3, rgb.Channels);
        for (int c = 0; c < 3; c++) Assert.Equal(TestImages.Value(2, 1, 0) / 255f, rgb.At(c, 1, 2), 6);
        var rgba = ImageDecoder.Decode(path, new DecodeOptions { ConvertTo = 4 });
        Assert.Equal(1f, rgba.At(3, 2, 3));
        var e = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(path, new DecodeOptions { ConvertTo = 2 }));
        Assert.Contains("2 channels", e.Message);
    }

    [Fact]
    public void BadInputsNameTheFile()
    {
        using var dir = new TempDir();
        string missing = dir.File("nope.png");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => ImageDecoder.Decode(missing)).Message);

        string text = dir.File("text.png");
        File.WriteAllText(text, "this is not an image at all");
        var unknown = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(text));
        Assert.Contains(text, unknown.Message);
        Assert.Contains("not a known image type", unknown.Message);

        string good = dir.File("good.png");
        TestImages.Write(good, 32, 32, 3, Encoder("png", 3));
        var bytes = File.ReadAllBytes(good);
        string truncated = dir.File("truncated.png");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var t = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(truncated));
        Assert.Contains(truncated, t.Message);

        string corrupt = dir.File("corrupt.png");
        var c = (byte[])bytes.Clone();
        for (int i = 40; i < c.Length - 20; i++) c[i] ^= 0x5A;
        File.WriteAllBytes(corrupt, c);
        Assert.Contains(corrupt, Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(corrupt)).Message);

        string jpg = dir.File("cut.jpg");
        TestImages.Write(jpg, 32, 32, 3, Encoder("jpeg", 3));
        var jb = File.ReadAllBytes(jpg);
        File.WriteAllBytes(jpg, jb[..20]);
        Assert.Contains(jpg, Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(jpg)).Message);
    }

    [Fact]
    public void DamagedFilesOfEveryFormatFailOnlyWithANamedError()
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        int failures = 0;
        foreach (var name in new[] { "png-rgb.png", "jpeg-rgb.jpg", "bmp-rgb.bmp", "gif-rgb.gif", "tiff-rgb.tiff", "webp-rgb.webp", "tga-rgb.tga" })
        {
            string path = dir.File(name);
            TestImages.Write(path, 12, 10, 3, Encoder(name, 3));
            var good = File.ReadAllBytes(path);
            for (int t = 0; t < 25; t++)
            {
                var bad = (byte[])good.Clone();
                for (int k = 0; k < 4; k++) bad[rng.Next(bad.Length)] = (byte)rng.Next(256);
                if (t % 5 == 0) bad = bad[..rng.Next(1, bad.Length)];
                try { ImageDecoder.Decode(bad, name); }
                catch (NativeCnnException e) { Assert.Contains(name, e.Message); failures++; }
            }
        }
        Assert.True(failures > 0);
    }

    [Fact]
    public void PixelLimitIsCheckedFromTheHeader()
    {
        using var dir = new TempDir();
        string path = dir.File("big.png");
        TestImages.Write(path, 40, 30, 3, Encoder("png", 3));
        var e = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(path, new DecodeOptions { MaxPixels = 1199 }));
        Assert.Contains("1200 pixels", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(30, ImageDecoder.Decode(path, new DecodeOptions { MaxPixels = 1200 }).Height);

        // A header claiming 60000 x 60000 with almost no data: rejected before any pixel is decoded.
        var bomb = File.ReadAllBytes(path);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(16), 60000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(20), 60000);
        var crc = Crc32(bomb.AsSpan(12, 17));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bomb.AsSpan(29), crc);
        string bombPath = dir.File("bomb.png");
        File.WriteAllBytes(bombPath, bomb);
        var b = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(bombPath));
        Assert.Contains("3600000000 pixels", b.Message);
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
