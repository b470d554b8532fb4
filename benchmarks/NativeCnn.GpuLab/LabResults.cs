// The lab's record of a run: every result is one JSON object appended (and flushed) to
// OUTDIR/results.jsonl as soon as it is known, so a crash or a lost machine keeps what was measured,
// and kept in memory for summary.md. Bench records use torch_baseline.py's fields (case, device,
// median_ms, tflops / gb_per_s / images_per_s) so the two files line up by case name.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeCnn.GpuLab;

internal sealed class LabResults : IDisposable
{
    private readonly StreamWriter _file;

    public LabResults(string outDir)
    {
        Directory.CreateDirectory(outDir);
        OutDir = outDir;
        _file = new StreamWriter(Path.Combine(outDir, "results.jsonl"), append: false) { AutoFlush = true };
    }

    public string OutDir { get; }

    public List<JsonObject> Records { get; } = new();

    /// <summary>Appends one record of <paramref name="section"/> (device, case, bench, train, error) and
    /// returns it. The fields move into the record (a JSON node has one parent): read the returned one.</summary>
    public JsonObject Add(string section, JsonObject fields)
    {
        var record = new JsonObject { ["section"] = section };
        foreach (var (k, v) in fields.ToList())
        {
            fields.Remove(k);
            record[k] = v;
        }
        Records.Add(record);
        _file.WriteLine(record.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return record;
    }

    /// <summary>A section that failed as a whole (its own records say what ran before).</summary>
    public void Error(string section, Exception e)
    {
        Add("error", new JsonObject { ["in"] = section, ["type"] = e.GetType().Name, ["message"] = e.Message, ["trace"] = e.ToString() });
        Console.WriteLine($"ERROR in {section}: {e.GetType().Name}: {e.Message}");
    }

    public IEnumerable<JsonObject> Of(string section) => Records.Where(r => (string?)r["section"] == section);

    public void Dispose() => _file.Dispose();
}
