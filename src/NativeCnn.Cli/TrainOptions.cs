// Options of `nativecnn train` and their parsing. Must hold: every flag is known, every value parses
// in full and is in range, or a UsageException names the flag, the value given and what is expected.
using System.Globalization;

namespace NativeCnn.Cli;

public sealed class TrainOptions
{
    public int Epochs { get; private set; } = 5;
    public float Lr { get; private set; } = 1e-2f;
    public int BatchSize { get; private set; } = 64;
    public ulong Seed { get; private set; } = 42;
    public bool Json { get; private set; }
    public string? DataDir { get; private set; }
    public int? Limit { get; private set; }
    public bool Verbose { get; private set; }
    /// <summary>Mixed precision (Learner.ToFp16): float16 model except batch norm, float32 master weights, dynamic loss scaling.</summary>
    public bool Fp16 { get; private set; }
    /// <summary>auto, cpu, cuda, cuda:N or simulator, as given (resolved by TrainCommand).</summary>
    public string Device { get; private set; } = "auto";
    public bool Help { get; private set; }

    public const string Usage =
        "Usage: nativecnn train [options]\n" +
        "\n" +
        "Trains mnist_cnn (4 conv-BN-ReLU blocks, average pool, linear) with one-cycle AdamW\n" +
        "(betas 0.9/0.99, decoupled weight decay 1e-2 on every parameter, 30% warm-up) and prints\n" +
        "epoch, train_loss, valid_loss, accuracy and time for each epoch.\n" +
        "\n" +
        "Options:\n" +
        "  --epochs N     number of epochs (default 5)\n" +
        "  --lr X         peak learning rate of the one-cycle schedule (default 0.01)\n" +
        "  --bs N         batch size (default 64)\n" +
        "  --seed N       seed of every random draw: init, shuffling (default 42)\n" +
        "  --data DIR     directory holding train-/valid-images-idx3-ubyte.gz and train-/valid-labels-idx1-ubyte.gz\n" +
        "                 (default: the 8,000/2,000 MNIST digits embedded in the library)\n" +
        "  --limit N      use only the first N training and N validation images (quick runs)\n" +
        "  --device D     auto (default: CUDA when a usable NVIDIA GPU is present, else the CPU), cpu, cuda,\n" +
        "                 cuda:N, or simulator (ILGPU's CPU simulator of the GPU backend: very slow, for tests)\n" +
        "  --fp16         mixed precision: float16 model except batch norm, float32 master weights, dynamic\n" +
        "                 loss scaling (tensor cores on CUDA sm_80+; float16 storage, float32 arithmetic on the CPU)\n" +
        "  --json         print the final metrics as one JSON object on stdout (the table goes to stderr)\n" +
        "  --verbose      print the model, progress every 25 steps, and stack traces on errors\n" +
        "  -h, --help     show this help";

    public static TrainOptions Parse(string[] args)
    {
        var o = new TrainOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? inline = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Length) throw new UsageException($"train: {arg} needs a value (see 'nativecnn train --help')");
                return args[++i];
            }
            void NoValue()
            {
                if (inline is not null) throw new UsageException($"train: {arg} takes no value, got '{arg}={inline}'");
            }
            switch (arg)
            {
                case "--epochs": o.Epochs = PositiveInt(arg, Value()); break;
                case "--lr": o.Lr = PositiveFloat(arg, Value()); break;
                case "--bs": o.BatchSize = PositiveInt(arg, Value()); break;
                case "--seed":
                {
                    var v = Value();
                    if (!ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
                        throw new UsageException($"train: --seed expects a non-negative integer, got '{v}'");
                    o.Seed = seed;
                    break;
                }
                case "--data":
                {
                    var v = Value();
                    if (v.Length == 0) throw new UsageException("train: --data expects a directory, got an empty string");
                    o.DataDir = v;
                    break;
                }
                case "--limit": o.Limit = PositiveInt(arg, Value()); break;
                case "--device":
                {
                    var v = Value();
                    if (v is not ("auto" or "cpu" or "cuda" or "simulator") && !IsCudaIndex(v))
                        throw new UsageException($"train: --device expects auto, cpu, cuda, cuda:N or simulator, got '{v}'");
                    o.Device = v;
                    break;
                }
                case "--json": NoValue(); o.Json = true; break;
                case "--verbose": NoValue(); o.Verbose = true; break;
                case "--fp16": NoValue(); o.Fp16 = true; break;
                case "--help" or "-h": o.Help = true; break;
                default:
                    throw new UsageException(arg.StartsWith('-')
                        ? $"train: unknown option '{arg}'; expected --epochs, --lr, --bs, --seed, --data, --limit, --device, --fp16, --json, --verbose or --help"
                        : $"train: unexpected argument '{arg}'; train takes only options (see 'nativecnn train --help')");
            }
        }
        return o;
    }

    private static bool IsCudaIndex(string v) =>
        v.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(v.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    private static int PositiveInt(string flag, string value)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0)
            throw new UsageException($"train: {flag} expects a positive integer, got '{value}'");
        return v;
    }

    private static float PositiveFloat(string flag, string value)
    {
        if (!float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v > 0) || float.IsInfinity(v))
            throw new UsageException($"train: {flag} expects a positive number such as 0.01 or 1e-3, got '{value}'");
        return v;
    }
}
