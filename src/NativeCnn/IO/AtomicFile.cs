// The one way the engine writes a file a user keeps (checkpoints, export bundles, safetensors, reports,
// metrics): the whole content or nothing.
// What must hold: the target is replaced by a rename of a complete, flushed temporary file in the same
// folder, or left untouched (the temporary file removed) when writing fails.
namespace NativeCnn.IO;

/// <summary>Replaces a file all at once: the new content goes to a unique temporary file in the same
/// directory (so the final move is a rename on one file system), is flushed to disk, then moved over the
/// target. If writing fails, the temporary file is removed and the target is untouched.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>: a temporary file, flushed, then renamed over it.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"cannot write '{path}': the folder '{dir}' does not exist");
        if (Directory.Exists(full)) throw new NativeCnnException($"cannot write '{path}': it is a folder, expected a file path");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"cannot write '{path}': {e.Message}");
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (IOException) { }
        }
    }
}
