// Image files (PNG, JPEG, BMP, GIF, TIFF, WebP, TGA via SixLabors.ImageSharp 2.1) to CHW float32 in
// [0, 1]. The channel count is the file's own (grey 1, grey+alpha 2, RGB 3, RGBA 4) unless a
// conversion is asked for. Must hold: the pixel-count limit is checked from the header (Identify)
// BEFORE the pixels are decoded, so a decompression bomb never allocates its pixels; every failure
// (missing, unknown type, corrupt, truncated, too large) is a NativeCnnException naming the file.
// Only regular files are read, their size checked first (InputFile: a FIFO or /dev/zero is refused,
// never waited on), and a file is decoded only when its structure is complete (ImageCompleteness).
// 8-bit files are read through Rgba32 (a level v becomes exactly v / 255f); files with 16-bit samples
// (PNG bit depth 16, TIFF BitsPerSample 16) through Rgba64, so they keep full precision (v / 65535f).
// TIFF channel counts come from the file's first IFD (SamplesPerPixel, BitsPerSample), because
// ImageSharp 2.1's Identify reports only the bits per pixel for TIFF (16 for both 16-bit grey and
// 8-bit grey+alpha) with no alpha information.
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Data;

/// <summary>One decoded image: Pixels is (Channels, Height, Width) row-major, values in [0, 1].</summary>
public sealed class DecodedImage
{
    /// <summary>An image of <paramref name="channels"/> planes of <paramref name="height"/> x <paramref name="width"/> values (CHW, values in [0, 1]); the array is taken, not copied.</summary>
    /// <exception cref="ArgumentException">The array's length is not channels x height x width.</exception>
    public DecodedImage(float[] pixels, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if ((long)channels * height * width != pixels.Length)
            throw new NativeCnnException($"DecodedImage: {channels}x{height}x{width} needs {(long)channels * height * width} values, got {pixels.Length}");
        Pixels = pixels;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>The values, plane after plane (CHW), each in [0, 1].</summary>
    public float[] Pixels { get; }
    /// <summary>Number of planes: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.</summary>
    public int Channels { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>The value of channel <paramref name="c"/> at row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    public float At(int c, int y, int x) => Pixels[(c * Height + y) * Width + x];
}

/// <summary>How <see cref="ImageDecoder"/> reads a file: size limits and an optional channel conversion.</summary>
public sealed record DecodeOptions
{
    /// <summary>Largest width x height accepted (checked from the header before decoding).</summary>
    public long MaxPixels { get; init; } = 50_000_000;

    /// <summary>Largest file accepted, in bytes (checked before reading; default 1 GiB).</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;

    /// <summary>Convert to this many channels (1, 3 or 4); null keeps the file's own count.</summary>
    public int? ConvertTo { get; init; }

    /// <summary>The defaults: 50 megapixels, 1 GiB, the file's own channels.</summary>
    public static readonly DecodeOptions Default = new();
}

/// <summary>Decodes image files and bytes (PNG, JPEG, BMP, GIF, TIFF, WebP, TGA; 8 and 16 bits) into <see cref="DecodedImage"/>s with values v / max in [0, 1], grey kept grey. Corrupt or truncated files fail naming the file.</summary>
public static class ImageDecoder
{
    // v / 255f for every byte, so a decoded level equals the float a user computes the same way.
    private static readonly float[] Levels = Enumerable.Range(0, 256).Select(v => v / 255f).ToArray();

    /// <summary>File suffixes recognised as images when scanning folders (lower case, with dot).</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".tga" };

    /// <summary>Decodes a file; see <see cref="DecodeOptions"/>.</summary>
    public static DecodedImage Decode(string path, DecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = InputFile.ReadAll(path, "image file", (options ?? DecodeOptions.Default).MaxFileBytes);
        return Decode(bytes, path, options);
    }

    /// <summary>Decodes bytes; <paramref name="name"/> is used in error messages.</summary>
    public static DecodedImage Decode(byte[] bytes, string name, DecodeOptions? options = null)
    {
        options ??= DecodeOptions.Default;
        ImageHeader head;
        using (var stream = new MemoryStream(bytes, writable: false)) head = Probe(stream, name, options);
        ImageCompleteness.Check(bytes, head.Format, name);
        if (options.ConvertTo is int to && to is not (1 or 3 or 4))
            throw new NativeCnnException($"image '{name}': conversion to {to} channels is not supported; expected 1, 3 or 4");
        return head.BitsPerSample > 8
            ? Convert<Rgba64, Samples16>(bytes, name, options, head, 65535f)
            : Convert<Rgba32, Samples8>(bytes, name, options, head, 255f);
    }

    // The samples of a pixel as ints; a struct per pixel type, so the generic loop is specialised and
    // inlined by the JIT (no delegate call per pixel).
    private interface ISamples<TPixel> { static abstract (int R, int G, int B, int A) Of(TPixel p); }
    private readonly struct Samples8 : ISamples<Rgba32> { public static (int R, int G, int B, int A) Of(Rgba32 p) => (p.R, p.G, p.B, p.A); }
    private readonly struct Samples16 : ISamples<Rgba64> { public static (int R, int G, int B, int A) Of(Rgba64 p) => (p.R, p.G, p.B, p.A); }

    private readonly record struct ImageHeader(int Width, int Height, int Channels, int BitsPerSample, SixLabors.ImageSharp.Formats.IImageFormat Format);

    // One conversion loop for both sample depths: `max` is the largest level (255 or 65535); a level v
    // becomes v / max (8-bit levels through the Levels table, the same value).
    private static DecodedImage Convert<TPixel, TSamples>(byte[] bytes, string name, DecodeOptions options, ImageHeader head, float max)
        where TPixel : unmanaged, IPixel<TPixel> where TSamples : struct, ISamples<TPixel>
    {
        var (width, height, channels, bits, _) = head;
        Image<TPixel> image;
        try { image = Image.Load<TPixel>(bytes); }
        // Any decoder failure on bad bytes (ImageSharp's own exceptions, or an index/overflow error deep in a
        // codec) is the file's fault: report it as such, naming the file, never as an engine crash.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new NativeCnnException($"image file '{name}' is corrupt or truncated: {e.GetType().Name}: {e.Message}");
        }
        using (image)
        {
            if (image.Width != width || image.Height != height)
                throw new NativeCnnException($"image file '{name}': header says {width}x{height} but decoded {image.Width}x{image.Height}");
            int outC = options.ConvertTo ?? channels;
            var px = new float[(long)outC * height * width];
            int plane = height * width;
            var levels = Levels;
            float S(int v) => bits <= 8 ? levels[v] : v / max;
            image.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    int o = y * width;
                    for (int x = 0; x < width; x++)
                    {
                        var p = TSamples.Of(row[x]);
                        switch (outC)
                        {
                            case 1:
                                // A grey source keeps its exact level; colour is mixed with BT.601 luma weights.
                                px[o + x] = channels <= 2 ? S(p.R) : (0.299f * p.R + 0.587f * p.G + 0.114f * p.B) / max;
                                break;
                            case 2:
                                px[o + x] = S(p.R); px[plane + o + x] = S(p.A);
                                break;
                            default:
                                px[o + x] = S(p.R); px[plane + o + x] = S(p.G); px[2 * plane + o + x] = S(p.B);
                                if (outC == 4) px[3 * plane + o + x] = S(p.A);
                                break;
                        }
                    }
                }
            });
            return new DecodedImage(px, outC, height, width);
        }
    }

    /// <summary>Width, height and channel count from the header only; applies the pixel limit.</summary>
    public static (int Width, int Height, int Channels) Identify(byte[] bytes, string name, DecodeOptions? options = null)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return Identify(stream, name, options);
    }

    /// <summary>Identifies a file reading only its header (dataset checks stay cheap on large folders).</summary>
    public static (int Width, int Height, int Channels) IdentifyFile(string path, DecodeOptions? options = null)
    {
        try
        {
            using var stream = InputFile.Open(path, "image file", (options ?? DecodeOptions.Default).MaxFileBytes);
            return Identify(stream, path, options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new NativeCnnException($"image file '{path}' cannot be read: {e.Message}"); }
    }

    private static (int Width, int Height, int Channels) Identify(Stream stream, string name, DecodeOptions? options)
    {
        var h = Probe(stream, name, options);
        return (h.Width, h.Height, h.Channels);
    }

    private static ImageHeader Probe(Stream stream, string name, DecodeOptions? options)
    {
        options ??= DecodeOptions.Default;
        var head = new byte[32];
        int got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..got];
        stream.Position = 0;
        IImageInfo? info;
        SixLabors.ImageSharp.Formats.IImageFormat? format;
        try
        {
            format = Image.DetectFormat(head);
            info = format is null ? null : Image.Identify(stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new NativeCnnException($"image file '{name}' has a corrupt header: {e.GetType().Name}: {e.Message}");
        }
        if (format is null || info is null)
            throw new NativeCnnException($"image file '{name}' is not a known image type (expected PNG, JPEG, BMP, GIF, TIFF, WebP or TGA; first bytes {System.Convert.ToHexString(head.AsSpan(0, Math.Min(8, head.Length)))})");
        if (info.Width <= 0 || info.Height <= 0)
            throw new NativeCnnException($"image file '{name}' has size {info.Width}x{info.Height}; expected a positive width and height");
        if ((long)info.Width * info.Height > options.MaxPixels)
            throw new NativeCnnException($"image file '{name}' is {info.Width}x{info.Height} = {(long)info.Width * info.Height} pixels, over the limit of {options.MaxPixels} (DecodeOptions.MaxPixels guards against decompression bombs)");
        if (format is SixLabors.ImageSharp.Formats.Tiff.TiffFormat)
        {
            var (c, bits) = TiffHeader.Read(stream, name);
            return new ImageHeader(info.Width, info.Height, c, bits, format);
        }
        if (format is PngFormat && info.Metadata.GetPngMetadata().BitDepth == PngBitDepth.Bit16)
            return new ImageHeader(info.Width, info.Height, SourceChannels(format, info), 16, format);
        return new ImageHeader(info.Width, info.Height, format is SixLabors.ImageSharp.Formats.Webp.WebpFormat ? WebpChannels(head) : SourceChannels(format, info), 8, format);
    }

    // WebP says whether it stores alpha in its first chunk: VP8X's flags (bit 4), VP8L's alpha_is_used
    // bit (bit 28 of the 32-bit header after the 0x2f signature); simple lossy VP8 never has alpha.
    private static int WebpChannels(byte[] b)
    {
        if (b.Length < 30) return 3;
        string chunk = System.Text.Encoding.ASCII.GetString(b, 12, 4);
        if (chunk == "VP8X") return (b[20] & 0x10) != 0 ? 4 : 3;
        if (chunk == "VP8L" && b[20] == 0x2f) return (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(21)) & (1u << 28)) != 0 ? 4 : 3;
        return 3;
    }

    // The channel count the file itself stores. Where the format's metadata says it exactly (PNG colour
    // type, JPEG colour type, TGA) it is used; otherwise the bits per pixel decide (8 grey, 16 grey+alpha,
    // 24 RGB, 32 RGBA); palette formats (GIF, 8-bit BMP) count as RGB.
    private static int SourceChannels(SixLabors.ImageSharp.Formats.IImageFormat format, IImageInfo info)
    {
        int bpp = info.PixelType?.BitsPerPixel ?? 24;
        switch (format)
        {
            case PngFormat:
                var png = info.Metadata.GetPngMetadata();
                return png.ColorType switch
                {
                    PngColorType.Grayscale => 1,
                    PngColorType.GrayscaleWithAlpha => 2,
                    PngColorType.RgbWithAlpha => 4,
                    PngColorType.Palette => png.HasTransparency ? 4 : 3,
                    _ => 3,
                };
            case JpegFormat:
                return info.Metadata.GetJpegMetadata().ColorType == JpegColorType.Luminance ? 1 : 3;
            case BmpFormat:
                return info.Metadata.GetBmpMetadata().BitsPerPixel == BmpBitsPerPixel.Pixel32 ? 4 : 3;
            case TgaFormat:
                return info.Metadata.GetTgaMetadata().BitsPerPixel switch { TgaBitsPerPixel.Pixel8 => 1, TgaBitsPerPixel.Pixel32 => 4, _ => 3 };
            case SixLabors.ImageSharp.Formats.Gif.GifFormat:
                return 3;
            default:
                return bpp switch { <= 8 => 1, 16 => 2, 32 or 64 => 4, _ => 3 };
        }
    }
}

/// <summary>Reads SamplesPerPixel (277), BitsPerSample (258) and PhotometricInterpretation (262) from a
/// TIFF's first IFD: the file's own channel count and sample depth, which ImageSharp 2.1 does not report.</summary>
internal static class TiffHeader
{
    public static (int Channels, int BitsPerSample) Read(Stream stream, string name)
    {
        NativeCnnException Bad(string what) => new($"image file '{name}': TIFF header {what}");
        try
        {
            stream.Position = 0;
            var r = new BinaryReader(stream);
            var order = r.ReadBytes(2);
            bool little = order is [(byte)'I', (byte)'I'];
            if (!little && order is not [(byte)'M', (byte)'M']) throw Bad("has no II/MM byte order mark");
            ushort U16() { var b = r.ReadBytes(2); if (b.Length < 2) throw new EndOfStreamException(); return little ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(b) : System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(b); }
            uint U32() { var b = r.ReadBytes(4); if (b.Length < 4) throw new EndOfStreamException(); return little ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b) : System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b); }
            if (U16() != 42) throw Bad("is not classic TIFF (magic 42)");
            stream.Position = U32();
            int entries = U16();
            int samples = 1, photometric = -1, bits = 1;
            for (int i = 0; i < entries; i++)
            {
                ushort tag = U16(), type = U16();
                uint count = U32();
                long valueAt = stream.Position;
                // A SHORT value (type 3) sits in the first 2 bytes of the 4-byte field; a LONG (4) fills it.
                uint First() => type == 3 ? U16() : U32();
                switch (tag)
                {
                    case 277: samples = (int)First(); break;
                    case 262: photometric = (int)First(); break;
                    case 258:
                        // One value per sample; with more than two SHORTs the field holds an offset to them.
                        // Every sample has the same depth in the files ImageSharp decodes, so the first is enough.
                        if (count * 2 > 4) stream.Position = U32();
                        bits = (int)First();
                        break;
                }
                stream.Position = valueAt + 4;
            }
            // Palette (3) files are expanded to RGB; grey (0, 1) and RGB (2) keep their sample count;
            // anything else (CMYK, YCbCr, ...) is decoded to RGB.
            int channels = photometric switch { 0 or 1 => Math.Clamp(samples, 1, 2), 2 => Math.Clamp(samples, 3, 4), _ => 3 };
            return (channels, bits);
        }
        catch (EndOfStreamException) { throw Bad("is truncated (the first IFD runs past the end of the file)"); }
        finally { stream.Position = 0; }
    }
}
