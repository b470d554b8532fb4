// Quick start: train a CNN on a folder of images (one sub-folder per class, or train/ and valid/ folders of
// them), export it, load the export as an application would, and predict an image.
//   dotnet run -- <image folder> [epochs]      your data
//   dotnet run -- --demo                       a small made-up data set (two classes of 16x16 images), a few batches
using NativeCnn;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Training;

string folder = args.Length > 0 && args[0] != "--demo" ? args[0] : DemoData.Write(Path.Combine(Path.GetTempPath(), "nativecnn-quickstart"));
int epochs = args.Length > 1 ? int.Parse(args[1]) : 1;
bool demo = args.Length == 0 || args[0] == "--demo";

// 1. Data: classes from the folder names, 20% held out for validation, statistics from the training images.
var data = ImageDataBunch.FromFolder(folder, new ImageDataOptions { Size = demo ? 16 : 64, BatchSize = demo ? 8 : 64, Rng = new Rng(42) });
Console.WriteLine($"classes: {string.Join(", ", data.Classes!)}; {data.Train.BatchCount} training batches per epoch");

// 2. Model and learner: a small CNN from the architecture registry, AdamW and the one-cycle schedule.
var model = Architectures.Build("mnist_cnn", new ArchArgs(data.Channels, data.Classes!.Count), new Rng(42));
var learn = new Learner(data, model, (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
learn.FitOneCycle(epochs, 1e-2f, CancellationToken.None,
    new ConsoleProgress(p => { if (p.EpochEnd) Console.WriteLine($"epoch {p.Epoch}: train loss {p.TrainLoss:F4}, valid loss {p.ValidLoss:F4}, accuracy {p.Metrics!["accuracy"]:F4}"); }));

// 3. Export: model.safetensors + model.json, with the classes, statistics and input size.
string export = Path.Combine(Path.GetTempPath(), "nativecnn-quickstart-model");
learn.Export(export);

// 4. Predict, as an application would: load the export and classify an image file.
var predictor = Predictor.Load(export);
string image = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).First(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)));
var prediction = predictor.Predict(image);
Console.WriteLine($"{Path.GetFileName(image)}: {prediction.Class} ({prediction.Probability:P1})");

// The loaded model predicts exactly what the trained one does.
var direct = learn.Predict(image);
if (direct.Class != prediction.Class || Math.Abs(direct.Probability - prediction.Probability) > 1e-5)
{
    Console.Error.WriteLine($"mismatch: the trained model says {direct.Class} ({direct.Probability}), the loaded one {prediction.Class} ({prediction.Probability})");
    return 1;
}
Console.WriteLine($"exported to {export}; the reloaded model agrees with the trained one");
return 0;

/// <summary>Reports on the training thread, as they happen (System.Progress would post them to the thread pool).</summary>
sealed class ConsoleProgress(Action<FitProgress> report) : IProgress<FitProgress>
{
    public void Report(FitProgress value) => report(value);
}
