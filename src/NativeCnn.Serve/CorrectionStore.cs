// Corrections in the layout `nativecnn finetune --data` reads: <dir>/<class>/<sha256 of the bytes>.<ext>,
// plus <dir>/corrections.jsonl with one JSON line per accepted correction request (time, file, given
// class, predicted class and probability, model identity). The class folder's name is always the
// model's own class string (looked up, never taken from the request), and the extension comes from the
// bytes' detected format, so nothing in a request chooses a path. Must hold: an image is written to a
// temporary file and renamed into place (never seen half-written; the temporary name has no image
// suffix, so finetune never reads it); the same bytes under the same class are stored once; the log gets
// exactly one complete line per request. One lock serialises stores (corrections are rare and small).
using System.Security.Cryptography;
using System.Text.Json;
using NativeCnn.Training;

namespace NativeCnn.Serve;

/// <summary>What storing one correction did.</summary>
/// <param name="Sha256">Lower-case hex SHA-256 of the image bytes.</param>
/// <param name="Files">The stored files, relative to the corrections folder (one per given class).</param>
/// <param name="StoredNow">False when every file was already there (the same image corrected before).</param>
public sealed record CorrectionResult(string Sha256, IReadOnlyList<string> Files, bool StoredNow);

/// <summary>Writes corrections where finetune finds them, and logs each one.</summary>
public sealed class CorrectionStore
{
    /// <summary>The log's file name inside the corrections folder (finetune ignores files there).</summary>
    public const string LogName = "corrections.jsonl";

    private readonly object _write = new();

    /// <summary>Uses (and creates when needed) the folder <paramref name="dir"/>.</summary>
    public CorrectionStore(string dir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        Dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(Dir);
    }

    /// <summary>The corrections folder (absolute).</summary>
    public string Dir { get; }

    /// <summary>The log of corrections, one JSON object per line.</summary>
    public string LogPath => Path.Combine(Dir, LogName);

    /// <summary>Stores <paramref name="bytes"/> (already decoded once, so a valid image of extension
    /// <paramref name="extension"/>) under each of <paramref name="classIndices"/> of <paramref name="model"/>
    /// and appends the log line. <paramref name="predicted"/> is the model's answer for the image;
    /// <paramref name="sourceName"/> the uploaded file's name, only logged.</summary>
    public CorrectionResult Add(byte[] bytes, string extension, IReadOnlyList<int> classIndices, LoadedModel model, Prediction predicted, string? sourceName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(classIndices);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(predicted);
        if (classIndices.Count == 0) throw new NativeCnnException("corrections: no class given");
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var classes = classIndices.Select(i => model.Info.Classes[i]).Distinct().ToArray();
        // The names come from the model, but a CSV-trained model's class could still be no folder name.
        foreach (var cls in classes)
            if (cls is "" or "." or ".." || cls.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || cls.Contains('\\'))
                throw new NativeCnnException($"corrections: the model's class '{cls}' cannot be a folder name, so its corrections cannot be stored in finetune's layout");
        lock (_write)
        {
            var files = new List<string>();
            bool storedNow = false;
            foreach (var cls in classes)
            {
                string folder = Path.Combine(Dir, cls);
                string file = Path.Combine(folder, sha + extension);
                if (!File.Exists(file))
                {
                    Directory.CreateDirectory(folder);
                    WriteNew(file, bytes);
                    storedNow = true;
                }
                files.Add(Path.GetRelativePath(Dir, file).Replace('\\', '/'));
            }
            AppendLog(sha, files, classes, model, predicted, sourceName, storedNow);
            return new CorrectionResult(sha, files, storedNow);
        }
    }

    // Temporary file in the same folder, flushed to disk, then renamed into place without overwriting.
    private static void WriteNew(string file, byte[] bytes)
    {
        string tmp = Path.Combine(Path.GetDirectoryName(file)!, $".{Path.GetFileName(file)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var s = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                s.Write(bytes);
                s.Flush(flushToDisk: true);
            }
            File.Move(tmp, file, overwrite: false);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private void AppendLog(string sha, List<string> files, string[] classes, LoadedModel model, Prediction predicted, string? sourceName, bool storedNow)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("file", files[0]);
            if (files.Count > 1)
            {
                w.WriteStartArray("files");
                foreach (var f in files) w.WriteStringValue(f);
                w.WriteEndArray();
            }
            w.WriteString("sha256", sha);
            w.WriteString("class", classes[0]);
            w.WriteStartArray("classes");
            foreach (var c in classes) w.WriteStringValue(c);
            w.WriteEndArray();
            w.WriteString("predicted", predicted.Class);
            w.WriteNumber("probability", Math.Round(predicted.Probability, 6));
            w.WriteStartArray("predicted_labels");
            foreach (var l in predicted.Labels) w.WriteStringValue(l);
            w.WriteEndArray();
            w.WriteString("model", model.Sha256);
            w.WriteBoolean("new", storedNow);
            if (sourceName is not null) w.WriteString("upload_name", sourceName);
            w.WriteEndObject();
        }
        System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);
        // One write of the whole line, flushed before the lock is released: readers never see half a line.
        using var log = new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.Read);
        log.Write(buffer.WrittenSpan);
        log.Flush(flushToDisk: true);
    }
}
