// Command line of the GPU lab. Must hold: every flag is known and every value parses, or the lab
// stops before touching the device with a usage line naming the flag and the value.
using System.Globalization;

namespace NativeCnn.GpuLab;

internal sealed class LabOptions
{
    public const string Usage =
        "Usage: NativeCnn.GpuLab OUTDIR [options]\n" +
        "\n" +
        "On CUDA device 0 (or ILGPU's CPU simulator): prints the device, runs the GPU correctness cases and\n" +
        "the mnist_cnn PyTorch goldens, runs the kernel lab (each kernel family's variants validated, then timed\n" +
        "with device events), times torch_baseline.py's cases, trains mnist_cnn, and writes\n" +
        "OUTDIR/results.jsonl (one JSON object per line), OUTDIR/summary.md and OUTDIR/report.md (floors).\n" +
        "\n" +
        "Options:\n" +
        "  --simulator      run on ILGPU's CPU simulator instead of CUDA (slow: use with --quick)\n" +
        "  --quick          tiny sizes everywhere (case names then carry the sizes actually run)\n" +
        "  --only LIST      sections to run, comma-separated: device,cases,kernels,bench,profile,train (default: all)\n" +
        "  --cases TEXT     run only the correctness cases whose name contains TEXT\n" +
        "  --bench TEXT     run only the timed cases whose name contains TEXT (or one of TEXT's comma-separated parts)\n" +
        "  --variant NAME   kernel lab: run only the variants named NAME (e.g. mma.sync-128x128; for a profiler)\n" +
        "  --epochs N       training epochs (default 2; 1 with --quick)\n" +
        "  --no-cpu-train   skip the CPU training run of the same seed (default: run it, for the accuracy comparison)\n" +
        "  --half-ldmatrix W  aligned 128x128 float16 products run this kernel instead of the default (64x64+async:\n" +
        "                   GemmFp16Async.cs's, 64x64 warps): mma (GemmFp16.cs's), 64x32 or 64x64 (GemmFp16Ldmatrix.cs's\n" +
        "                   with those warp tiles), 64x32+async, or wgmma (GemmFp16Wgmma.cs's, compute capability\n" +
        "                   9.0 only, every float16 product); without it the bench also times the float16 GEMMs\n" +
        "                   and the resnet18 AMP step on the four other ldmatrix/mma kernels, as variant rows\n" +
        "  --torch FILE     torch_baseline.py's output (JSON lines) for the ratios in summary.md";

    public string Out { get; private set; } = "";
    public bool Simulator { get; private set; }
    public bool Quick { get; private set; }
    public HashSet<string> Sections { get; } = new(StringComparer.Ordinal) { "device", "cases", "kernels", "bench", "profile", "train" };
    public string? CaseFilter { get; private set; }
    public string? BenchFilter { get; private set; }

    /// <summary>Whether --bench selects the timed case <paramref name="name"/>: no filter, or a name containing
    /// one of its comma-separated parts.</summary>
    public bool BenchSelected(string name) =>
        BenchFilter is null || BenchFilter.Split(',', StringSplitOptions.RemoveEmptyEntries).Any(part => name.Contains(part, StringComparison.Ordinal));
    public string? Variant { get; private set; }
    public int Epochs { get; private set; }
    public bool CpuTrain { get; private set; } = true;
    public string? TorchBaseline { get; private set; }
    public HalfKernel HalfKernel { get; private set; } = HalfKernel.Default;

    public static LabOptions Parse(string[] args)
    {
        var o = new LabOptions();
        int? epochs = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            switch (arg)
            {
                case "--simulator": o.Simulator = true; break;
                case "--quick": o.Quick = true; break;
                case "--only":
                {
                    var list = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    var unknown = list.Where(s => s is not ("device" or "cases" or "kernels" or "bench" or "profile" or "train")).ToList();
                    if (unknown.Count > 0 || list.Length == 0)
                        throw new ArgumentException($"--only expects sections from device,cases,kernels,bench,profile,train, got '{string.Join(",", list)}'");
                    o.Sections.Clear();
                    o.Sections.Add("device");   // every other section needs the device
                    o.Sections.UnionWith(list);
                    break;
                }
                case "--cases": o.CaseFilter = Value(); break;
                case "--bench": o.BenchFilter = Value(); break;
                case "--variant": o.Variant = Value(); break;
                case "--epochs":
                {
                    var v = Value();
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
                        throw new ArgumentException($"--epochs expects a positive integer, got '{v}'");
                    epochs = n;
                    break;
                }
                case "--no-cpu-train": o.CpuTrain = false; break;
                case "--torch": o.TorchBaseline = Value(); break;
                case "--half-ldmatrix": o.HalfKernel = HalfKernel.Parse(Value()); break;
                case "-h" or "--help": throw new ArgumentException("help");
                default:
                    if (arg.StartsWith('-') || o.Out.Length > 0) throw new ArgumentException($"unknown argument '{arg}'");
                    o.Out = arg;
                    break;
            }
        }
        if (o.Out.Length == 0) throw new ArgumentException("an output folder is required");
        o.Epochs = epochs ?? (o.Quick ? 1 : 2);
        return o;
    }
}
