// The model commands run in-process on tiny data the tests write: train --out on a class-folder set
// writes a bundle, a checkpoint and metrics.json that agree with the --json line; predict on the
// validation files reproduces the validation accuracy; export turns the checkpoint into the same
// bundle; finetune keeps the model's classes and statistics, defaults to 10 epochs and refuses an
// unknown class folder; a multi-label CSV run gives sigmoid predictions; bad command lines exit 2.
using System.Globalization;
using System.Text.Json;
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using Xunit;

namespace NativeCnn.Tests.Cli;

public class CliModelTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Support.CliRunner.Run(args);

    private static Dictionary<string, float[]> Weights(string file, Dictionary<string, string>? meta = null) =>
        SafeTensors.Load(file, metadata: meta).ToDictionary(p => p.Key, p => p.Value.DType == DType.Int32 ? p.Value.ToInt32Array().Select(v => (float)v).ToArray() : p.Value.ToArray());

    [Fact]
    public void TrainPredictExportAndFinetuneOnAClassFolderSet()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "data");
        ExportBundleTests.WriteTwoClassFolder(data, "train", 12, 1);
        ExportBundleTests.WriteTwoClassFolder(data, "valid", 4, 2);
        var outDir = Path.Combine(dir.Path, "run");
        var (code, output, err) = Run("train", "--data", data, "--size", "16", "--epochs", "2", "--bs", "8", "--seed", "3",
                                      "--metrics", "accuracy,error_rate", "--out", outDir, "--json", "--device", "cpu");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output.Trim());
        var root = json.RootElement;
        double accuracy = root.GetProperty("accuracy").GetDouble();
        Assert.Equal(1.0, accuracy + root.GetProperty("error_rate").GetDouble(), 6);
        Assert.Equal(24, root.GetProperty("train_images").GetInt32());
        Assert.Equal(8, root.GetProperty("valid_images").GetInt32());
        Assert.Equal(new[] { 16, 16 }, root.GetProperty("size").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Contains("accuracy  error_rate", err);   // the table went to stderr

        // metrics.json: the same final values, the history of both epochs, timings and classes.
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")));
        var m = metrics.RootElement;
        Assert.Equal(accuracy, m.GetProperty("final").GetProperty("accuracy").GetDouble());
        Assert.Equal(root.GetProperty("valid_loss").GetDouble(), m.GetProperty("final").GetProperty("valid_loss").GetDouble());
        var history = m.GetProperty("history").EnumerateArray().ToArray();
        Assert.Equal(2, history.Length);
        Assert.Equal(accuracy, history[1].GetProperty("accuracy").GetDouble());
        Assert.Equal(2, m.GetProperty("timings").GetProperty("epoch_seconds").GetArrayLength());
        Assert.Equal(new[] { "bright", "dark" }, m.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        Assert.True(File.Exists(Path.Combine(outDir, "checkpoint.safetensors")));
        // report.html: well-formed, with the run's settings, its plots and the confusion matrix of the 8 valid images
        var report = System.Xml.Linq.XDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.html")));
        string text = report.ToString();
        Assert.Contains("bright", text);
        Assert.Contains("Confusion matrix", text);
        Assert.True(report.Descendants().Count(e => e.Name.LocalName == "svg") >= 4, "expected the loss, metric, schedule and confusion plots");

        // predict on the validation files: as many right as the validation accuracy says.
        var validFiles = Directory.GetFiles(Path.Combine(data, "valid"), "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        (code, output, err) = Run(new[] { "predict", "--model", outDir, "--device", "cpu" }.Concat(validFiles).ToArray());
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(validFiles.Length, lines.Length);
        int right = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            var cols = lines[i].Split('\t');
            Assert.Equal(validFiles[i], cols[0]);
            Assert.InRange(double.Parse(cols[2], CultureInfo.InvariantCulture), 0.5, 1.0);
            if (cols[1] == Path.GetFileName(Path.GetDirectoryName(validFiles[i]))) right++;
        }
        Assert.Equal(accuracy, right / (double)validFiles.Length, 6);

        // --json and a folder argument: every class's probability, summing to 1.
        (code, output, err) = Run("predict", "--model", Path.Combine(outDir, "model"), "--json", "--device", "cpu", Path.Combine(data, "valid", "dark"));
        Assert.True(code == 0, err);
        using var pj = JsonDocument.Parse(output.Trim());
        var preds = pj.RootElement.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(4, preds.Length);
        foreach (var p in preds)
        {
            var probs = p.GetProperty("probabilities");
            Assert.Equal(1.0, probs.GetProperty("bright").GetDouble() + probs.GetProperty("dark").GetDouble(), 5);
            Assert.Equal(probs.GetProperty(p.GetProperty("class").GetString()!).GetDouble(), p.GetProperty("probability").GetDouble());
        }

        // export: the checkpoint becomes the same bundle train wrote.
        var exported = Path.Combine(dir.Path, "exported");
        (code, output, err) = Run("export", "--checkpoint", Path.Combine(outDir, "checkpoint.safetensors"), "--out", exported);
        Assert.True(code == 0, err);
        Assert.Contains("mnist_cnn, 2 classes, 3x16x16 input", output);
        var metaA = new Dictionary<string, string>();
        var metaB = new Dictionary<string, string>();
        var a = Weights(Path.Combine(outDir, "model", "model.safetensors"), metaA);
        var b = Weights(Path.Combine(exported, "model.safetensors"), metaB);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, v) in a) Assert.Equal(v, b[k]);
        Assert.Equal(metaA, metaB);

        // finetune on corrections: default 10 epochs, same classes and statistics, new weights.
        var corrections = Path.Combine(dir.Path, "corrections");
        ExportBundleTests.WriteTwoClassFolder(corrections, "", 4, 9);
        var tuned = Path.Combine(dir.Path, "tuned");
        (code, output, err) = Run("finetune", "--model", outDir, "--data", corrections, "--out", tuned, "--device", "cpu", "--no-augment");
        Assert.True(code == 0, err);
        Assert.Equal(12, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);   // device line, header, 10 epochs
        using var tm = JsonDocument.Parse(File.ReadAllText(Path.Combine(tuned, "metrics.json")));
        Assert.Equal(10, tm.RootElement.GetProperty("history").GetArrayLength());
        Assert.Equal(8, tm.RootElement.GetProperty("settings").GetProperty("bs").GetInt32());   // 8 corrections < --bs 64
        var metaC = new Dictionary<string, string>();
        var c = Weights(Path.Combine(tuned, "model", "model.safetensors"), metaC);
        Assert.Equal(metaA, metaC);
        Assert.NotEqual(a["0.weight"], c["0.weight"]);

        // A correction folder naming a class the model does not know.
        Directory.CreateDirectory(Path.Combine(corrections, "purple"));
        ExportBundleTests.WriteTwoClassFolder(Path.Combine(dir.Path, "p"), "x", 1, 5);
        File.Copy(Directory.GetFiles(Path.Combine(dir.Path, "p", "x", "dark"))[0], Path.Combine(corrections, "purple", "a.png"));
        (code, _, err) = Run("finetune", "--model", outDir, "--data", corrections, "--out", tuned, "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("purple", err);
        Assert.Contains("not in the model's classes (bright, dark)", err);
    }

    [Fact]
    public void MultiLabelCsvTrainingLearnsAndPredictsTheClassesAboveTheThreshold()
    {
        using var dir = new TempDir();
        // Left / right / both halves bright: labels "left", "right", "left right" (no augmentation:
        // a left-right flip would swap the labels).
        var rows = new List<string> { "name,tags" };
        var truth = new Dictionary<string, string[]>();
        var rng = new Random(4);
        for (int k = 0; k < 45; k++)
        {
            bool left = k % 3 != 1, right = k % 3 != 0;
            using var img = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(16, 16);
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++)
                    img[x, y] = new SixLabors.ImageSharp.PixelFormats.L8((byte)(((x < 8 ? left : right) ? 200 : 40) + rng.Next(-30, 30)));
            var file = dir.File("img", $"i{k}.png");
            SixLabors.ImageSharp.ImageExtensions.SaveAsPng(img, file);
            var tags = new[] { left ? "left" : null, right ? "right" : null }.OfType<string>().ToArray();
            truth[file] = tags;
            rows.Add($"i{k},{string.Join(" ", tags)}");
        }
        File.WriteAllLines(dir.File("labels.csv"), rows);
        var outDir = Path.Combine(dir.Path, "out");
        var (code, output, err) = Run("train", "--data", dir.File("labels.csv"), "--folder", Path.Combine(dir.Path, "img"), "--suffix", ".png",
                                      "--multi-label", "--thresh", "0.2", "--size", "16", "--channels", "1", "--epochs", "3", "--bs", "8",
                                      "--no-augment", "--out", outDir, "--json", "--device", "cpu");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output.Trim());
        Assert.True(json.RootElement.GetProperty("multi_label").GetBoolean());
        Assert.InRange(json.RootElement.GetProperty("accuracy_thresh").GetDouble(), 0.9, 1);
        Assert.InRange(json.RootElement.GetProperty("fbeta").GetDouble(), 0.9, 1);

        (code, output, err) = Run("predict", "--model", outDir, "--json", "--device", "cpu", Path.Combine(dir.Path, "img"));
        Assert.True(code == 0, err);
        using var pj = JsonDocument.Parse(output.Trim());
        Assert.True(pj.RootElement.GetProperty("multi_label").GetBoolean());
        var preds = pj.RootElement.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(45, preds.Length);
        int exact = 0;
        foreach (var p in preds)
        {
            var probs = p.GetProperty("probabilities").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetDouble());
            // Sigmoid per class (no sum to 1); the labels are exactly the classes at or above --thresh.
            Assert.All(probs.Values, v => Assert.InRange(v, 0, 1));
            var labels = p.GetProperty("labels").EnumerateArray().Select(e => e.GetString()!).Order().ToArray();
            Assert.Equal(probs.Where(e => e.Value >= 0.2).Select(e => e.Key).Order(), labels);
            if (labels.SequenceEqual(truth[p.GetProperty("file").GetString()!])) exact++;
        }
        Assert.InRange(exact, 41, 45);   // at least 90% of the images get exactly their label set
    }

    [Fact]
    public void DataFormatsAreDetected()
    {
        using var dir = new TempDir();
        // One folder of class folders: split by --valid-pct (25% of 16 = 4), --limit spreads over classes.
        var flat = Path.Combine(dir.Path, "flat");
        ExportBundleTests.WriteTwoClassFolder(flat, "", 8, 6, w: 8, h: 8);
        var (code, output, err) = Run("train", "--data", flat, "--valid-pct", "25", "--size", "8", "--epochs", "1", "--bs", "4", "--json", "--device", "cpu",
                                      "--metrics", "top_k:2,error_rate");
        Assert.True(code == 0, err);
        using (var j = JsonDocument.Parse(output.Trim()))
        {
            Assert.Equal((12, 4), (j.RootElement.GetProperty("train_images").GetInt32(), j.RootElement.GetProperty("valid_images").GetInt32()));
            Assert.Equal(1.0, j.RootElement.GetProperty("top_2_accuracy").GetDouble());   // 2 classes: always among the top 2
            Assert.InRange(j.RootElement.GetProperty("error_rate").GetDouble(), 0, 1);
            Assert.False(j.RootElement.TryGetProperty("accuracy", out _));
        }
        var imagenetOut = Path.Combine(dir.Path, "inet");
        (code, output, err) = Run("train", "--data", flat, "--limit", "6", "--size", "8", "--epochs", "1", "--bs", "4", "--json", "--device", "cpu",
                                  "--norm", "imagenet", "--out", imagenetOut);
        Assert.True(code == 0, err);
        using (var j = JsonDocument.Parse(output.Trim()))
            Assert.Equal(6, j.RootElement.GetProperty("train_images").GetInt32());
        var inet = new Dictionary<string, string>();
        SafeTensors.Load(Path.Combine(imagenetOut, "model", "model.safetensors"), metadata: inet);
        Assert.Equal(("0.485,0.456,0.406", "0.229,0.224,0.225"), (inet["norm.mean"], inet["norm.std"]));
        (code, _, err) = Run("train", "--data", flat, "--norm", "mnist", "--device", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--norm mnist has statistics for 1 channel(s), but the model takes 3", err);

        // A folder of IDX files: 1 channel at the images' own size, classes 0..9, MNIST statistics.
        var idx = Path.Combine(dir.Path, "idx");
        Directory.CreateDirectory(idx);
        var rng = new Random(2);
        var pixels = new byte[16 * 28 * 28];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, 16).Select(i => (byte)(i % 10)).ToArray();
        foreach (var split in new[] { "train", "valid" })
        {
            File.WriteAllBytes(Path.Combine(idx, $"{split}-images-idx3-ubyte.gz"), IdxTests.Gzip(IdxTests.IdxBytes(new[] { 16, 28, 28 }, pixels)));
            File.WriteAllBytes(Path.Combine(idx, $"{split}-labels-idx1-ubyte"), IdxTests.IdxBytes(new[] { 16 }, labels));
        }
        var outDir = Path.Combine(dir.Path, "out");
        (code, _, err) = Run("train", "--data", idx, "--epochs", "1", "--bs", "8", "--out", outDir, "--device", "cpu");
        Assert.True(code == 0, err);
        var meta = new Dictionary<string, string>();
        SafeTensors.Load(Path.Combine(outDir, "model", "model.safetensors"), metadata: meta);
        Assert.Equal(("1", "28x28", "0.1307", "0.3081"), (meta["input.channels"], meta["input.size"], meta["norm.mean"], meta["norm.std"]));
        Assert.Equal("[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]", meta["classes"]);
    }

    [Theory]
    [InlineData(new[] { "train", "--metrics", "accuracy,bogus" }, new[] { "--metrics", "'bogus'" })]
    [InlineData(new[] { "train", "--metrics", "fbeta" }, new[] { "metric 'fbeta' is for multi-label data" })]
    [InlineData(new[] { "train", "--arch", "vgg99" }, new[] { "--arch", "mnist_cnn", "'vgg99'" })]
    [InlineData(new[] { "train", "--thresh", "1.5" }, new[] { "--thresh", "'1.5'" })]
    [InlineData(new[] { "train", "--multi-label" }, new[] { "--multi-label needs a CSV file" })]
    [InlineData(new[] { "train", "--size", "32" }, new[] { "--size 32 cannot resize IDX images" })]
    [InlineData(new[] { "predict", "a.png" }, new[] { "--model DIR is required" })]
    [InlineData(new[] { "predict", "--model", "m" }, new[] { "at least one image" })]
    [InlineData(new[] { "predict", "--model", "m", "--frob", "a.png" }, new[] { "unknown option '--frob'" })]
    [InlineData(new[] { "export", "--checkpoint", "c" }, new[] { "--out DIR are both required" })]
    [InlineData(new[] { "export", "--what" }, new[] { "unknown option '--what'" })]
    [InlineData(new[] { "finetune", "--model", "m", "--data", "d", "--out", "o", "--arch", "mnist_cnn" }, new[] { "--arch cannot be changed" })]
    [InlineData(new[] { "finetune", "--data", "d", "--out", "o" }, new[] { "--model DIR is required" })]
    [InlineData(new[] { "finetune", "--model", "m", "--data", "d" }, new[] { "--out DIR is required" })]
    public void BadCommandLinesExitWithUsageCode(string[] args, string[] fragments)
    {
        var (code, output, err) = Run(args);
        Assert.True(code == 2, err);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var f in fragments) Assert.Contains(f, err);
    }

    [Theory]
    [InlineData("train", new[] { "--data", "--arch", "--size", "--multi-label", "--thresh", "--metrics", "--out", "--valid-pct", "--folder", "--suffix" })]
    [InlineData("predict", new[] { "--model", "--json", "--bs", "--device" })]
    [InlineData("export", new[] { "--checkpoint", "--out", "--thresh" })]
    [InlineData("finetune", new[] { "--model", "--data", "--out", "--epochs", "--lr", "default 10" })]
    public void EveryCommandHasHelp(string command, string[] fragments)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        foreach (var f in fragments) Assert.Contains(f, output);
        (code, output, _) = Run("--help");
        Assert.Contains($"  {command} ", output);
    }

    [Fact]
    public void MissingOrForeignFilesExitWithFailureCode()
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("predict", "--model", "/no/such/model", "--device", "cpu", "x.png");
        Assert.Equal(1, code);
        Assert.Contains("image file 'x.png' does not exist", err);
        File.WriteAllBytes(dir.File("a.png"), new byte[] { 1, 2, 3 });
        (code, _, err) = Run("predict", "--model", "/no/such/model", "--device", "cpu", dir.File("a.png"));
        Assert.Equal(1, code);
        Assert.Contains("model '/no/such/model' does not exist", err);

        var plain = dir.File("plain.safetensors");
        SafeTensors.Save(plain, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2) });
        (code, _, err) = Run("export", "--checkpoint", plain, "--out", dir.File("o"));
        Assert.Equal(1, code);
        Assert.Contains("not written by Checkpoint.Save", err);
        (code, _, err) = Run("train", "--data", plain);
        Assert.Equal(1, code);
        Assert.Contains("not a .csv file", err);
    }
}
