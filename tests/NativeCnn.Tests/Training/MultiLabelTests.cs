// The issue's multi-label check: 16x16 grey images the test draws itself, each holding one to four
// shapes (hollow square, plus, horizontal bar, filled block) in distinct quadrants, listed in a CSV
// with space-separated labels; loaded through CsvDataset and the DataLoader, trained with
// BCE-with-logits, the model must reach accuracy_thresh(0.2) and fbeta (beta 2, thresh 0.2) above 0.9.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using NativeCnn.Nn;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Training;

public class MultiLabelTests(ITestOutputHelper output)
{
    private static readonly string[] Kinds = { "bar", "block", "plus", "square" };

    // A 5x5 pattern of each kind (1 = ink).
    private static bool Ink(string kind, int dx, int dy) => kind switch
    {
        "square" => dx == 0 || dx == 4 || dy == 0 || dy == 4,
        "plus" => dx == 2 || dy == 2,
        "bar" => dy is 2 or 3,
        "block" => dx is >= 1 and <= 3 && dy is >= 1 and <= 3,
        _ => throw new ArgumentException(kind),
    };

    // Writes n images and a CSV (header, then "name,labels"); returns the CSV path.
    private static string WriteSet(string dir, int n, ulong seed)
    {
        var rng = new Rng(seed);
        var lines = new List<string> { "image_name,tags" };
        for (int i = 0; i < n; i++)
        {
            var present = Kinds.Where(_ => rng.NextDouble() < 0.5).ToList();
            if (present.Count == 0) present.Add(Kinds[(int)(rng.NextDouble() * Kinds.Length) % Kinds.Length]);
            var quadrants = Enumerable.Range(0, 4).OrderBy(_ => rng.NextDouble()).ToArray();
            using var img = new Image<L8>(16, 16);
            for (int s = 0; s < present.Count; s++)
            {
                int ox = (quadrants[s] % 2) * 8 + (int)(rng.NextDouble() * 4), oy = (quadrants[s] / 2) * 8 + (int)(rng.NextDouble() * 4);
                for (int dy = 0; dy < 5; dy++)
                    for (int dx = 0; dx < 5; dx++)
                        if (Ink(present[s], dx, dy)) img[ox + dx, oy + dy] = new L8(255);
            }
            string name = $"img{i:D4}";
            img.SaveAsPng(Path.Combine(dir, name + ".png"));
            lines.Add($"{name},{string.Join(' ', present)}");
        }
        string csv = Path.Combine(dir, "labels.csv");
        File.WriteAllLines(csv, lines);
        return csv;
    }

    [Fact]
    public void ShapesLearnedFromACsvReachAccuracyThreshAndFBetaAbove90Percent()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-multilabel-");
        try
        {
            var all = CsvDataset.Load(WriteSet(dir.FullName, 400, 11), new CsvOptions { MultiLabel = true, Suffix = ".png" });
            Assert.Equal(Kinds, all.Classes);
            Assert.True(all.MultiLabel);
            var (train, valid) = all.Split(20, new Rng(3));
            DataLoader Loader(ImageFileDataset d, bool isTrain) => new(d, new ImageTransform(16, 16),
                new DataLoaderOptions { BatchSize = 32, Shuffle = isTrain, Train = isTrain, Channels = 1, Workers = 1 }, new Rng(5));
            var rng = new Rng(7);
            var model = new Sequential(
                new Conv2d(1, 16, 3, padding: 1, bias: false, rng: rng), new BatchNorm2d(16), new ReLU(),
                new Conv2d(16, 32, 3, padding: 1, bias: false, rng: rng), new BatchNorm2d(32), new ReLU(),
                new AdaptiveMaxPool2d(1), new Flatten(), new Linear(32, 4, rng: rng));
            var learn = new Learner(DataBunch.From(Loader(train, true), Loader(valid, false)), model,
                F.BinaryCrossEntropyWithLogits, new[] { Metrics.AccuracyThresh(0.2f), Metrics.FBeta() });
            learn.FitOneCycle(6, 2e-2f);
            var last = learn.Recorder.MetricValues[^1];
            output.WriteLine($"accuracy_thresh {last[0]:F4}, fbeta {last[1]:F4}, valid loss {learn.Recorder.ValidLosses[^1]:F4}");
            Assert.Equal(new[] { "accuracy_thresh", "fbeta" }, learn.Recorder.MetricNames);
            Assert.True(last[0] > 0.9, $"accuracy_thresh(0.2) {last[0]:F4}; per epoch: {string.Join(", ", learn.Recorder.MetricValues.Select(m => m[0].ToString("F3")))}");
            Assert.True(last[1] > 0.9, $"fbeta {last[1]:F4}; per epoch: {string.Join(", ", learn.Recorder.MetricValues.Select(m => m[1].ToString("F3")))}");
        }
        finally { dir.Delete(true); }
    }
}
