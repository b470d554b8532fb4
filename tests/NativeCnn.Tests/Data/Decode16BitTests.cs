// 16-bit images keep full precision: PNG (grey, RGB, RGBA at bit depth 16) and TIFF (16-bit grey and
// RGB, written here by hand because ImageSharp 2.1's TIFF encoder cannot write 16-bit grey) decode to
// v / 65535 exactly, with the file's own channel count (a 16-bit grey TIFF is 1 channel, not grey+alpha).
using System.Buffers.Binary;
using NativeCnn.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Data;

public class Decode16BitTests
{
    // Levels that differ only in their low byte: 8-bit quantisation would merge them.
    private static ushort Level(int i, int c = 0) => (ushort)(40000 + i * 3 + c * 1000);

    /// <summary>A minimal uncompressed single-strip TIFF: samples interleaved, one IFD.</summary>
    internal static byte[] Tiff(int w, int h, int samplesPerPixel, int bits, ushort photometric, Func<int, int, int, int> sample, bool bigEndian = false)
    {
        int bytesPer = bits / 8;
        var data = new byte[w * h * samplesPerPixel * bytesPer];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < samplesPerPixel; c++)
                {
                    int at = ((y * w + x) * samplesPerPixel + c) * bytesPer, v = sample(x, y, c);
                    if (bytesPer == 1) data[at] = (byte)v;
                    else if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(at), (ushort)v);
                    else BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at), (ushort)v);
                }
        var tags = new List<(ushort Tag, ushort Type, uint Count, uint Value)>();
        const int ifdAt = 8;
        int entries = 9, bpsAt = ifdAt + 2 + entries * 12 + 4, dataAt = bpsAt + (samplesPerPixel > 2 ? 2 * samplesPerPixel : 0);
        tags.Add((256, 3, 1, (uint)w));
        tags.Add((257, 3, 1, (uint)h));
        tags.Add((258, 3, (uint)samplesPerPixel, samplesPerPixel > 2 ? (uint)bpsAt : (uint)bits));
        tags.Add((259, 3, 1, 1));
        tags.Add((262, 3, 1, photometric));
        tags.Add((273, 4, 1, (uint)dataAt));
        tags.Add((277, 3, 1, (uint)samplesPerPixel));
        tags.Add((278, 3, 1, (uint)h));
        tags.Add((279, 4, 1, (uint)data.Length));
        var bytes = new List<byte>();
        void U16(int v) { var b = new byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); bytes.AddRange(b); }
        void U32(uint v) { var b = new byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v); bytes.AddRange(b); }
        bytes.AddRange(bigEndian ? "MM"u8.ToArray() : "II"u8.ToArray());
        U16(42);
        U32(ifdAt);
        U16(tags.Count);
        foreach (var t in tags)
        {
            U16(t.Tag); U16(t.Type); U32(t.Count);
            if (t.Type == 3 && !(t.Tag == 258 && samplesPerPixel > 2)) { U16((int)t.Value); U16(0); }   // a SHORT sits left-justified
            else U32(t.Value);
        }
        U32(0);
        if (samplesPerPixel > 2) for (int c = 0; c < samplesPerPixel; c++) U16(bits);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SixteenBitGreyTiffIsOneChannelAtFullPrecision(bool bigEndian)
    {
        using var dir = new TempDir();
        var path = dir.File("grey16.tif");
        File.WriteAllBytes(path, Tiff(5, 3, 1, 16, 1, (x, y, _) => Level(y * 5 + x), bigEndian));
        Assert.Equal((5, 3, 1), ImageDecoder.IdentifyFile(path));
        var img = ImageDecoder.Decode(path);
        Assert.Equal(1, img.Channels);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++) Assert.Equal(Level(y * 5 + x) / 65535f, img.At(0, y, x));
        Assert.NotEqual(img.At(0, 0, 0), img.At(0, 0, 1));   // 3 levels apart: lost in 8 bits
    }

    [Fact]
    public void EightBitGreyAndSixteenBitRgbTiffsKeepTheirChannels()
    {
        using var dir = new TempDir();
        var grey8 = dir.File("grey8.tif");
        File.WriteAllBytes(grey8, Tiff(4, 2, 1, 8, 1, (x, y, _) => 30 * x + y));
        var g = ImageDecoder.Decode(grey8);
        Assert.Equal(1, g.Channels);
        Assert.Equal((30 * 3 + 1) / 255f, g.At(0, 1, 3));

        var rgb16 = dir.File("rgb16.tif");
        File.WriteAllBytes(rgb16, Tiff(4, 2, 3, 16, 2, (x, y, c) => Level(y * 4 + x, c)));
        var rgb = ImageDecoder.Decode(rgb16);
        Assert.Equal(3, rgb.Channels);
        for (int c = 0; c < 3; c++) Assert.Equal(Level(6, c) / 65535f, rgb.At(c, 1, 2));
    }

    [Fact]
    public void SixteenBitPngsDecodeAtFullPrecisionInEveryChannelLayout()
    {
        using var dir = new TempDir();
        var grey = dir.File("l16.png");
        using (var img = new Image<L16>(4, 2))
        {
            for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) img[x, y] = new L16(Level(y * 4 + x));
            img.SaveAsPng(grey);
        }
        var g = ImageDecoder.Decode(grey);
        Assert.Equal(1, g.Channels);
        Assert.Equal(Level(5) / 65535f, g.At(0, 1, 1));
        Assert.NotEqual(g.At(0, 0, 0), g.At(0, 0, 1));

        var rgba = dir.File("rgba64.png");
        using (var img = new Image<Rgba64>(3, 2))
        {
            for (int y = 0; y < 2; y++) for (int x = 0; x < 3; x++) img[x, y] = new Rgba64(Level(x, 0), Level(x, 1), Level(x, 2), Level(y, 3));
            img.SaveAsPng(rgba);
        }
        var c4 = ImageDecoder.Decode(rgba);
        Assert.Equal(4, c4.Channels);
        for (int c = 0; c < 3; c++) Assert.Equal(Level(2, c) / 65535f, c4.At(c, 1, 2));
        Assert.Equal(Level(1, 3) / 65535f, c4.At(3, 1, 2));

        var rgb = dir.File("rgb48.png");
        using (var img = new Image<Rgb48>(2, 2)) { img[1, 0] = new Rgb48(1, 2, 65534); img.SaveAsPng(rgb); }
        var c3 = ImageDecoder.Decode(rgb);
        Assert.Equal(3, c3.Channels);
        Assert.Equal(new[] { 1 / 65535f, 2 / 65535f, 65534 / 65535f }, new[] { c3.At(0, 0, 1), c3.At(1, 0, 1), c3.At(2, 0, 1) });

        // Converting a 16-bit grey file to RGB replicates the full-precision level.
        var conv = ImageDecoder.Decode(grey, new DecodeOptions { ConvertTo = 3 });
        Assert.Equal(Level(5) / 65535f, conv.At(2, 1, 1));
    }

    [Fact]
    public void ATruncatedTiffHeaderNamesTheFile()
    {
        using var dir = new TempDir();
        var path = dir.File("cut.tif");
        var bytes = Tiff(4, 2, 1, 16, 1, (x, y, _) => x);
        File.WriteAllBytes(path, bytes[..20]);
        var e = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(path));
        Assert.Contains("cut.tif", e.Message);
    }
}
