// Reading a user's input file safely: only a regular file (symbolic links followed) whose size is
// known and within a limit is opened. Must hold: a FIFO, a device (/dev/zero), a socket or a folder
// is refused BEFORE it is opened (opening a FIFO blocks until a writer comes; /dev/zero never ends),
// and never more than the limit is read, even from a file that grows while it is read. A missing file
// is a FileNotFoundException (.NET's standard type); every other refusal a NativeCnnException naming
// the file, what was expected and what was found.
namespace NativeCnn;

internal static class InputFile
{
    /// <summary>Image files, CSVs, weights: 4 GiB (a larger input is almost surely a mistake).</summary>
    public const long DefaultMaxBytes = 4L << 30;

    /// <summary>The size of <paramref name="path"/> after checking that it is a regular, non-empty file of at most
    /// <paramref name="maxBytes"/> bytes; <paramref name="what"/> ("image file", "CSV file") starts every message.</summary>
    public static long Check(string path, string what, long maxBytes = DefaultMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileSystemInfo info = new FileInfo(path);
        try
        {
            if (info.LinkTarget is not null)
                info = File.ResolveLinkTarget(path, returnFinalTarget: true) ?? info;
        }
        catch (IOException e) { throw new NativeCnnException($"{what} '{path}' is a symbolic link that cannot be followed: {e.Message}"); }
        if (Directory.Exists(info.FullName)) throw new NativeCnnException($"{what} '{path}' is a folder; expected a regular file");
        if (!info.Exists) throw new FileNotFoundException($"{what} '{path}' does not exist", path);
        string target = info.FullName == Path.GetFullPath(path) ? "" : $" (a link to '{info.FullName}')";
        // A FIFO, socket or character device reports size 0 (as does an empty file): none holds an input.
        long length = ((FileInfo)info).Length;
        if (length == 0)
            throw new NativeCnnException($"{what} '{path}'{target} is empty or not a regular file (a FIFO, device or socket has no size); expected a regular file with data");
        if (length > maxBytes)
            throw new NativeCnnException($"{what} '{path}'{target} is {length:N0} bytes, over the limit of {maxBytes:N0}; expected a smaller file");
        return length;
    }

    /// <summary>The bytes of a file that passes <see cref="Check"/>; a file that changed size while read is refused.</summary>
    public static byte[] ReadAll(string path, string what, long maxBytes = DefaultMaxBytes)
    {
        long length = Check(path, what, maxBytes);
        if (length > Array.MaxLength)
            throw new NativeCnnException($"{what} '{path}' is {length:N0} bytes, more than one read can hold ({Array.MaxLength:N0})");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var bytes = new byte[length];
            int got = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (got != length || stream.ReadByte() != -1)
                throw new NativeCnnException($"{what} '{path}' changed size while it was read (expected {length:N0} bytes)");
            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{what} '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>Opens a file that passes <see cref="Check"/> for reading (for readers that stream it).</summary>
    public static FileStream Open(string path, string what, long maxBytes = DefaultMaxBytes)
    {
        Check(path, what, maxBytes);
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{what} '{path}' cannot be read: {e.Message}");
        }
    }
}
