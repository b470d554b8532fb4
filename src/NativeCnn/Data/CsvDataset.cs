// CSV-labelled image sets: a header line, then `name,labels` rows (like Kaggle planet's
// train_v2.csv). Single-label: one label per row; multi-label: labels separated by spaces.
// Must hold: every error names the CSV file and its 1-based line (missing file, empty label, wrong
// column count, label outside a given vocabulary); classes are the sorted set of labels seen unless
// the model's vocabulary is given.
namespace NativeCnn.Data;

/// <summary>How a CSV file of image names and labels is read.</summary>
public sealed record CsvOptions
{
    /// <summary>Folder the image names are relative to; null: the CSV file's folder.</summary>
    public string? ImageFolder { get; init; }

    /// <summary>Appended to each name (e.g. ".jpg" when the CSV holds bare ids).</summary>
    public string Suffix { get; init; } = "";

    /// <summary>Space-separated labels per row (multi-label) instead of one label.</summary>
    public bool MultiLabel { get; init; }

    /// <summary>The column separator (default ',').</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>The model's vocabulary; null builds it from the labels in the file.</summary>
    public IReadOnlyList<string>? Classes { get; init; }
}

/// <summary>Reads a CSV of <c>name,labels</c> rows (a header line first) into an <see cref="ImageFileDataset"/>.</summary>
public static class CsvDataset
{
    // File.ReadAllLines' reading: the encoding from a byte order mark (UTF-8 without one), \n, \r\n or \r line ends.
    private static List<string> ReadLines(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    /// <summary>The images named by <paramref name="csvPath"/>'s rows, labelled as the second column says; classes are the labels found (sorted) unless <paramref name="csv"/> gives them.</summary>
    /// <exception cref="FileNotFoundException">The CSV file or an image it names does not exist.</exception>
    /// <exception cref="ArgumentException">A row is malformed or names an unknown class (the message gives the line).</exception>
    public static ImageFileDataset Load(string csvPath, CsvOptions? csv = null, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(csvPath);
        csv ??= new CsvOptions();
        var bytes = InputFile.ReadAll(csvPath, "CSV file");   // a regular file of known size, never a FIFO
        string folder = csv.ImageFolder ?? Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        var lines = ReadLines(bytes);
        if (lines.Count < 2) throw new NativeCnnException($"CSV file '{csvPath}' has no data rows; expected a header line then name{csv.Delimiter}labels rows");
        var rows = new List<(string Path, string[] Labels, string Origin)>();
        for (int i = 1; i < lines.Count; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0) continue;
            string origin = $"CSV file '{csvPath}' line {i + 1}";
            var cols = SplitLine(line, csv.Delimiter);
            if (cols.Length != 2)
                throw new NativeCnnException($"{origin}: expected 2 columns (name{csv.Delimiter}labels), got {cols.Length}: \"{line}\"");
            string name = cols[0].Trim();
            if (name.Length == 0) throw new NativeCnnException($"{origin}: the image name is empty");
            string labelText = cols[1].Trim();
            var labels = csv.MultiLabel ? labelText.Split(' ', StringSplitOptions.RemoveEmptyEntries) : new[] { labelText };
            if (labels.Length == 0 || labels[0].Length == 0)
                throw new NativeCnnException($"{origin}: image '{name}' has an empty label");
            string path = Path.Combine(folder, name + csv.Suffix);
            rows.Add((path, labels, $"{origin} ('{name}')"));
        }
        WarnDuplicates(rows, csvPath, NativeCnnLogging.Warner<ImageFileDataset>(options?.Warn, options?.Logger));
        IReadOnlyList<string> classes = csv.Classes ?? rows.SelectMany(r => r.Labels).Distinct().Order(StringComparer.Ordinal).ToArray();
        var items = rows.Select(r => new ImageItem(r.Path, r.Labels.Select(l =>
        {
            int k = FolderDataset.IndexOf(classes, l);
            if (k < 0) throw new NativeCnnException($"{r.Origin}: label '{l}' is not one of the model's classes ({string.Join(", ", classes)})");
            return k;
        }).Distinct().ToArray(), r.Origin)).ToList();
        // A missing file is always an error naming its row, also when header validation is off.
        if (!(options?.SkipUnreadable ?? false))
            foreach (var it in items)
                if (!File.Exists(it.Path)) throw new FileNotFoundException($"{it.Origin}: image file '{it.Path}' does not exist", it.Path);
        return new ImageFileDataset(items, classes, csv.MultiLabel, csvPath, options);
    }

    // A file listed twice is trained on twice (and may land in both the training and the validation split);
    // listed with different labels it teaches both. Neither is an error (fastai accepts them), neither is silent.
    private static void WarnDuplicates(List<(string Path, string[] Labels, string Origin)> rows, string csvPath, Action<string> warn)
    {
        foreach (var g in rows.GroupBy(r => Path.GetFullPath(r.Path), StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            var list = g.ToList();
            bool conflict = list.Select(r => string.Join(" ", r.Labels.Order(StringComparer.Ordinal))).Distinct(StringComparer.Ordinal).Count() > 1;
            string where = string.Join(", ", list.Select(r => r.Origin[(r.Origin.IndexOf(" line ", StringComparison.Ordinal) + 1)..]));
            warn(conflict
                ? $"warning: CSV file '{csvPath}': image '{g.Key}' is listed {list.Count} times with different labels ({string.Join(" / ", list.Select(r => string.Join(" ", r.Labels)))}): {where}"
                : $"warning: CSV file '{csvPath}': image '{g.Key}' is listed {list.Count} times with the same labels: {where}");
        }
    }

    // One CSV line: fields may be double-quoted (a quoted field may hold the delimiter; "" is a quote).
    internal static string[] SplitLine(string line, char delimiter)
    {
        var fields = new List<string>();
        var sb = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else sb.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == delimiter) { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(ch);
        }
        fields.Add(sb.ToString());
        return fields.ToArray();
    }
}
