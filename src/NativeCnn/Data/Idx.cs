// Reader for the IDX format of MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic (0, 0,
// type code, number of dimensions), big-endian int32 sizes, then the values. Only unsigned bytes
// (type 0x08) are accepted. Gzip is detected from the content (1f 8b), not the file name. Must hold:
// a file that is short, long, gzip-corrupt or has a bad header is rejected with a message that names
// the file and says what was expected and what was found; never a partial result.
using System.Buffers.Binary;
using System.IO.Compression;

namespace NativeCnn.Data;

/// <summary>The dimensions and raw bytes of one IDX file.</summary>
public sealed record IdxData(int[] Dimensions, byte[] Values);

/// <summary>Reads IDX files (MNIST's format; gzip detected from the content) of unsigned bytes, checking the header against the length.</summary>
public static class Idx
{
    private const int MaxDimensions = 4;

    /// <summary>Reads an IDX file from disk (gzipped or not).</summary>
    public static IdxData ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = InputFile.Open(path, "IDX file");   // a regular file of known size, never a FIFO
        return Read(stream, path);
    }

    /// <summary>Reads IDX content from a stream (gzipped or not); <paramref name="name"/> is used in error messages.</summary>
    public static IdxData Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] bytes;
        try
        {
            bytes = Decompress(stream);
        }
        catch (InvalidDataException e)
        {
            throw new NativeCnnException($"IDX file '{name}': gzip data is corrupt ({e.Message})");
        }
        return Parse(bytes, name);
    }

    private static byte[] Decompress(Stream stream)
    {
        using var raw = new MemoryStream();
        stream.CopyTo(raw);
        var bytes = raw.ToArray();
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var unpacked = new MemoryStream();
        gz.CopyTo(unpacked);
        return unpacked.ToArray();
    }

    /// <summary>Parses uncompressed IDX bytes.</summary>
    public static IdxData Parse(byte[] bytes, string name)
    {
        if (bytes.Length < 4)
            throw new NativeCnnException($"IDX file '{name}': expected at least a 4-byte header, got {bytes.Length} bytes");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new NativeCnnException($"IDX file '{name}': bad magic number 0x{bytes[0]:X2}{bytes[1]:X2}{bytes[2]:X2}{bytes[3]:X2}, expected 0x0000 followed by a type code and a dimension count (is it an IDX file?)");
        if (bytes[2] != 0x08)
            throw new NativeCnnException($"IDX file '{name}': element type code 0x{bytes[2]:X2} is not supported, expected 0x08 (unsigned byte)");
        int rank = bytes[3];
        if (rank < 1 || rank > MaxDimensions)
            throw new NativeCnnException($"IDX file '{name}': dimension count must be 1 to {MaxDimensions}, got {rank}");
        int header = 4 + 4 * rank;
        if (bytes.Length < header)
            throw new NativeCnnException($"IDX file '{name}': the header needs {header} bytes for {rank} dimensions, got {bytes.Length}");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * i, 4));
            if (dims[i] <= 0)
                throw new NativeCnnException($"IDX file '{name}': dimension {i} must be positive, got {dims[i]}");
            count *= dims[i];
            if (count > int.MaxValue)
                throw new NativeCnnException($"IDX file '{name}': dimensions {Shape.Format(dims.AsSpan(0, i + 1))} describe more than {int.MaxValue} values");
        }
        long expected = header + count;
        if (bytes.Length != expected)
            throw new NativeCnnException($"IDX file '{name}': dimensions {Shape.Format(dims)} need {expected} bytes, got {bytes.Length} ({(bytes.Length < expected ? "truncated" : "trailing data")})");
        return new IdxData(dims, bytes.AsSpan(header).ToArray());
    }
}
