// The data/model options of `nativecnn train`, shared through ParseInto by finetune, lr-find and
// show-batch (each adds its own flags and declares which of these it takes): data, architecture,
// size, channels, normalisation, the get_transforms arguments (AugmentArgs), schedule, device.
// Must hold: every flag is declared, every value parses in full and is in range, or a UsageException
// names the flag, the value given and what is expected.
using System.Globalization;
using NativeCnn.Models;

namespace NativeCnn.Cli;

public sealed class TrainOptions
{
    public int Epochs { get; internal set; } = 5;
    public float Lr { get; internal set; } = 1e-2f;
    public int BatchSize { get; internal set; } = 64;
    public ulong Seed { get; internal set; } = 42;
    public bool Json { get; private set; }
    /// <summary>--data as given: null or "mnist" for the embedded set, else a folder, CSV file or IDX folder.</summary>
    public string? DataDir { get; private set; }
    public int? Limit { get; private set; }
    public bool Verbose { get; private set; }
    /// <summary>Mixed precision (Learner.ToFp16): float16 model except batch norm, float32 master weights, dynamic loss scaling.</summary>
    public bool Fp16 { get; private set; }
    /// <summary>--tf32: NativeCnn.Precision.AllowTf32 on for the run (float32 convs and GEMMs in TF32 on CUDA sm_80+).</summary>
    public bool Tf32 { get; private set; }
    /// <summary>auto, cpu, cuda, cuda:N or simulator, as given (resolved by TrainCommand).</summary>
    public string Device { get; private set; } = "auto";
    public bool Help { get; private set; }
    /// <summary>The command these options are for (named in errors).</summary>
    internal string Command { get; private set; } = "train";
    public string Arch { get; private set; } = "mnist_cnn";
    /// <summary>Input side in pixels; null: the images' own size for IDX, 64 for image files.</summary>
    public int? Size { get; internal set; }
    /// <summary>Input channels for image files; null: 3 (IDX data is always 1).</summary>
    public int? Channels { get; private set; }
    public bool MultiLabel { get; private set; }
    /// <summary>--thresh: the multi-label threshold of accuracy_thresh, fbeta and the exported model; null: each one's default.</summary>
    public float? Thresh { get; private set; }
    /// <summary>--metrics as given (comma list); null: accuracy (single-label) or accuracy_thresh,fbeta (multi-label).</summary>
    public string? Metrics { get; private set; }
    public string? Out { get; private set; }
    public double ValidPct { get; internal set; } = 20;
    public string? Folder { get; private set; }
    public string Suffix { get; private set; } = "";
    public bool Augment { get; private set; } = true;
    /// <summary>--no-flip, --flip-vert, --max-rotate, ... --extra-channel as given.</summary>
    public AugmentArgs Transforms { get; } = new();

    /// <summary>The training transforms: <paramref name="baseline"/> (fastai's defaults when null) with the flags
    /// given; with --no-augment none at all (the extra channel's meaning is kept: it belongs to the data).</summary>
    public NativeCnn.Data.Transforms.AugmentOptions TrainTransforms(NativeCnn.Data.Transforms.AugmentOptions? baseline = null) =>
        Augment ? Transforms.Apply(baseline)
                : NativeCnn.Data.Transforms.AugmentOptions.None with { LightingExtraChannel = Transforms.Apply(baseline).LightingExtraChannel };
    /// <summary>--norm: data (computed from the training images), imagenet, cifar or mnist; with --pretrained
    /// the default is imagenet (a torchvision body is fed the statistics it was trained with).</summary>
    public string Norm { get => _norm ?? (Pretrained is null ? "data" : "imagenet"); private set => _norm = value; }
    private string? _norm;
    /// <summary>--pretrained: torchvision ResNet weights (.pth/.pt or .safetensors) for the cnn_learner body.</summary>
    public string? Pretrained { get; private set; }
    /// <summary>--resume FILE: a checkpoint (train --out's checkpoint.safetensors) loaded before the fit:
    /// weights, optimizer state and, in mixed precision, the loss scale.</summary>
    public string? Resume { get; private set; }
    /// <summary>--unfreeze N: after the frozen fit, N more epochs with every group trainable at slice(lr/100, lr/10).</summary>
    public int Unfreeze { get; private set; }

    /// <summary>True when the data is the embedded MNIST set.</summary>
    public bool EmbeddedMnist => DataDir is null or "mnist";

    public const string Usage =
        "Usage: nativecnn train [options]\n" +
        "\n" +
        "Trains a model (default mnist_cnn: 4 conv-BN-ReLU blocks, average pool, linear) with one-cycle\n" +
        "AdamW (betas 0.9/0.99, decoupled weight decay 1e-2 on every parameter, 30% warm-up) and prints\n" +
        "epoch, train_loss, valid_loss, the metrics and time for each epoch.\n" +
        "\n" +
        "Options:\n" +
        "  --data D       mnist (default: the 8,000/2,000 MNIST digits embedded in the library), or a path:\n" +
        "                   a folder with train/<class>/* and valid/<class>/* (ImageNet style),\n" +
        "                   a folder of <class>/* folders (split at random by --valid-pct),\n" +
        "                   a .csv file of name,labels rows (split by --valid-pct; see --folder, --suffix),\n" +
        "                   a folder holding train-/valid-images-idx3-ubyte(.gz) and -labels-idx1-ubyte(.gz)\n" +
        "  --valid-pct P  percentage of a single folder or CSV held out for validation (default 20)\n" +
        "  --folder DIR   CSV: the folder the image names are relative to (default: the CSV's folder)\n" +
        "  --suffix S     CSV: appended to every name (e.g. .png)\n" +
        "  --multi-label  CSV labels are space-separated sets: BCE-with-logits loss, sigmoid outputs\n" +
        "  --arch NAME    architecture (default mnist_cnn; known: {ARCHS})\n" +
        "  --size N       image files are brought to N x N (default 64, at most 4096); IDX data keeps its own size\n" +
        "  --channels N   input channels for image files, 1 to 4 (default 3; grey images are replicated)\n" +
        "  --no-augment   image files: no random flips, rotations, zoom, warp or lighting\n" +
        "  --norm N       image files: normalisation statistics: data (default: computed from up to 1,000\n" +
        "                 training images; imagenet with --pretrained), imagenet, cifar or mnist (IDX data: mnist's)\n" +
        "  --pretrained F torchvision resnet18/34 weights (.pth, .pt or .safetensors) for --arch resnet18|resnet34:\n" +
        "                 fastai's cnn_learner (the body cut before its pooling, a new head, three layer groups),\n" +
        "                 trained frozen (body fixed except batch norm); the model is exported as cnn_resnetNN\n" +
        "  --unfreeze N   after the frozen epochs, N more with every layer trainable at slice(lr/100, lr/10)\n" +
        "  --metrics L    comma list of accuracy, error_rate, top_k[:K], accuracy_thresh[:T], fbeta[:T]\n" +
        "                 (default: accuracy; multi-label: accuracy_thresh,fbeta)\n" +
        "  --thresh T     multi-label threshold for accuracy_thresh, fbeta and the exported model's\n" +
        "                 predictions (default: 0.5 for accuracy_thresh and the model, 0.2 for fbeta)\n" +
        "{TRANSFORMS}\n" +
        "Training:\n" +
        "  --epochs N     number of epochs (default 5)\n" +
        "  --lr X         peak learning rate of the one-cycle schedule (default 0.01)\n" +
"  --bs N         batch size (default 64)\n" +
        "  --seed N       seed of every random draw: init, shuffling, augmentation (default 42)\n" +
        "  --limit N      use at most N training and N validation images (quick runs; IDX: the first N,\n" +
        "                 image files: N spread evenly over the set so every class keeps some)\n" +
        "  --out DIR      write DIR/model (the export bundle for predict and finetune), DIR/checkpoint.safetensors\n" +
        "                 (weights and optimizer state), DIR/metrics.json (final metrics, history, timings) and\n" +
        "                 DIR/report.html (loss, metric and schedule plots; confusion matrix and top losses), as one set:\n" +
        "                 checked writable first, written beside DIR and switched in whole (a new, empty or previous --out)\n" +
        "  --resume F     continue from a checkpoint (a previous --out's checkpoint.safetensors): its weights,\n" +
        "                 optimizer state and loss scale, then --epochs more of one-cycle training; same --arch\n" +
        "  --device D     auto (default: CUDA when a usable NVIDIA GPU is present, else the CPU), cpu, cuda,\n" +
        "                 cuda:N, or simulator (ILGPU's CPU simulator of the GPU backend: very slow, for tests)\n" +
        "  --fp16         mixed precision: float16 model except batch norm, float32 master weights, dynamic\n" +
        "                 loss scaling (tensor cores on CUDA sm_80+; float16 storage, float32 arithmetic on the CPU)\n" +
        "  --tf32         float32 convolutions and matrix products on tensor cores in TF32 (10-bit mantissa\n" +
        "                 operands, float32 sums), as PyTorch's allow_tf32; CUDA sm_80+ only, ignored elsewhere\n" +
        "  --json         print the final metrics as one JSON object on stdout (the table goes to stderr)\n" +
        "  --verbose      print the model, progress every 25 steps, and stack traces on errors\n" +
        "  -h, --help     show this help";

    public static string UsageText => Fill(Usage);

    /// <summary>A usage text with the architecture names and the transform flags' help filled in.</summary>
    internal static string Fill(string usage) => usage.Replace("{ARCHS}", string.Join(", ", Architectures.Names), StringComparison.Ordinal)
        .Replace("{TRANSFORMS}", AugmentArgs.Usage, StringComparison.Ordinal);

    /// <summary>Every flag `train` takes (the data/model set the other commands draw from).</summary>
    public static readonly string[] Flags = new[]
    {
        "--epochs", "--lr", "--bs", "--seed", "--data", "--limit", "--device", "--json", "--verbose",
        "--arch", "--size", "--channels", "--multi-label", "--thresh", "--metrics", "--out", "--valid-pct", "--folder", "--suffix", "--no-augment", "--norm", "--fp16", "--tf32", "--pretrained", "--unfreeze", "--resume",
    }.Concat(AugmentArgs.Flags).Append("--help").ToArray();

    public static TrainOptions Parse(string[] args) => ParseInto(new TrainOptions(), args, "train", null, Flags);

    /// <summary>Parses <paramref name="args"/> into <paramref name="o"/>; <paramref name="extra"/> handles a
    /// command's own flags (returns false for one it leaves to the shared set; it may call the reader it is
    /// given); <paramref name="flags"/> are all the flags the command takes.</summary>
    internal static TrainOptions ParseInto(TrainOptions o, string[] args, string command, Func<string, ArgReader, bool>? extra, IReadOnlyList<string> flags)
    {
        o.Command = command;
        var r = new ArgReader(args, command, flags);
        while (r.Next())
        {
            string arg = r.Flag;
            if (extra is not null && extra(arg, r)) continue;
            if (o.Transforms.TryParse(command, arg, r)) continue;
            switch (arg)
            {
                case "--epochs": o.Epochs = PositiveInt(command, arg, r.Value(), Limits.MaxEpochs); break;
                case "--lr": o.Lr = PositiveFloat(command, arg, r.Value()); break;
                case "--bs": o.BatchSize = PositiveInt(command, arg, r.Value(), Limits.MaxBatch); break;
                case "--seed":
                {
                    var v = r.Value();
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
                        throw new UsageException($"{command}: --seed expects a non-negative integer, got '{v}'");
                    o.Seed = seed;
                    break;
                }
                case "--data":
                {
                    var v = r.Value();
                    if (v.Length == 0) throw new UsageException($"{command}: --data expects mnist or a path, got an empty string");
                    o.DataDir = v;
                    break;
                }
                case "--limit": o.Limit = PositiveInt(command, arg, r.Value()); break;
                case "--device":
                {
                    var v = r.Value();
                    if (v is not ("auto" or "cpu" or "cuda" or "simulator") && !IsCudaIndex(v))
                        throw new UsageException($"{command}: --device expects auto, cpu, cuda, cuda:N or simulator, got '{v}'");
                    o.Device = v;
                    break;
                }
                case "--arch":
                {
                    var v = r.Value();
                    if (!Architectures.Contains(v))
                        throw new UsageException($"{command}: --arch expects one of {string.Join(", ", Architectures.Names)}, got '{v}'");
                    o.Arch = v;
                    break;
                }
                case "--size": o.Size = PositiveInt(command, arg, r.Value(), Limits.MaxSize); break;
                case "--channels": o.Channels = PositiveInt(command, arg, r.Value(), Limits.MaxChannels); break;
                case "--thresh":
                {
                    var v = r.Value();
                    if (!float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !(t > 0 && t < 1))
                        throw new UsageException($"{command}: --thresh expects a number between 0 and 1 (exclusive), got '{v}'");
                    o.Thresh = t;
                    break;
                }
                case "--metrics":
                {
                    var v = r.Value();
                    MetricList.Parse(v, false, null, command);   // checks the names now; built once the labels are known
                    o.Metrics = v;
                    break;
                }
                case "--out":
                {
                    var v = r.Value();
                    if (v.Length == 0) throw new UsageException($"{command}: --out expects a folder, got an empty string");
                    o.Out = v;
                    break;
                }
                case "--valid-pct":
                {
                    var v = r.Value();
                    if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || !(p >= 0 && p < 100))
                        throw new UsageException($"{command}: --valid-pct expects a percentage in [0, 100), got '{v}'");
                    o.ValidPct = p;
                    break;
                }
                case "--norm":
                {
                    var v = r.Value();
                    if (v is not ("data" or "imagenet" or "cifar" or "mnist"))
                        throw new UsageException($"{command}: --norm expects data, imagenet, cifar or mnist, got '{v}'");
                    o.Norm = v;
                    break;
                }
                case "--pretrained":
                {
                    var v = r.Value();
                    if (!File.Exists(v)) throw new UsageException($"{command}: --pretrained expects a weights file (.pth, .pt or .safetensors), '{v}' does not exist");
                    o.Pretrained = v;
                    break;
                }
                case "--unfreeze": o.Unfreeze = PositiveInt(command, arg, r.Value(), Limits.MaxEpochs); break;
                case "--resume":
                {
                    var v = r.Value();
                    if (!File.Exists(v)) throw new UsageException($"{command}: --resume expects a checkpoint file (a train --out folder's checkpoint.safetensors), '{v}' does not exist");
                    o.Resume = v;
                    break;
                }
                case "--folder": o.Folder = r.Value(); break;
                case "--suffix": o.Suffix = r.Value(); break;
                case "--multi-label": r.NoValue(); o.MultiLabel = true; break;
                case "--no-augment": r.NoValue(); o.Augment = false; break;
                case "--json": r.NoValue(); o.Json = true; break;
                case "--verbose": r.NoValue(); o.Verbose = true; break;
                case "--fp16": r.NoValue(); o.Fp16 = true; break;
                case "--tf32": r.NoValue(); o.Tf32 = true; break;
                case "--help" or "-h": o.Help = true; break;
                default:
                    throw arg.StartsWith('-') ? ArgReader.Unknown(command, arg, flags)
                        : new UsageException($"{command}: unexpected argument '{arg}'; {command} takes only options (see 'nativecnn {command} --help')");
            }
        }
        return o;
    }

    private static bool IsCudaIndex(string v) =>
        v.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(v.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    internal static int PositiveInt(string command, string flag, string value, int max = int.MaxValue)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0)
            throw new UsageException($"{command}: {flag} expects a positive integer, got '{value}'");
        if (v > max) throw new UsageException($"{command}: {flag} expects a positive integer up to {max:D}, got '{value}'");
        return v;
    }

    internal static float PositiveFloat(string command, string flag, string value)
    {
        if (!float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v > 0) || float.IsInfinity(v))
            throw new UsageException($"{command}: {flag} expects a positive number such as 0.01 or 1e-3, got '{value}'");
        return v;
    }
}
