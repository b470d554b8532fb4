// `nativecnn predict --model DIR files...`: loads an export bundle and prints, per image, the file,
// the predicted class (multi-label: every class at or above the bundle's threshold) and the top
// probability; --json prints one object with every class's probability. A folder argument stands for
// the image files directly in it. Must hold: output order is the order given; a bad file exits 1
// naming it; a bad command line exits 2.
using System.Globalization;
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class PredictCommand
{
    public const string Usage =
        "Usage: nativecnn predict --model DIR [options] FILE|FOLDER...\n" +
        "\n" +
        "Predicts the class of each image with an exported model (the model folder that train --out,\n" +
        "finetune --out or export write; a train --out folder itself works too). Each image is prepared as\n" +
        "the validation images were in training: channels adapted, resized and centre-cropped to the\n" +
        "model's input size, normalised with the model's own statistics. Prints file, class and probability.\n" +
        "\n" +
        "Options:\n" +
        "  --model DIR    the export bundle (required)\n" +
        "  --bs N         images per batch (default 32)\n" +
        "  --device D     auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --json         one JSON object: the model's classes and, per file, class, probability, labels\n" +
        "                 (multi-label: the classes at or above the threshold) and every class's probability\n" +
        "  --verbose      stack traces on errors\n" +
        "  -h, --help     show this help";

    /// <summary>Every flag predict takes.</summary>
    public static readonly string[] Flags = { "--model", "--bs", "--device", "--json", "--verbose", "--help" };

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h")) { stdout.WriteLine(Usage); return Cli.ExitOk; }
        string? model = null, deviceSpec = "auto";
        int bs = 32;
        bool json = false;
        var inputs = new List<string>();
        var reader = new ArgReader(args, "predict", Flags);
        while (reader.Next())
        {
            string a = reader.Flag;
            string Next() => reader.Value();
            switch (a)
            {
                case "--model": model = Next(); break;
                case "--bs": bs = TrainOptions.PositiveInt("predict", a, Next(), Limits.MaxBatch); break;
                case "--device": deviceSpec = Next(); break;
                case "--json": reader.NoValue(); json = true; break;
                case "--verbose": reader.NoValue(); break;
                default:
                    if (a.StartsWith('-')) throw new UsageException($"predict: unknown option '{a}'; expected --model, --bs, --device, --json, --verbose or --help");
                    inputs.Add(a);
                    break;
            }
        }
        if (model is null) throw new UsageException("predict: --model DIR is required (an export bundle folder)");
        if (inputs.Count == 0) throw new UsageException("predict: give at least one image file or folder to predict");
        var device = DevicesCommand.Resolve(deviceSpec);
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = FolderDataset.ImageFiles(input);
                if (found.Length == 0) throw new NativeCnnException($"predict: folder '{input}' holds no image files (expected {string.Join(" ", ImageDecoder.Extensions.Order())})");
                files.AddRange(found);
            }
            else if (File.Exists(input)) files.Add(input);
            else throw new NativeCnnException($"predict: image file '{input}' does not exist");
        }

        var predictor = Predictor.Load(model, device);
        var predictions = predictor.Predict(files, bs);
        if (json)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("model", ExportBundle.Resolve(model));
                w.WriteBoolean("multi_label", predictor.Info.MultiLabel);
                w.WriteStartArray("classes");
                foreach (var c in predictor.Classes) w.WriteStringValue(c);
                w.WriteEndArray();
                w.WriteStartArray("predictions");
                foreach (var p in predictions)
                {
                    w.WriteStartObject();
                    w.WriteString("file", p.File);
                    w.WriteString("class", p.Class);
                    w.WriteNumber("probability", Math.Round(p.Probability, 6));
                    w.WriteStartArray("labels");
                    foreach (var l in p.Labels) w.WriteStringValue(l);
                    w.WriteEndArray();
                    w.WriteStartObject("probabilities");
                    for (int c = 0; c < p.Probabilities.Length; c++) w.WriteNumber(predictor.Classes[c], Math.Round(p.Probabilities[c], 6));
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        }
        else
        {
            foreach (var p in predictions)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{p.File}\t{(predictor.Info.MultiLabel ? string.Join(" ", p.Labels) : p.Class)}\t{p.Probability:F4}"));
        }
        return Cli.ExitOk;
    }
}
