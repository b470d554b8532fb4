// Bounded load on 127.0.0.1: N clients send a fixed number of predict requests each (a deadline stops
// the run whatever happens); every request must be answered 200 with the model's own answer, batched
// (max batch 32) and one at a time (max batch 1). The throughput and client-side p50/p99 latency are
// printed, not asserted; ServeBench (run by hand with NATIVECNN_SERVE_BENCH=FILE) writes them with the
// CPU's name to benchmarks/results/serve.md. A correction storm (the same and different images from many
// clients at once) leaves each image stored once per class and exactly one log line per request.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NativeCnn.Training;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Serve.Tests;

/// <summary>One measured run: requests, errors, wall time, throughput, client-side latency percentiles.</summary>
public sealed record LoadResult(int Requests, int Errors, double Seconds, double PerSecond, double P50Ms, double P99Ms, double MeanBatch, long Passes)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Requests} requests, {Errors} errors, {Seconds:F2} s, {PerSecond:F1} req/s, p50 {P50Ms:F1} ms, p99 {P99Ms:F1} ms, {Passes} forward passes (mean {MeanBatch:F2} images)");
}

public static class LoadRun
{
    /// <summary>Starts a server on <paramref name="model"/> with <paramref name="maxBatch"/>, runs
    /// <paramref name="clients"/> x <paramref name="perClient"/> predict requests (each checked against
    /// <paramref name="expected"/>), and stops at the end or at <paramref name="deadline"/>.</summary>
    public static async Task<(LoadResult Result, List<string> Failures)> Run(string model, byte[][] images, string[] expected, int maxBatch, int clients, int perClient, TimeSpan deadline)
    {
        await using var server = await ModelServer.StartAsync(Api.Options(model) with { MaxBatch = maxBatch, MaxWait = TimeSpan.FromMilliseconds(2) });
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = deadline };
        using var stop = new CancellationTokenSource(deadline);
        // Warm-up outside the measurement (JIT, first passes): two rounds of one request per client.
        for (int round = 0; round < 2; round++)
            await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Api.Post(http, "api/predict", Api.Raw(images[c % images.Length]))));
        long Passes() => JsonSerializer.SerializeToElement(server.Metrics.Snapshot(server.Models)).GetProperty("batches").GetProperty("count").GetInt64();
        long warmPasses = Passes();
        var failures = new ConcurrentBag<string>();
        var latencies = new ConcurrentBag<double>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (int k = 0; k < perClient && !stop.IsCancellationRequested; k++)
            {
                int i = (c * perClient + k) % images.Length;
                var t = Stopwatch.StartNew();
                try
                {
                    using var response = await http.PostAsync("api/predict", Api.Raw(images[i]), stop.Token);
                    string text = await response.Content.ReadAsStringAsync(stop.Token);
                    latencies.Add(t.Elapsed.TotalMilliseconds);
                    if (!response.IsSuccessStatusCode) { failures.Add($"HTTP {(int)response.StatusCode}: {text}"); continue; }
                    string cls = JsonDocument.Parse(text).RootElement.GetProperty("predictions")[0].GetProperty("class").GetString()!;
                    if (cls != expected[i]) failures.Add($"image {i}: {cls}, expected {expected[i]}");
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException) { failures.Add($"{e.GetType().Name}: {e.Message}"); }
            }
        })));
        double seconds = clock.Elapsed.TotalSeconds;
        var sorted = latencies.Order().ToArray();
        double Pct(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        long passes = Passes() - warmPasses;
        return (new LoadResult(sorted.Length, failures.Count, seconds, sorted.Length / seconds, Pct(50), Pct(99),
                               passes == 0 ? 0 : sorted.Length / (double)passes, passes), failures.ToList());
    }

    /// <summary>The MNIST-shaped bundle (mnist_cnn, 28x28 grey, 10 classes) and images with the Predictor's answers.</summary>
    public static (byte[][] Images, string[] Expected) Prepare(string model, int count)
    {
        var classes = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var info = Bundles.Write(model, seed: 7, classes: classes, size: 28);
        var images = Enumerable.Range(0, count).Select(i => Images.Png(i, 28, 28)).ToArray();
        var p = Predictor.Load(model);
        var expected = images.Select(b => p.PredictPrepared(new[] { p.Prepare(b, "x") }, new[] { "x" })[0].Class).ToArray();
        Assert.Equal(10, info.Classes.Count);
        return (images, expected);
    }
}

public class LoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryRequestOfConcurrentClientsIsAnsweredBatchedAndOneAtATime()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        var (images, expected) = LoadRun.Prepare(model, 16);
        foreach (int maxBatch in new[] { 32, 1 })
        {
            var (result, failures) = await LoadRun.Run(model, images, expected, maxBatch, clients: 8, perClient: 25, deadline: TimeSpan.FromMinutes(3));
            output.WriteLine($"max batch {maxBatch}: {result}");
            Assert.Empty(failures);
            Assert.Equal(200, result.Requests);
            if (maxBatch == 1) Assert.Equal(200, result.Passes);   // one pass per request
            else Assert.InRange(result.Passes, 1, 200);
        }
    }

    [Fact]
    public async Task ACorrectionStormStoresEachImageOnceAndLogsEveryRequest()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 8);
        var corrections = dir.Sub("corrections");
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections));
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        const int clients = 12;
        var shared = Enumerable.Range(0, 4).Select(i => Images.Png(100 + i)).ToArray();   // every client sends these
        var statuses = new ConcurrentBag<int>();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = Images.Png(200 + c);   // and one image of its own
            foreach (var (bytes, cls) in shared.Select((b, i) => (b, Bundles.Classes[i % 3])).Append((mine, "dog")))
            {
                using var response = await http.PostAsync("api/corrections", Api.Correction(bytes, cls));
                statuses.Add((int)response.StatusCode);
            }
        })));

        int requests = clients * (shared.Length + 1);
        Assert.Equal(requests, statuses.Count);
        Assert.All(statuses, s => Assert.True(s is 200 or 201, $"HTTP {s}"));
        int distinct = shared.Length + clients;
        Assert.Equal(distinct, statuses.Count(s => s == 201));
        var stored = Api.Files(corrections).Where(f => f != CorrectionStore.LogName).ToArray();
        Assert.Equal(distinct, stored.Length);
        Assert.All(stored, f => Assert.EndsWith(".png", f));
        var lines = File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(requests, lines.Length);
        foreach (var group in lines.GroupBy(l => l.GetProperty("file").GetString()))
        {
            Assert.Contains(group.Key, stored);
            Assert.Equal(1, group.Count(l => l.GetProperty("new").GetBoolean()));
        }
        Assert.Equal(distinct, lines.Select(l => l.GetProperty("file").GetString()).Distinct().Count());
    }

    /// <summary>The measurement for benchmarks/results/serve.md: run by hand,
    /// NATIVECNN_SERVE_BENCH=benchmarks/results/serve.md dotnet test tests/NativeCnn.Serve.Tests --filter ServeBench.</summary>
    [BenchFact]
    public async Task ServeBench()
    {
        string file = Environment.GetEnvironmentVariable(BenchFactAttribute.Variable)!;
        using var dir = new TempDir();
        var model = dir.Sub("model");
        var (images, expected) = LoadRun.Prepare(model, 64);
        var rows = new List<string>();
        string loadBefore = Load();
        foreach (int clients in new[] { 1, 8, 32 })
        {
            // Batched and one at a time alternate, three sittings each, so a change in the machine's other
            // work falls on both alike; each figure is the median of its three sittings.
            var runs = new Dictionary<int, List<LoadResult>> { [1] = new(), [32] = new() };
            for (int sitting = 0; sitting < Sittings; sitting++)
                foreach (int maxBatch in new[] { 1, 32 })
                {
                    var (r, failures) = await LoadRun.Run(model, images, expected, maxBatch, clients, perClient: 800 / clients, deadline: TimeSpan.FromMinutes(5));
                    Assert.Empty(failures);
                    output.WriteLine($"clients {clients}, max batch {maxBatch}: {r}");
                    runs[maxBatch].Add(r);
                }
            foreach (var (maxBatch, rs) in runs)
            {
                double Median(Func<LoadResult, double> f) => rs.Select(f).Order().ElementAt(rs.Count / 2);
                rows.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {clients} | {maxBatch} | {rs[0].Requests} x {rs.Count} | {Median(r => r.PerSecond):F0} ({string.Join(", ", rs.Select(r => r.PerSecond.ToString("F0", CultureInfo.InvariantCulture)))}) | {Median(r => r.P50Ms):F1} | {Median(r => r.P99Ms):F1} | {Median(r => r.MeanBatch):F2} |"));
            }
        }
        File.WriteAllText(file, Report(rows, loadBefore));
    }

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private const int Sittings = 3;

    private static string Report(List<string> rows, string loadBefore)
    {
        var cpu = File.Exists("/proc/cpuinfo") ? File.ReadAllLines("/proc/cpuinfo") : Array.Empty<string>();
        string Field(string name) => cpu.FirstOrDefault(l => l.StartsWith(name + "\t", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return string.Join('\n', new[]
        {
            "# nativecnn serve: dynamic batching under load",
            "",
            $"Machine: {Field("model name")} (family {Field("cpu family")}, model {Field("model")}), {Environment.ProcessorCount} cores visible; " +
            $"load average {loadBefore} before and {Load()} after (1, 5, 15 min; other work shared the machine); measured {DateTime.UtcNow:yyyy-MM-dd} with LoadTests.ServeBench (`NATIVECNN_SERVE_BENCH=benchmarks/results/serve.md dotnet test tests/NativeCnn.Serve.Tests -c Release --filter ServeBench`).",
            "",
            "The server (CPU backend, max wait 2 ms) and the clients share the machine, on 127.0.0.1. Model: mnist_cnn,",
            "28x28 grey PNG uploads, 10 classes, one image per request. Each sitting: 800 requests (fewer where",
            "800 does not divide by the clients), after two warm-up rounds of one request per client, on a fresh server;",
            "three sittings per row, batched and one at a time alternating; the figures are medians (req/s: each",
            "sitting in brackets). Latency is measured by the client, request to parsed answer; \"mean batch\" is",
            "images per forward pass; max batch 1 is one request at a time.",
            "",
            "| clients | max batch | requests | req/s | p50 ms | p99 ms | mean batch |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        }.Concat(rows)) + "\n";
    }
}

/// <summary>A measurement run by hand: skipped unless NATIVECNN_SERVE_BENCH names the file to write.</summary>
public sealed class BenchFactAttribute : FactAttribute
{
    public const string Variable = "NATIVECNN_SERVE_BENCH";

    public BenchFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
            Skip = $"a measurement, run by hand: {Variable}=benchmarks/results/serve.md dotnet test tests/NativeCnn.Serve.Tests -c Release --filter ServeBench";
    }
}
