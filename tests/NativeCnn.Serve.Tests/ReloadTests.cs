// Reload: POST /api/reload and the bundle watcher switch to a new bundle in the model folder, after which
// /api/model and every answer carry the new identity (the weights' SHA-256) and the new model's
// predictions; a bundle that fails to load leaves the old one serving and says why; and while clients
// keep predicting, bundles replaced under them fail no request, each answer coming from the model it
// names. Waits for the watcher are bounded polls, not timed assertions.
using System.Collections.Concurrent;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class ReloadTests
{
    private static async Task<string> Identity(HttpClient http) =>
        (await Api.Get(http, "api/model")).Json.GetProperty("identity").GetProperty("sha256").GetString()!;

    private static void Corrupt(string bundle)
    {
        // Replaced as a writer would (rename), but the bytes are no safetensors file.
        var tmp = Path.Combine(bundle, "broken.tmp");
        File.WriteAllBytes(tmp, "not a safetensors file at all"u8.ToArray());
        File.Move(tmp, Path.Combine(bundle, ExportBundle.WeightsFile), overwrite: true);
    }

    [Fact]
    public async Task ReloadSwitchesToTheNewBundleAndRefusesABrokenOne()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 1);
        string a = Bundles.Sha256(model);
        var image = Images.Save(dir.Sub("x.png"), Images.Png(4));
        await using var server = await ModelServer.StartAsync(Api.Options(model));
        using var http = Api.Client(server);

        Bundles.Write(model, seed: 2);
        string b = Bundles.Sha256(model);
        Assert.NotEqual(a, b);
        Assert.Equal(a, await Identity(http));   // no watcher here: nothing changes until asked
        var (status, r) = await Api.Post(http, "api/reload", null);
        Assert.Equal(200, status);
        Assert.Equal("reloaded", r.GetProperty("status").GetString());
        Assert.Equal(b, r.GetProperty("model").GetProperty("sha256").GetString());
        Assert.Equal(2, r.GetProperty("model").GetProperty("generation").GetInt64());
        Assert.Equal(b, await Identity(http));
        var expected = Predictor.Load(model).Predict(image);
        var (_, p) = await Api.Post(http, "api/predict", Api.Raw(File.ReadAllBytes(image)));
        Assert.Equal(b, p.GetProperty("model").GetProperty("sha256").GetString());
        Assert.Equal(expected.Probability, p.GetProperty("predictions")[0].GetProperty("probability").GetDouble(), tolerance: 2e-6);
        (status, r) = await Api.Post(http, "api/reload", null);
        Assert.Equal(200, status);
        Assert.Equal("unchanged", r.GetProperty("status").GetString());

        Corrupt(model);
        (status, r) = await Api.Post(http, "api/reload", null);
        Assert.Equal(422, status);
        Assert.Equal("failed", r.GetProperty("status").GetString());
        Assert.Contains(ExportBundle.WeightsFile, r.GetProperty("error").GetString());
        Assert.Equal(b, r.GetProperty("model").GetProperty("sha256").GetString());
        var (_, m) = await Api.Get(http, "api/model");
        Assert.Equal(b, m.GetProperty("identity").GetProperty("sha256").GetString());
        Assert.Contains(ExportBundle.WeightsFile, m.GetProperty("last_reload_error").GetString());
        (status, p) = await Api.Post(http, "api/predict", Api.Raw(File.ReadAllBytes(image)));
        Assert.Equal(200, status);
        Assert.Equal(expected.Probability, p.GetProperty("predictions")[0].GetProperty("probability").GetDouble(), tolerance: 2e-6);
        var (_, metrics) = await Api.Get(http, "metrics");
        Assert.Equal(1, metrics.GetProperty("reloads").GetProperty("ok").GetInt32());
        Assert.Equal(1, metrics.GetProperty("reloads").GetProperty("failed").GetInt32());
    }

    [Fact]
    public async Task TheWatcherLoadsANewBundleAndKeepsTheOldOneWhenTheNewFails()
    {
        using var dir = new TempDir();
        var run = dir.Sub("run");
        var bundle = Path.Combine(run, "model");   // finetune --out run writes run/model
        Bundles.Write(bundle, seed: 1);
        await using var server = await ModelServer.StartAsync(Api.Options(run) with { WatchInterval = TimeSpan.FromMilliseconds(50) });
        using var http = Api.Client(server);

        Corrupt(bundle);
        string? error = null;
        for (int i = 0; i < 600 && error is null; i++)
        {
            await Task.Delay(50);
            var (_, m) = await Api.Get(http, "api/model");
            error = m.GetProperty("last_reload_error").GetString();
        }
        Assert.NotNull(error);
        Assert.Contains(ExportBundle.WeightsFile, error);
        Assert.Equal(1, server.Models.Current.Generation);
        var (status, _) = await Api.Post(http, "api/predict", Api.Raw(Images.Png(1)));
        Assert.Equal(200, status);

        Bundles.Write(bundle, seed: 2);
        string b = Bundles.Sha256(bundle);
        for (int i = 0; i < 600 && await Identity(http) != b; i++) await Task.Delay(50);
        Assert.Equal(b, await Identity(http));
        var (_, model) = await Api.Get(http, "api/model");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, model.GetProperty("last_reload_error").ValueKind);
        Assert.Equal(2, model.GetProperty("identity").GetProperty("generation").GetInt64());
    }

    [Fact]
    public async Task NoRequestFailsWhileBundlesAreReplacedUnderLoad()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        // The three bundles, written aside first so each answer can be checked against its own model.
        var expected = new Dictionary<string, float[]>();
        var images = Enumerable.Range(0, 4).Select(i => Images.Png(20 + i)).ToArray();
        for (int seed = 1; seed <= 3; seed++)
        {
            var aside = dir.Sub($"bundle{seed}");
            Bundles.Write(aside, seed);
            var predictor = Predictor.Load(aside);
            for (int i = 0; i < images.Length; i++)
                expected[$"{Bundles.Sha256(aside)}/{i}"] = predictor.PredictPrepared(new[] { predictor.Prepare(images[i], "x") }, new[] { "x" })[0].Probabilities;
        }
        Bundles.Write(model, seed: 1);
        await using var server = await ModelServer.StartAsync(Api.Options(model) with { WatchInterval = TimeSpan.FromMilliseconds(20), MaxWait = TimeSpan.FromMilliseconds(5) });
        using var http = Api.Client(server);

        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentBag<string>();
        var seen = new ConcurrentDictionary<string, int>();
        int answered = 0;
        var clients = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
        {
            // Bounded: at most 300 requests per client, and stopped once both replacements are seen.
            for (int k = 0; k < 300 && !stop.IsCancellationRequested; k++)
            {
                int i = (c + k) % images.Length;
                var (status, json) = await Api.Post(http, "api/predict", Api.Raw(images[i]));
                Interlocked.Increment(ref answered);
                if (status != 200) { failures.Add($"HTTP {status}: {json}"); continue; }
                string sha = json.GetProperty("model").GetProperty("sha256").GetString()!;
                seen.AddOrUpdate(sha, 1, (_, n) => n + 1);
                var probs = json.GetProperty("predictions")[0].GetProperty("top").EnumerateArray()
                    .ToDictionary(t => t.GetProperty("class").GetString()!, t => t.GetProperty("probability").GetDouble());
                if (!expected.TryGetValue($"{sha}/{i}", out var want)) { failures.Add($"unknown model {sha}"); continue; }
                for (int j = 0; j < 3; j++)
                    if (Math.Abs(probs[Bundles.Classes[j]] - want[j]) > 1e-5) failures.Add($"image {i} on {sha[..8]}: {Bundles.Classes[j]} {probs[Bundles.Classes[j]]} != {want[j]}");
            }
        })).ToArray();

        for (int seed = 2; seed <= 3; seed++)
        {
            string target = Bundles.Sha256(dir.Sub($"bundle{seed}"));
            for (int i = 0; i < 600 && !seen.ContainsKey(Bundles.Sha256(dir.Sub($"bundle{seed - 1}"))); i++) await Task.Delay(20);
            await Task.Delay(100);
            Bundles.Write(model, seed);   // as finetune --out does: the weights file renamed into place
            for (int i = 0; i < 600 && !seen.ContainsKey(target); i++) await Task.Delay(20);
        }
        await Task.Delay(100);
        stop.Cancel();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.True(answered >= 12, $"only {answered} requests");
        for (int seed = 1; seed <= 3; seed++) Assert.True(seen.ContainsKey(Bundles.Sha256(dir.Sub($"bundle{seed}"))), $"bundle {seed} never answered: {string.Join(", ", seen)}");
        Assert.Equal(3, server.Models.Current.Generation);
    }
}
