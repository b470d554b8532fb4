// OUTDIR/summary.md: the run at a glance (device, cases passed and failed, timings side by side with
// torch_baseline.py's numbers from the same run when given, the training table). Built only from the
// recorded results, so it says nothing that results.jsonl does not hold.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeCnn.GpuLab;

internal static class LabSummary
{
    public static string Write(LabOptions o, LabResults results, TimeSpan took, int exit)
    {
        var s = new StringBuilder();
        s.AppendLine("# NativeCnn GPU lab");
        s.AppendLine();
        s.AppendLine(Inv($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {took.TotalSeconds:F0} s, exit code {exit}{(o.Quick ? ", quick sizes" : "")}"));
        s.AppendLine();

        s.AppendLine("## Device");
        var open = results.Of("device").FirstOrDefault(r => (string?)r["kind"] == "open");
        if (open is null) s.AppendLine("not opened");
        else if (open["ok"]?.GetValue<bool>() != true) s.AppendLine($"could not open {open["wanted"]}: {open["type"]}: {open["message"]}");
        else
        {
            long bytes = open["memory_bytes"]?.GetValue<long>() ?? 0;
            // the simulator reports long.MaxValue bytes: no memory worth a number
            string gib = bytes < 1L << 50 ? Inv($"{bytes / (double)(1L << 30):F1} GiB") : "host memory";
            s.AppendLine($"{open["device"]}: {open["name"]}, {gib}, warp {open["warp"]}, {open["multiprocessors"]} multiprocessors" +
                         $"{Opt(open, "architecture", ", ")}{Opt(open, "instruction_set", ", PTX ")}{Opt(open, "driver_version", ", driver ")}, ILGPU {open["ilgpu"]}");
        }
        foreach (var d in results.Of("device").Where(r => (string?)r["kind"] == "listed" && r["usable"]?.GetValue<bool>() == false))
            s.AppendLine($"- {d["device"]} not usable: {d["reason"]}");
        s.AppendLine();

        var cases = results.Of("case").ToList();
        if (cases.Count > 0)
        {
            var failed = cases.Where(c => c["passed"]?.GetValue<bool>() != true).ToList();
            s.AppendLine($"## Cases: {cases.Count - failed.Count} passed, {failed.Count} failed");
            foreach (var f in failed) s.AppendLine($"- FAIL {f["case"]}: {First(f["error"]?.GetValue<string>())}");
            s.AppendLine();
        }

        var kernels = results.Of("kernel").ToList();
        if (kernels.Count > 0)
        {
            s.AppendLine("## Kernel lab (device events, median)");
            s.AppendLine("| family | variant | case | ms | rate | of ceiling | max rel. error |");
            s.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: |");
            foreach (var k in kernels)
            {
                string rate = k["tflops"] is { } t ? Inv($"{t.GetValue<double>() * 1e3:G4} GFLOP/s") : k["gb_per_s"] is { } g ? $"{g} GB/s" : "";
                string pct = k["pct_of_cublas"] is { } pc ? $"{pc}% of cuBLAS {k["cublas_case"]}" : k["pct_of_bandwidth"] is { } pb ? $"{pb}% of {k["bandwidth_source"]}" : "";
                string status = k["error"] is { } e ? $"failed: {First(e.GetValue<string>())}" : k["passed"]?.GetValue<bool>() == true ? Inv($"{k["max_rel_error"]!.GetValue<double>():G3}") : Inv($"FAIL {k["max_rel_error"]!.GetValue<double>():G3} > {k["tolerance"]!.GetValue<double>():G3}");
                s.AppendLine($"| {k["family"]} | {k["variant"]} | {k["case"]} | {k["median_ms"]} | {rate} | {pct} | {status} |");
            }
            s.AppendLine();
        }

        var bench = results.Of("bench").ToList();
        if (bench.Count > 0)
        {
            var torch = TorchBaseline(o.TorchBaseline);
            s.AppendLine("## Timings (median ms)");
            s.AppendLine("PyTorch: its default (cuDNN's convolutions in TF32), the pairing for our `_tf32` rows; strict: its `_notf32` record (TF32 off), the pairing for our strict float32; " +
                         "(amp) rows: ours in float16 against PyTorch AMP. " +
                         "Peak: device memory high-water mark of the case (ours: the backend's bytes in use; PyTorch: max_memory_allocated), MiB.");
            s.AppendLine();
            s.AppendLine(torch.Count > 0 ? "| case | NativeCnn | rate | PyTorch | rate | time ratio (ours / torch) | PyTorch strict | ratio | peak | PyTorch peak |" : "| case | NativeCnn | rate | peak |");
            s.AppendLine(torch.Count > 0 ? "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" : "| --- | ---: | ---: | ---: |");
            foreach (var b in bench)
            {
                // a variant row (another kernel for the same case) pairs with the same PyTorch record
                string name = Key(b), shown = name + (b["variant"] is { } v ? $" [{v}]" : "");
                if (b["error"] is { } err) { s.AppendLine($"| {shown} | failed: {First(err.GetValue<string>())} | |"); continue; }
                double ms = b["median_ms"]!.GetValue<double>();
                string row = Inv($"| {shown} | {ms:F3} | {Rate(b)} |");
                string peak = b["peak_mem_mb"] is { } pm ? $" {pm} |" : " |";
                if (torch.Count > 0)
                {
                    // a TF32 row pairs with PyTorch's default record (TF32) and has no strict pairing
                    bool tf32 = name.EndsWith("_tf32", StringComparison.Ordinal);
                    torch.TryGetValue(tf32 ? name[..^5] : name, out var t);
                    row += t is not null
                        ? Inv($" {t["median_ms"]!.GetValue<double>():F3} | {Rate(t)} | {ms / t["median_ms"]!.GetValue<double>():F2} |")
                        : " | | |";
                    // strict float32 pairs with PyTorch's TF32-off record of the same case
                    row += !tf32 && torch.TryGetValue(name + "_notf32", out var strict)
                        ? Inv($" {strict["median_ms"]!.GetValue<double>():F3} | {ms / strict["median_ms"]!.GetValue<double>():F2} |")
                        : " | |";
                    row += peak + (t?["peak_mem_mb"] is { } tp ? $" {tp} |" : " |");
                }
                else row += peak;
                s.AppendLine(row);
            }
            if (o.TorchBaseline is not null && torch.Count == 0) s.AppendLine($"\n(no PyTorch numbers: '{o.TorchBaseline}' is missing or has none)");
            s.AppendLine();
        }

        var train = results.Of("train").ToList();
        if (train.Count > 0)
        {
            s.AppendLine("## Training (mnist_cnn, nativecnn train)");
            s.AppendLine("| device | precision | epoch | train_loss | valid_loss | accuracy | seconds |");
            s.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var t in train)
                s.AppendLine($"| {t["device"]} | {t["precision"]} | {t["epoch"]} | {t["train_loss"]} | {t["valid_loss"]} | {t["accuracy"]} | {t["seconds"]} |");
            s.AppendLine();
        }

        foreach (var e in results.Of("error")) s.AppendLine($"ERROR in {e["in"]}: {e["type"]}: {First(e["message"]?.GetValue<string>())}");
        var text = s.ToString();
        File.WriteAllText(Path.Combine(results.OutDir, "summary.md"), text);
        return text;
    }

    /// <summary>A record's row name: the case, plus the dtype when it is not float32 and "amp" for AMP
    /// runs, so torch_baseline.py's float16 matmul pairs with our float16 GEMM, never with float32.
    /// Our AMP cases say so in their name ("..._amp"), torch_baseline.py's in an "amp" field.</summary>
    private static string Key(JsonObject r)
    {
        string name = (string)r["case"]!;
        bool amp = r["amp"] is { } a && a.GetValue<bool>();
        if (name.EndsWith("_amp", StringComparison.Ordinal)) { name = name[..^4]; amp = true; }
        return name + ((string?)r["dtype"] is { } dt && dt != "float32" ? $" ({dt})" : "") + (amp ? " (amp)" : "");
    }

    /// <summary>torch_baseline.py's records by row name (see Key).</summary>
    private static Dictionary<string, JsonObject> TorchBaseline(string? path)
    {
        var byCase = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        if (path is null || !File.Exists(path)) return byCase;
        foreach (var line in File.ReadLines(path))
        {
            if (!line.TrimStart().StartsWith('{')) continue;
            JsonObject? r;
            try { r = JsonNode.Parse(line) as JsonObject; }
            catch (JsonException) { continue; }
            if (r?["case"] is null || r["median_ms"] is null) continue;
            byCase[Key(r)] = r;
        }
        return byCase;
    }

    private static string Rate(JsonObject r) =>
        r["tflops"] is { } t ? $"{t} TFLOP/s" : r["gb_per_s"] is { } g ? $"{g} GB/s" : r["images_per_s"] is { } i ? $"{i} img/s" : "";

    private static string Opt(JsonObject r, string key, string prefix) => r[key] is { } v ? prefix + v : "";

    private static string First(string? text) => (text ?? "").Split('\n')[0];

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
