// Is an image file complete? ImageSharp 2.1 decodes many truncated files without a word (a JPEG cut
// after its scan header comes back grey, a PNG cut inside IDAT has zero rows), so before decoding the
// file's own structure is walked: every segment, chunk, block, strip or packet it declares must lie
// inside the bytes, and the formats with an end mark must reach it (JPEG EOI after the scan, PNG IEND,
// GIF trailer or a last complete block). Must hold: only the bytes are read (no decoding); a file that
// fails is refused with a message naming it, the format and what is missing; files ImageSharp itself
// writes always pass (ImageDecoderTests round-trips every format).
using System.Buffers.Binary;
using SixLabors.ImageSharp.Formats;

namespace NativeCnn.Data;

internal static class ImageCompleteness
{
    /// <summary>Throws a NativeCnnException naming <paramref name="name"/> when the bytes of a
    /// <paramref name="format"/> file end before the data they declare.</summary>
    public static void Check(byte[] b, IImageFormat format, string name)
    {
        string? problem = format.Name.ToUpperInvariant() switch
        {
            "JPEG" => Jpeg(b),
            "PNG" => Png(b),
            "GIF" => Gif(b),
            "WEBP" => Webp(b),
            "TIFF" => Tiff(b),
            "BMP" => Bmp(b),
            "TGA" => Tga(b),
            _ => null,
        };
        if (problem is not null)
            throw new NativeCnnException($"image file '{name}' is truncated or incomplete: {format.Name} {problem} ({b.Length:N0} bytes); expected a complete file");
    }

    private static int U16BE(byte[] b, long at) => BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan((int)at, 2));

    private static string? Jpeg(byte[] b)
    {
        long i = 2;   // after SOI
        while (true)
        {
            if (i + 1 >= b.Length) return "ends before its scan (SOS) segment";
            if (b[i] != 0xFF) return $"has no marker at offset {i}";
            byte m = b[i + 1];
            if (m == 0xFF) { i++; continue; }   // fill byte
            if (m == 0xD9) return "ends (EOI) before any scan data";
            if (m is 0x01 or (>= 0xD0 and <= 0xD7)) { i += 2; continue; }   // markers without a length
            if (i + 3 >= b.Length) return $"ends inside the segment at offset {i}";
            long end = i + 2 + U16BE(b, i + 2);
            if (end > b.Length) return $"segment FF{m:X2} at offset {i} runs {end - b.Length} bytes past the end";
            i = end;
            if (m == 0xDA) break;   // start of scan: entropy-coded data follows
        }
        // In the scan data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 is the real EOI
        // (a thumbnail's EOI sits in an APP segment before the scan and was skipped above).
        var rest = b.AsSpan((int)i);
        return rest.IndexOf(new byte[] { 0xFF, 0xD9 }) >= 0 ? null : "has no end-of-image marker (FF D9) after its scan data";
    }

    private static string? Png(byte[] b)
    {
        long i = 8;   // after the signature
        while (true)
        {
            if (i + 8 > b.Length) return "ends before its IEND chunk";
            long length = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan((int)i, 4));
            string type = System.Text.Encoding.ASCII.GetString(b, (int)i + 4, 4);
            long end = i + 12 + length;
            if (end > b.Length) return $"chunk {type} at offset {i} runs {end - b.Length} bytes past the end";
            if (type == "IEND") return null;
            i = end;
        }
    }

    private static string? Gif(byte[] b)
    {
        if (b.Length < 13) return "ends inside its header";
        long i = 13;
        if ((b[10] & 0x80) != 0) i += 3L << ((b[10] & 7) + 1);   // global colour table
        bool image = false;
        while (true)
        {
            if (i >= b.Length)
                return image ? null : "ends before its first image";   // a missing trailer after complete images is tolerated
            switch (b[i])
            {
                case 0x3B: return image ? null : "has no image before its trailer";
                case 0x21:
                    i += 2;
                    if (!SkipSubBlocks(b, ref i)) return "ends inside an extension block";
                    break;
                case 0x2C:
                    if (i + 10 > b.Length) return "ends inside an image descriptor";
                    byte packed = b[i + 9];
                    i += 10;
                    if ((packed & 0x80) != 0) i += 3L << ((packed & 7) + 1);   // local colour table
                    i++;   // LZW minimum code size
                    if (!SkipSubBlocks(b, ref i)) return "ends inside its image data";
                    image = true;
                    break;
                default: return $"has an unknown block 0x{b[i]:X2} at offset {i}";
            }
        }
    }

    // Data sub-blocks: a size byte, that many bytes, ..., a zero size ends them.
    private static bool SkipSubBlocks(byte[] b, ref long i)
    {
        while (true)
        {
            if (i >= b.Length) return false;
            int size = b[i++];
            if (size == 0) return true;
            i += size;
        }
    }

    private static string? Webp(byte[] b)
    {
        if (b.Length < 12) return "ends inside its RIFF header";
        long riffEnd = 8L + BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4, 4));
        if (riffEnd > b.Length) return $"declares {riffEnd:N0} bytes in its RIFF header";
        long i = 12;
        while (i + 8 <= riffEnd)
        {
            long size = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)i + 4, 4));
            long end = i + 8 + size + (size & 1);
            if (i + 8 + size > riffEnd) return $"chunk {System.Text.Encoding.ASCII.GetString(b, (int)i, 4)} at offset {i} runs past the end";
            i = end;
        }
        return null;
    }

    // The first IFD's strips or tiles (the image that is decoded) must lie inside the file.
    private static string? Tiff(byte[] b)
    {
        if (b.Length < 8) return "ends inside its header";
        bool little = b[0] == (byte)'I';
        long U16(long at) => little ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan((int)at, 2)) : BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan((int)at, 2));
        long U32(long at) => little ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)at, 4)) : BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan((int)at, 4));
        long ifd = U32(4);
        if (ifd + 2 > b.Length) return "has its first IFD past the end";
        long entries = U16(ifd);
        if (ifd + 2 + entries * 12 > b.Length) return "ends inside its first IFD";
        long[]? offsets = null, counts = null;
        for (long e = 0; e < entries; e++)
        {
            long at = ifd + 2 + e * 12;
            long tag = U16(at), type = U16(at + 2), n = U32(at + 4);
            if (tag is not (273 or 279 or 324 or 325)) continue;
            int width = type == 3 ? 2 : 4;
            long data = n * width <= 4 ? at + 8 : U32(at + 8);
            if (data + n * width > b.Length) return $"tag {tag} points past the end";
            var values = new long[n];
            for (long k = 0; k < n; k++) values[k] = width == 2 ? U16(data + k * 2) : U32(data + k * 4);
            if (tag is 273 or 324) offsets = values; else counts = values;
        }
        if (offsets is null || counts is null) return null;   // ImageSharp reports what it lacks itself
        for (int k = 0; k < Math.Min(offsets.Length, counts.Length); k++)
            if (offsets[k] + counts[k] > b.Length)
                return $"strip/tile {k} of {offsets.Length} (offset {offsets[k]:N0}, {counts[k]:N0} bytes) runs past the end";
        return null;
    }

    private static string? Bmp(byte[] b)
    {
        if (b.Length < 26) return "ends inside its header";
        long fileSize = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(2, 4));
        long offBits = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(10, 4));
        long header = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(14, 4));
        long w, h, bpp, compression = 0, imageSize = 0;
        if (header == 12) { w = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(18, 2)); h = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(20, 2)); bpp = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(24, 2)); }
        else
        {
            if (b.Length < 38) return "ends inside its header";
            w = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(18, 4)));
            h = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(22, 4)));
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(28, 2));
            compression = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(30, 4));
            imageSize = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(34, 4));
        }
        long need = compression is 0 or 3 or 6 ? offBits + (w * bpp + 31) / 32 * 4 * h   // uncompressed rows
                                               : offBits + imageSize;                      // RLE, JPEG, PNG: the stated size
        if (need > b.Length) return $"needs {need:N0} bytes for its pixel rows";
        return fileSize > b.Length && compression is not (0 or 3 or 6) ? $"declares {fileSize:N0} bytes in its header" : null;
    }

    private static string? Tga(byte[] b)
    {
        if (b.Length < 18) return "ends inside its header";
        int idLength = b[0], mapType = b[1], type = b[2];
        long mapBytes = mapType == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(5, 2)) * (long)((b[7] + 7) / 8) : 0;
        long w = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(12, 2)), h = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(14, 2));
        long pixel = (b[16] + 7) / 8;
        long i = 18 + idLength + mapBytes, pixels = w * h;
        if (type is 1 or 2 or 3)
            return i + pixels * pixel > b.Length ? $"needs {i + pixels * pixel:N0} bytes for its pixels" : null;
        if (type is not (9 or 10 or 11)) return null;
        for (long done = 0; done < pixels;)   // RLE packets: a header byte, then one pixel (run) or n pixels (raw)
        {
            if (i >= b.Length) return $"ends after {done:N0} of {pixels:N0} pixels";
            int head = b[i++];
            long n = (head & 0x7F) + 1;
            i += (head & 0x80) != 0 ? pixel : n * pixel;
            done += n;
        }
        return i > b.Length ? $"ends inside its last pixel packet" : null;
    }
}
