// Writing report files (SVG, PNG, HTML) so that a reader never sees half a file: the content goes
// to a temporary file next to the target, which is then moved over it. Must hold: on any failure the
// temporary file is deleted and the previous target (if any) is left untouched.
namespace NativeCnn.Reports;

internal static class ReportFiles
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/> into a temporary file, then moves it into place.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (string.IsNullOrWhiteSpace(path)) throw new NativeCnnException("report: the output path is empty; expected a file path");
        // the writers may close the stream they are given (StreamWriter, image encoders), so they
        // write to memory (report files are small); the checkpoints' writer then does temporary file,
        // flush to disk and rename
        var buffer = new MemoryStream();
        write(buffer);
        var bytes = buffer.ToArray();
        IO.AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Writes text as UTF-8 (no byte-order mark) through <see cref="WriteAtomically"/>.</summary>
    public static void WriteText(string path, string text) =>
        WriteAtomically(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false));
            w.Write(text);
        });
}
