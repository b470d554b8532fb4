// A model of your own: a Module subclass (PyTorch's nn.Module), trained on images held in memory, exported,
// then reloaded in a NEW process with a factory that builds the same layout, which must predict exactly the
// same probabilities.
//   dotnet run               train, export to a temp folder, start a second process that reloads and compares
//   dotnet run -- --reload DIR EXPECTED.json     (what the second process runs)
using System.Diagnostics;
using System.Text.Json;
using NativeCnn;
using NativeCnn.Nn;
using NativeCnn.Training;

if (args.Length == 3 && args[0] == "--reload")
{
    // The second process: nothing is shared with the first but the export folder and the expected outputs.
    var predictor = Predictor.Load(args[1], factory: info => new SmallNet(info.Channels, info.Classes.Count));
    var expected = JsonSerializer.Deserialize<float[][]>(File.ReadAllText(args[2]))!;
    var outputs = predictor.Predict(Samples.Probe(), 1, 12, 12);
    for (int i = 0; i < expected.Length; i++)
        for (int k = 0; k < expected[i].Length; k++)
            if (expected[i][k] != outputs[i].Probabilities[k])
            {
                Console.Error.WriteLine($"image {i} class {k}: expected {expected[i][k]}, the reloaded model gives {outputs[i].Probabilities[k]}");
                return 1;
            }
    Console.WriteLine($"new process: the reloaded model gives the same {expected.Length} x {expected[0].Length} probabilities bit for bit");
    return 0;
}

// 1. Data in memory: 64 grey 12x12 images, a vertical or a horizontal bar, values in [0, 1].
var (pixels, labels) = Samples.Bars(64, seed: 1);
var data = ImageDataBunch.FromArrays(pixels, labels, channels: 1, height: 12, width: 12, classes: new[] { "vertical", "horizontal" },
                                     new ImageDataOptions { BatchSize = 16, Rng = new Rng(7) });

// 2. Train the custom model.
var learn = new Learner(data, new SmallNet(1, 2, new Rng(7)), (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });
learn.FitOneCycle(3, 1e-2f);
Console.WriteLine($"valid accuracy {learn.Recorder.MetricValues[^1][0]:F3}");

// 3. Export: weights under PyTorch names; the architecture is recorded as "custom" with the type name.
string dir = Path.Combine(Path.GetTempPath(), $"nativecnn-custom-{Environment.ProcessId}");
var bundle = learn.Export(dir);
Console.WriteLine($"exported {bundle.Arch} model ({bundle.Args.Extra["type"]}) to {dir}");

// 4. The outputs to reproduce, then a new process that reloads the export and compares.
var probs = learn.Predict(Samples.Probe(), 1, 12, 12).Select(p => p.Probabilities).ToArray();
string expectedFile = Path.Combine(dir, "expected.json");
File.WriteAllText(expectedFile, JsonSerializer.Serialize(probs));
var self = Environment.ProcessPath!;
var start = Path.GetFileNameWithoutExtension(self) == "dotnet"
    ? new ProcessStartInfo(self, new[] { typeof(SmallNet).Assembly.Location, "--reload", dir, expectedFile })
    : new ProcessStartInfo(self, new[] { "--reload", dir, expectedFile });
using var child = Process.Start(start)!;
child.WaitForExit();
Console.WriteLine($"second process exited with {child.ExitCode}");
return child.ExitCode;

/// <summary>The custom model: two conv-batchnorm-relu blocks, global average pooling and a linear head.
/// Parameters registered by name, as in PyTorch: "conv1.weight", "bn1.running_mean", "head.bias", ...</summary>
sealed class SmallNet : Module
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly Linear _head;
    private readonly AdaptiveAvgPool2d _pool = new(1);

    public SmallNet(int channels, int classes, Rng? rng = null)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(channels, 8, 3, padding: 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(8));
        _conv2 = RegisterModule("conv2", new Conv2d(8, 16, 3, stride: 2, padding: 1, bias: false, rng: rng));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(16));
        _head = RegisterModule("head", new Linear(16, classes, rng: rng));
    }

    public override Tensor Forward(Tensor x)
    {
        x = _bn1.Forward(_conv1.Forward(x)).Relu();
        x = _bn2.Forward(_conv2.Forward(x)).Relu();
        return _head.Forward(_pool.Forward(x).Reshape(x.Size(0), 16));
    }
}

static class Samples
{
    /// <summary>n images with a bright bar (label 0 vertical, 1 horizontal) at a random place, with noise.</summary>
    public static (float[] Pixels, int[] Labels) Bars(int n, int seed)
    {
        var rng = new Random(seed);
        var px = new float[n * 144];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = i % 2;
            int at = rng.Next(2, 10);
            for (int y = 0; y < 12; y++)
                for (int x = 0; x < 12; x++)
                {
                    bool on = labels[i] == 0 ? x == at : y == at;
                    px[i * 144 + y * 12 + x] = (on ? 0.9f : 0.1f) + (float)rng.NextDouble() * 0.1f;
                }
        }
        return (px, labels);
    }

    /// <summary>Four fixed images both processes predict.</summary>
    public static float[] Probe() => Bars(4, seed: 99).Pixels;
}
