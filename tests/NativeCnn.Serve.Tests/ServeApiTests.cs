// The JSON API on a tiny bundle: predictions equal the library Predictor's on the same files (raw body
// and multipart, one and many), /api/model describes the bundle with its weights' SHA-256, /healthz and
// /metrics count what happened, the page and its script come from the server itself, and corrections
// land in finetune's layout once per image and class with one log line per request.
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class ServeApiTests
{
    [Fact]
    public async Task PredictionsEqualThePredictorsOnTheSameFiles()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 1);
        var files = Enumerable.Range(0, 3).Select(i => Images.Save(dir.Sub("img", $"i{i}.png"), Images.Png(i))).ToArray();
        var expected = Predictor.Load(model).Predict(files);
        Assert.True(expected.Select(p => p.Class).Distinct().Count() >= 1);

        await using var server = await ModelServer.StartAsync(Api.Options(model));
        Assert.Equal("127.0.0.1", server.Address.Host);
        Assert.NotEqual(0, server.Address.Port);
        using var http = Api.Client(server);

        var (status, json) = await Api.Post(http, "api/predict", Api.Raw(File.ReadAllBytes(files[0]), "first.png"));
        Assert.Equal(200, status);
        var p = json.GetProperty("predictions").EnumerateArray().Single();
        Assert.Equal("first.png", p.GetProperty("name").GetString());
        Assert.Equal(expected[0].Class, p.GetProperty("class").GetString());
        Assert.Equal(Math.Round(expected[0].Probability, 6), p.GetProperty("probability").GetDouble(), 6);
        var top = p.GetProperty("top").EnumerateArray().ToArray();
        Assert.Equal(3, top.Length);
        Assert.Equal(expected[0].Class, top[0].GetProperty("class").GetString());
        Assert.Equal(1.0, top.Sum(t => t.GetProperty("probability").GetDouble()), 4);
        for (int i = 0; i < 3; i++)
            Assert.Equal(Math.Round(expected[0].Probabilities[Array.IndexOf(Bundles.Classes, top[i].GetProperty("class").GetString())], 6),
                         top[i].GetProperty("probability").GetDouble(), 6);
        Assert.Equal(Bundles.Sha256(model), json.GetProperty("model").GetProperty("sha256").GetString());

        var form = new MultipartFormDataContent();
        for (int i = 0; i < 3; i++) form.Add(new ByteArrayContent(File.ReadAllBytes(files[i])), "files", $"f{i}.png");
        (status, json) = await Api.Post(http, "api/predict", form);
        Assert.Equal(200, status);
        var many = json.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(new[] { "f0.png", "f1.png", "f2.png" }, many.Select(e => e.GetProperty("name").GetString()));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(expected[i].Class, many[i].GetProperty("class").GetString());
            Assert.Equal(Math.Round(expected[i].Probability, 6), many[i].GetProperty("probability").GetDouble(), 6);
        }

        var (_, metrics) = await Api.Get(http, "metrics");
        Assert.Equal(4, metrics.GetProperty("images_predicted").GetInt64());
        Assert.Equal(4, metrics.GetProperty("batches").GetProperty("images").GetInt64());
        Assert.Equal(2, metrics.GetProperty("requests").GetProperty("total").GetInt64());   // the two predicts; this one is counted after it answers
        var latency = metrics.GetProperty("latency_ms");
        Assert.Equal(2, latency.GetProperty("window").GetInt32());
        Assert.InRange(latency.GetProperty("p50").GetDouble(), 0.0, latency.GetProperty("p99").GetDouble());
    }

    [Fact]
    public async Task ModelHealthAndPageDescribeTheServedBundle()
    {
        using var dir = new TempDir();
        var model = dir.Sub("run");
        Bundles.Write(Path.Combine(model, "model"), seed: 2, multiLabel: true);   // a train --out folder
        await using var server = await ModelServer.StartAsync(Api.Options(model, dir.Sub("corrections")) with { MaxBatch = 7 });
        using var http = Api.Client(server);

        var (status, m) = await Api.Get(http, "api/model");
        Assert.Equal(200, status);
        Assert.Equal("mnist_cnn", m.GetProperty("arch").GetString());
        Assert.Equal(Bundles.Classes, m.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(new[] { 16, 16 }, m.GetProperty("input_size").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(1, m.GetProperty("channels").GetInt32());
        Assert.Equal(0.5, m.GetProperty("stats").GetProperty("mean")[0].GetDouble(), 6);
        Assert.Equal(0.25, m.GetProperty("stats").GetProperty("std")[0].GetDouble(), 6);
        Assert.True(m.GetProperty("multi_label").GetBoolean());
        Assert.Equal(0.5, m.GetProperty("threshold").GetDouble(), 6);
        Assert.Equal(Bundles.Sha256(model), m.GetProperty("identity").GetProperty("sha256").GetString());
        Assert.Equal(1, m.GetProperty("identity").GetProperty("generation").GetInt64());
        Assert.Equal(7, m.GetProperty("batching").GetProperty("max_batch").GetInt32());
        Assert.True(m.GetProperty("corrections").GetBoolean());

        var (hs, health) = await Api.Get(http, "healthz");
        Assert.Equal(200, hs);
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(Bundles.Sha256(model), health.GetProperty("model").GetString());

        // Multi-label: the labels are exactly the classes at or above the threshold.
        var (_, pj) = await Api.Post(http, "api/predict", Api.Raw(Images.Png(5)));
        var p = pj.GetProperty("predictions")[0];
        var above = p.GetProperty("top").EnumerateArray().Where(t => t.GetProperty("probability").GetDouble() >= 0.5).Select(t => t.GetProperty("class").GetString()).Order();
        Assert.Equal(above, p.GetProperty("labels").EnumerateArray().Select(e => e.GetString()).Order());

        // The page and its assets come from the server; nothing points elsewhere.
        foreach (var (path, marker) in new[] { ("", "result-template"), ("app.js", "api/corrections"), ("style.css", ".result") })
        {
            using var r = await http.GetAsync(path);
            Assert.Equal(200, (int)r.StatusCode);
            string text = await r.Content.ReadAsStringAsync();
            Assert.Contains(marker, text);
            Assert.DoesNotContain("http://", text);
            Assert.DoesNotContain("https://", text);
        }
    }

    [Fact]
    public async Task CorrectionsAreStoredOnceInFinetunesLayoutWithALogLinePerRequest()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 3);
        var corrections = dir.Sub("corrections");
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections));
        using var http = Api.Client(server);
        var image = Images.Png(7);
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(image));
        var (_, pj) = await Api.Post(http, "api/predict", Api.Raw(image));
        string predicted = pj.GetProperty("predictions")[0].GetProperty("class").GetString()!;
        double probability = pj.GetProperty("predictions")[0].GetProperty("probability").GetDouble();

        var (status, c) = await Api.Post(http, "api/corrections", Api.Correction(image, "dog"));
        Assert.Equal(201, status);
        Assert.True(c.GetProperty("stored").GetBoolean());
        Assert.Equal($"dog/{sha}.png", c.GetProperty("file").GetString());
        Assert.Equal(image, File.ReadAllBytes(Path.Combine(corrections, "dog", sha + ".png")));

        (status, c) = await Api.Post(http, "api/corrections", Api.Correction(image, "dog"));
        Assert.Equal(200, status);
        Assert.False(c.GetProperty("stored").GetBoolean());
        (status, _) = await Api.Post(http, "api/corrections", Api.Correction(image, "fish"));
        Assert.Equal(201, status);

        Assert.Equal(new[] { CorrectionStore.LogName, $"dog/{sha}.png", $"fish/{sha}.png" }, Api.Files(corrections));
        var lines = File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(3, lines.Length);
        Assert.Equal(new[] { "dog", "dog", "fish" }, lines.Select(l => l.GetProperty("class").GetString()));
        Assert.Equal(new[] { true, false, true }, lines.Select(l => l.GetProperty("new").GetBoolean()));
        foreach (var l in lines)
        {
            Assert.Equal(sha, l.GetProperty("sha256").GetString());
            Assert.Equal(predicted, l.GetProperty("predicted").GetString());
            Assert.Equal(probability, l.GetProperty("probability").GetDouble(), 6);
            Assert.Equal(Bundles.Sha256(model), l.GetProperty("model").GetString());
            Assert.Equal("upload.png", l.GetProperty("upload_name").GetString());
            Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse(l.GetProperty("time").GetString()!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromHours(1));
        }
        Assert.Equal("fish/" + sha + ".png", lines[2].GetProperty("file").GetString());

        // finetune's reader sees the two stored images with their classes.
        var set = FolderDataset.FromClassFolders(corrections, classes: Bundles.Classes);
        Assert.Equal(2, set.Count);
        var (_, metrics) = await Api.Get(http, "metrics");
        Assert.Equal(2, metrics.GetProperty("corrections").GetProperty("stored").GetInt64());
        Assert.Equal(1, metrics.GetProperty("corrections").GetProperty("already_stored").GetInt64());
    }

    [Fact]
    public async Task ARawBodyCorrectionTakesItsClassFromTheQuery()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 3);
        var corrections = dir.Sub("corrections");
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections));
        using var http = Api.Client(server);
        var image = Images.Png(12);
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(image));
        // As curl --data-binary sends it: declared as a url-encoded form, the body is the image.
        var body = new ByteArrayContent(image);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-www-form-urlencoded");
        var (status, c) = await Api.Post(http, "api/corrections?class=fish", body);
        Assert.Equal(201, status);
        Assert.Equal($"fish/{sha}.png", c.GetProperty("file").GetString());
        Assert.Equal(image, File.ReadAllBytes(Path.Combine(corrections, "fish", sha + ".png")));
        var line = JsonDocument.Parse(File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Single()).RootElement;
        Assert.Equal("upload", line.GetProperty("upload_name").GetString());
        Assert.EndsWith("Z", line.GetProperty("time").GetString());
    }

    [Fact]
    public async Task AMultiLabelCorrectionIsStoredUnderEachGivenLabel()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 4, multiLabel: true);
        var corrections = dir.Sub("corrections");
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections));
        using var http = Api.Client(server);
        var image = Images.Png(9);
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(image));
        var (status, c) = await Api.Post(http, "api/corrections", Api.Correction(image, "fish", "cat"));
        Assert.Equal(201, status);
        Assert.Equal(new[] { $"fish/{sha}.png", $"cat/{sha}.png" }, c.GetProperty("files").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(new[] { $"cat/{sha}.png", CorrectionStore.LogName, $"fish/{sha}.png" }, Api.Files(corrections));
        var line = JsonDocument.Parse(File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Single()).RootElement;
        Assert.Equal(new[] { "fish", "cat" }, line.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));

        // One field may list the set, comma-separated.
        var second = Images.Png(10);
        (status, c) = await Api.Post(http, "api/corrections", Api.Correction(second, "dog, cat"));
        Assert.Equal(201, status);
        Assert.Equal(new[] { "dog", "cat" }, c.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(5, Api.Files(corrections).Length);
    }
}
