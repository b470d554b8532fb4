// The side-by-side report: NativeCnn's timed cases next to torch_baseline.py's records of the same
// run (matched by case name), the time ratio, and the two floors of each case (FLOPs over the peak,
// bytes over the bandwidth) with how far the measured time is from the higher floor. Writes the
// markdown that goes to benchmarks/results/<device>.md, and reads torch_baseline.py's JSON lines.
// Must hold: every number in the report comes from the results given; a case missing on one side
// is shown as missing, never matched to a differently-sized case.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeCnn.Benchmarking;

/// <summary>One record of torch_baseline.py (float32, non-AMP unless asked); <see cref="PeakMemMb"/>: its
/// train steps' peak_mem_mb on CUDA (torch.cuda.max_memory_allocated, MiB).</summary>
internal sealed record TorchRecord(string Case, double MedianMs, double? Tflops, double? GbPerS, double? ImagesPerS, string DType, bool Amp,
                                 double? PeakMemMb = null);

internal static class BenchReport
{
    /// <summary>Reads torch_baseline.py's output (one JSON object per line; other lines are ignored) and
    /// keeps, per case, the record of <paramref name="dtype"/> with amp = <paramref name="amp"/>.</summary>
    public static Dictionary<string, TorchRecord> ParseTorch(IEnumerable<string> lines, string dtype = "float32", bool amp = false)
    {
        var byCase = new Dictionary<string, TorchRecord>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            if (!line.TrimStart().StartsWith('{')) continue;
            JsonObject? r;
            try { r = JsonNode.Parse(line) as JsonObject; }
            catch (JsonException) { continue; }
            if (r?["case"] is not JsonValue c || r["median_ms"] is not JsonValue ms) continue;
            string dt = (string?)r["dtype"] ?? "float32";
            bool isAmp = r["amp"] is JsonValue a && a.GetValue<bool>();
            if (dt != dtype || isAmp != amp) continue;
            string name = c.GetValue<string>();
            byCase[name] = new TorchRecord(name, ms.GetValue<double>(), Num(r, "tflops"), Num(r, "gb_per_s"), Num(r, "images_per_s"), dt, isAmp, Num(r, "peak_mem_mb"));
        }
        return byCase;
    }

    /// <summary>Every float32 record of torch_baseline.py's output keyed for TorchPairing: non-AMP records by case,
    /// AMP records by case + "_amp" (the name of our mixed-precision case).</summary>
    public static Dictionary<string, TorchRecord> ParseTorchAll(IEnumerable<string> lines)
    {
        var list = lines as IReadOnlyCollection<string> ?? lines.ToList();
        var all = ParseTorch(list);
        foreach (var t in ParseTorch(list, amp: true).Values) all[t.Case + TorchPairing.AmpSuffix] = t;
        return all;
    }

    /// <summary>Reads torch_baseline.py's output file (every float32 record, AMP included: ParseTorchAll); a
    /// missing file is a clear error.</summary>
    public static Dictionary<string, TorchRecord> LoadTorchAll(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PyTorch results '{path}' not found; expected the output of torch_baseline.py (one JSON object per line)", path);
        var d = ParseTorchAll(File.ReadLines(path));
        if (d.Count == 0) throw new NativeCnnException($"PyTorch results '{path}' hold no float32 case records; expected torch_baseline.py's output");
        return d;
    }

    /// <summary>Reads torch_baseline.py's output file; a missing file is a clear error.</summary>
    public static Dictionary<string, TorchRecord> LoadTorch(string path, string dtype = "float32", bool amp = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PyTorch results '{path}' not found; expected the output of torch_baseline.py (one JSON object per line)", path);
        var d = ParseTorch(File.ReadLines(path), dtype, amp);
        if (d.Count == 0) throw new NativeCnnException($"PyTorch results '{path}' hold no {dtype}{(amp ? " AMP" : "")} case records; expected torch_baseline.py's output");
        return d;
    }

    /// <summary>The markdown report: a header naming the device and the ceilings, then one row per case.</summary>
    public static string Markdown(string title, IReadOnlyList<BenchResult> ours, IReadOnlyDictionary<string, TorchRecord> torch, Ceilings ceilings,
                                  IEnumerable<string>? notes = null)
    {
        var s = new StringBuilder();
        s.AppendLine($"# {title}");
        s.AppendLine();
        foreach (var n in notes ?? Array.Empty<string>()) s.AppendLine(n);
        s.AppendLine(Inv($"Ceilings measured in this run: peak {Human(ceilings.PeakFlops, "FLOP/s")} ({ceilings.PeakSource}); bandwidth {Human(ceilings.BytesPerSecond, "B/s")} ({ceilings.BandwidthSource})."));
        s.AppendLine("Floors: FLOPs / peak and bytes / bandwidth (minimum traffic: see each case family in NativeCnn.Benchmarking.BenchSuite). " +
                     "Ratio = NativeCnn time / PyTorch time (below 1: NativeCnn is faster). 'of floor' = the higher floor / NativeCnn time. " +
                     "Pairing (TorchPairing): strict float32 cases with PyTorch's `_notf32` record (TF32 off) where it has one, " +
                     "`_tf32` cases with PyTorch's default (TF32), `_amp` cases with PyTorch AMP.");
        s.AppendLine();
        s.AppendLine("| case | NativeCnn ms | rate | PyTorch | PyTorch ms | rate | ratio | FLOP floor ms | byte floor ms | of floor |");
        s.AppendLine("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in ours)
        {
            var pair = TorchPairing.Pair(r.Case, torch);
            var t = pair?.Record;
            string with = pair is null ? "-" : $"{pair.Record.Case} ({pair.Label})";
            if (r.Error is not null)
            {
                s.AppendLine($"| {r.Case} | failed: {r.Error.Split('\n')[0].Replace("|", "/")} | | {with} | {(t is null ? "" : Inv($"{t.MedianMs:G4}"))} | {TorchRate(t)} | | | | |");
                continue;
            }
            var (flopMs, byteMs) = ceilings.Floors(r.Flops, r.Bytes);
            // the peak is float32's (the GEMM cases): no FLOP floor for TF32 and float16 cases
            if (TorchPairing.PrecisionOf(r.Case) != BenchPrecision.Float32) flopMs = double.NaN;
            double floor = Math.Max(double.IsNaN(flopMs) ? 0 : flopMs, double.IsNaN(byteMs) ? 0 : byteMs);
            s.AppendLine(Inv($"| {r.Case} | {r.MedianMs:G4} | {OurRate(r)} | {with} | {(t is null ? "-" : t.MedianMs.ToString("G4", CultureInfo.InvariantCulture))} | {TorchRate(t)} | ") +
                         Inv($"{(t is null ? "-" : (r.MedianMs / t.MedianMs).ToString("F2", CultureInfo.InvariantCulture))} | {Ms(flopMs)} | {Ms(byteMs)} | {(floor > 0 ? (floor / r.MedianMs).ToString("P0", CultureInfo.InvariantCulture) : "-")} |"));
        }
        var peaks = ours.Where(r => r.Error is null && r.PeakMemMb is not null).ToList();
        if (peaks.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("Peak device memory (NativeCnn: the GPU backend's high-water mark of bytes in use over the warm-up and timed calls; " +
                         "PyTorch: peak_mem_mb, torch.cuda.max_memory_allocated over its step's timing).");
            s.AppendLine();
            s.AppendLine("| case | NativeCnn MiB | PyTorch MiB | ratio |");
            s.AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var r in peaks)
            {
                double? tp = TorchPairing.Pair(r.Case, torch)?.Record.PeakMemMb;
                s.AppendLine(Inv($"| {r.Case} | {r.PeakMemMb:F1} | {(tp is null ? "-" : tp.Value.ToString("F1", CultureInfo.InvariantCulture))} | {(tp is > 0 ? (r.PeakMemMb!.Value / tp.Value).ToString("F2", CultureInfo.InvariantCulture) : "-")} |"));
            }
        }
        return s.ToString();
    }

    /// <summary>A result as one JSON line with torch_baseline.py's fields (case, device, median_ms, a rate).</summary>
    public static string JsonLine(BenchResult r)
    {
        var o = new JsonObject { ["case"] = r.Case, ["device"] = r.Device, ["impl"] = "nativecnn" };
        if (r.Error is not null) { o["error"] = r.Error; return o.ToJsonString(); }
        if (r.Batch > 0) o["batch"] = r.Batch;
        o["median_ms"] = Math.Round(r.MedianMs, 4);
        o[r.Rate switch { RateKind.Tflops => "tflops", RateKind.GbPerS => "gb_per_s", _ => "images_per_s" }] = Sig(r.RateValue);
        o["flops"] = r.Flops;
        o["bytes"] = r.Bytes;
        if (r.PeakMemMb is { } peak) o["peak_mem_mb"] = Math.Round(peak, 1);
        return o.ToJsonString();
    }

    private static string OurRate(BenchResult r) => r.Rate switch
    {
        RateKind.Tflops => Inv($"{r.RateValue * 1e3:G4} GFLOP/s"),
        RateKind.GbPerS => Inv($"{r.RateValue:G4} GB/s"),
        _ => Inv($"{r.RateValue:G4} img/s"),
    };

    private static string TorchRate(TorchRecord? t) =>
        t is null ? "" :
        t.Tflops is { } tf ? Inv($"{tf * 1e3:G4} GFLOP/s") :
        t.GbPerS is { } g ? Inv($"{g:G4} GB/s") :
        t.ImagesPerS is { } i ? Inv($"{i:G4} img/s") : "";

    private static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString("G3", CultureInfo.InvariantCulture);

    private static string Human(double v, string unit) =>
        v <= 0 ? "unknown" : v >= 1e12 ? Inv($"{v / 1e12:G4} T{unit}") : v >= 1e9 ? Inv($"{v / 1e9:G4} G{unit}") : Inv($"{v / 1e6:G4} M{unit}");

    private static double? Num(JsonObject r, string key) => r[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    /// <summary>Four significant digits (a simulator's 2e-5 TFLOP/s must not print as 0).</summary>
    public static double Sig(double v) =>
        v == 0 || !double.IsFinite(v) ? v : Math.Round(v, Math.Clamp(3 - (int)Math.Floor(Math.Log10(Math.Abs(v))), 0, 15));

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
