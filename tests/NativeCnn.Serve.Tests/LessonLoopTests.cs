// The lesson's loop end to end, on images small enough for seconds: `train --out RUN` a model that
// tells bright from dark images by their background; serve RUN; a new kind of image (a large square of
// the other brightness in the middle) fools it; corrections for those images go through the API into
// the corrections folder, with a few plain images the model got right confirmed by the user as well (the
// page sends whatever class is picked; trained on the fooling images alone, the model would learn
// "the opposite of the mean brightness" and forget the plain images, which the margin check catches); `finetune --model RUN --data CORRECTIONS --out RUN` writes a new bundle into
// the served folder; the watcher reloads it; the same images are now right, and the validation accuracy
// of the first training is kept within a stated margin.
using System.Text.Json;
using NativeCnn.Cli;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Serve.Tests;

public class LessonLoopTests(ITestOutputHelper output)
{
    /// <summary>How much validation accuracy fine-tuning on the corrections may cost.</summary>
    public const double AccuracyMargin = 0.10;

    private static readonly string[] Classes = { "bright", "dark" };

    private static byte[] Plain(string cls, int seed) => cls == "bright" ? Images.Square(200, 200, 0, noiseSeed: seed) : Images.Square(50, 50, 0, noiseSeed: seed);

    // A background of the class's brightness with a 12x12 square of the other: most pixels say the other class.
    private static byte[] Tricky(string cls, int seed) => cls == "bright" ? Images.Square(200, 30, 12, noiseSeed: seed) : Images.Square(50, 230, 12, noiseSeed: seed);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = NativeCnn.Cli.Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task TrainServeCorrectFinetuneReloadAndTheMistakesAreFixed()
    {
        using var dir = new TempDir();
        var data = dir.Sub("data");
        foreach (var (split, n, offset) in new[] { ("train", 24, 0), ("valid", 12, 1000) })
            foreach (var cls in Classes)
                for (int k = 0; k < n; k++) Images.Save(Path.Combine(data, split, cls, $"{cls}{k}.png"), Plain(cls, offset + k));
        var run = dir.Sub("run");
        var (code, json, err) = Cli("train", "--data", data, "--size", "16", "--epochs", "3", "--bs", "8", "--seed", "1", "--out", run, "--json", "--device", "cpu");
        Assert.True(code == 0, err);
        double trained = JsonDocument.Parse(json).RootElement.GetProperty("accuracy").GetDouble();
        output.WriteLine($"trained: valid accuracy {trained}");
        Assert.True(trained >= 0.9, $"the first model should tell plain bright from dark: {trained}");

        var corrections = dir.Sub("corrections");
        await using var server = await ModelServer.StartAsync(Api.Options(run, corrections) with { WatchInterval = TimeSpan.FromMilliseconds(100) });
        using var http = Api.Client(server);
        string first = server.Models.Current.Sha256;

        var tricky = Classes.SelectMany(cls => Enumerable.Range(0, 8).Select(k => (Class: cls, Bytes: Tricky(cls, 500 + k)))).ToArray();
        var wrong = new List<(string Class, byte[] Bytes)>();
        foreach (var t in tricky)
        {
            var (_, p) = await Api.Post(http, "api/predict", Api.Raw(t.Bytes));
            if (p.GetProperty("predictions")[0].GetProperty("class").GetString() != t.Class) wrong.Add(t);
        }
        output.WriteLine($"tricky images wrong before: {wrong.Count} of {tricky.Length}");
        Assert.True(wrong.Count >= 8 && wrong.Select(w => w.Class).Distinct().Count() == 2, $"the first model should be fooled by the tricky images of both classes: {wrong.Count} wrong");

        var confirmed = Classes.SelectMany(cls => Enumerable.Range(0, 4).Select(k => (Class: cls, Bytes: Plain(cls, 700 + k)))).ToArray();
        foreach (var w in wrong.Concat(confirmed))
        {
            var (status, c) = await Api.Post(http, "api/corrections", Api.Correction(w.Bytes, w.Class));
            Assert.True(status == 201, c.ToString());
        }
        var log = File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(wrong.Count + confirmed.Length, log.Length);
        Assert.Equal(wrong.Count, log.Count(l => l.GetProperty("predicted").GetString() != l.GetProperty("class").GetString()));

        (code, _, err) = Cli("finetune", "--model", run, "--data", corrections, "--out", run, "--epochs", "12", "--seed", "2", "--device", "cpu");
        Assert.True(code == 0, err);
        for (int i = 0; i < 600 && server.Models.Current.Sha256 == first; i++) await Task.Delay(50);
        var (_, m) = await Api.Get(http, "api/model");
        Assert.NotEqual(first, m.GetProperty("identity").GetProperty("sha256").GetString());
        Assert.Equal(Bundles.Sha256(run), m.GetProperty("identity").GetProperty("sha256").GetString());

        int fixedNow = 0;
        foreach (var w in wrong)
        {
            var (_, p) = await Api.Post(http, "api/predict", Api.Raw(w.Bytes));
            if (p.GetProperty("predictions")[0].GetProperty("class").GetString() == w.Class) fixedNow++;
        }
        double after = await Accuracy(http, Path.Combine(data, "valid"));
        output.WriteLine($"after finetune: {fixedNow} of {wrong.Count} corrected images right; valid accuracy {after} (was {trained})");
        Assert.Equal(wrong.Count, fixedNow);
        Assert.True(after >= trained - AccuracyMargin, $"validation accuracy fell from {trained} to {after}, more than {AccuracyMargin}");
    }

    private static async Task<double> Accuracy(HttpClient http, string valid)
    {
        int right = 0, total = 0;
        foreach (var cls in Classes)
        {
            var form = new MultipartFormDataContent();
            foreach (var f in Directory.GetFiles(Path.Combine(valid, cls))) form.Add(new ByteArrayContent(File.ReadAllBytes(f)), "files", Path.GetFileName(f));
            var (status, p) = await Api.Post(http, "api/predict", form);
            Assert.Equal(200, status);
            foreach (var e in p.GetProperty("predictions").EnumerateArray())
            {
                total++;
                if (e.GetProperty("class").GetString() == cls) right++;
            }
        }
        return right / (double)total;
    }
}
