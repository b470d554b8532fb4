// `nativecnn serve --model DIR`: serves an export bundle over HTTP (NativeCnn.Serve): the page at `/`,
// the JSON API, corrections stored where `finetune --data` reads them, dynamic batching, and reload when
// DIR holds a new bundle. Prints the URL it serves and each reload; runs until Ctrl+C or SIGTERM (or the
// token a caller passes), then finishes the requests in flight. Must hold: bound to 127.0.0.1 unless --host says otherwise; a bad command line exits 2,
// a model that cannot be loaded or an address that cannot be bound exits 1.
using System.Globalization;
using NativeCnn.Serve;

namespace NativeCnn.Cli;

/// <summary>The `serve` command.</summary>
public static class ServeCommand
{
    /// <summary>Where corrections go unless --corrections says otherwise (relative to the working folder).</summary>
    public const string DefaultCorrections = "corrections";

    /// <summary>The command's help text.</summary>
    public const string Usage =
        "Usage: nativecnn serve --model DIR [options]\n" +
        "\n" +
        "Serves an exported model: a web page at / (choose or drop images, see the top classes, send the\n" +
        "right class for a wrong answer), a JSON API (POST /api/predict, POST /api/corrections, GET /api/model,\n" +
        "POST /api/reload, GET /healthz, GET /metrics). Corrections are stored as CORRECTIONS/<class>/<sha256>.<ext>\n" +
        "with a log line each in CORRECTIONS/corrections.jsonl, ready for 'nativecnn finetune --data CORRECTIONS'.\n" +
        "When DIR holds a new bundle (e.g. after 'finetune --out DIR') the server switches to it without\n" +
        "failing a request; a bundle that cannot be loaded leaves the old one serving.\n" +
        "\n" +
        "Options:\n" +
        "  --model DIR          the export bundle (required; a train/finetune --out folder works too)\n" +
        "  --port N             TCP port (default 8080; 0: any free port)\n" +
        "  --host H             address to listen on (default 127.0.0.1: this machine only)\n" +
        "  --corrections DIR    where corrections go (default ./corrections)\n" +
        "  --no-corrections     refuse corrections\n" +
        "  --device D           auto (default), cpu, cuda, cuda:N or simulator\n" +
        "  --max-batch N        most images per forward pass (default 32; 1: no batching)\n" +
        "  --max-wait-ms X      how long a batch waits to fill after its first image (default 2)\n" +
        "  --max-body-mb X      largest request body (default 16)\n" +
        "  --max-pixels N       largest width x height decoded (default 16777216 = 4096x4096)\n" +
        "  --watch-s X          how often DIR is checked for a new bundle (default 1; 0: only POST /api/reload)\n" +
        "  --verbose            stack traces on errors\n" +
        "  -h, --help           show this help";

    /// <summary>Runs the server until Ctrl+C or SIGTERM.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, null);

    /// <summary>Runs the server until <paramref name="stop"/> is cancelled, or Ctrl+C or SIGTERM.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken? stop)
    {
        if (args.Contains("--help") || args.Contains("-h")) { stdout.WriteLine(Usage); return Cli.ExitOk; }
        var o = Parse(args);
        stdout = TextWriter.Synchronized(stdout);
        var server = ModelServer.StartAsync(o).GetAwaiter().GetResult();
        try
        {
            var m = server.Models.Current;
            stdout.WriteLine(DevicesCommand.Describe(o.Device ?? Device.Cpu));
            stdout.WriteLine($"model: {m.WeightsFile} ({m.Info.Arch}, {m.Info.Classes.Count} classes, sha256 {m.Sha256[..12]})");
            stdout.WriteLine(server.Corrections is { } c ? $"corrections: {c.Dir}" : "corrections: off");
            if (!System.Net.IPAddress.TryParse(o.Host, out var ip) || !System.Net.IPAddress.IsLoopback(ip))
                stdout.WriteLine($"note: listening on {o.Host}: anyone who can reach this machine can use the model and send corrections");
            server.Models.Reloaded += r => stdout.WriteLine(r.Status == "failed"
                ? $"reload failed, the old model keeps serving: {r.Error}"
                : $"reloaded: {r.Model.WeightsFile} (sha256 {r.Model.Sha256[..12]}, generation {r.Model.Generation})");
            stdout.WriteLine($"serving {server.Address} (Ctrl+C stops)");
            // The host's console lifetime turns SIGINT (Ctrl+C) and SIGTERM into Stopping.
            WaitHandle.WaitAny(new[] { server.Stopping.WaitHandle, (stop ?? CancellationToken.None).WaitHandle });
            stdout.WriteLine("stopping");
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return Cli.ExitOk;
    }

    /// <summary>Every flag serve takes.</summary>
    public static readonly string[] Flags = { "--model", "--port", "--host", "--corrections", "--no-corrections", "--device", "--max-batch", "--max-wait-ms", "--max-body-mb", "--max-pixels", "--watch-s", "--verbose", "--help" };

    internal static ServeOptions Parse(string[] args)
    {
        string? model = null, corrections = DefaultCorrections, host = "127.0.0.1", device = "auto";
        int port = 8080, maxBatch = 32;
        double maxWaitMs = 2, maxBodyMb = 16, watchS = 1;
        long maxPixels = 4096L * 4096;
        var r = new ArgReader(args, "serve", Flags);
        while (r.Next())
        {
            string a = r.Flag;
            switch (a)
            {
                case "--model": model = r.Value(); break;
                case "--port": port = Int(a, r.Value(), 0, 65535); break;
                case "--host": host = r.Value(); break;
                case "--corrections": corrections = r.Value(); break;
                case "--no-corrections": r.NoValue(); corrections = null; break;
                case "--device": device = r.Value(); break;
                case "--max-batch": maxBatch = TrainOptions.PositiveInt("serve", a, r.Value()); break;
                case "--max-wait-ms": maxWaitMs = Number(a, r.Value(), 0); break;
                case "--max-body-mb": maxBodyMb = Number(a, r.Value(), 1e-6); break;
                case "--max-pixels": maxPixels = TrainOptions.PositiveInt("serve", a, r.Value()); break;
                case "--watch-s": watchS = Number(a, r.Value(), 0); break;
                case "--verbose": r.NoValue(); break;
                default:
                    throw new UsageException($"serve: unknown {(a.StartsWith('-') ? "option" : "argument")} '{a}'; expected --model, --port, --host, --corrections, --no-corrections, --device, --max-batch, --max-wait-ms, --max-body-mb, --max-pixels, --watch-s, --verbose or --help");
            }
        }
        if (model is null) throw new UsageException("serve: --model DIR is required (an export bundle folder)");
        if (string.IsNullOrWhiteSpace(host)) throw new UsageException("serve: --host is empty; expected an address such as 127.0.0.1");
        return new ServeOptions
        {
            ModelPath = model,
            Host = host,
            Port = port,
            CorrectionsDir = corrections,
            Device = DevicesCommand.Resolve(device),
            MaxBatch = maxBatch,
            MaxWait = TimeSpan.FromMilliseconds(maxWaitMs),
            MaxBodyBytes = (long)Math.Max(1, maxBodyMb * 1024 * 1024),
            MaxPixels = maxPixels,
            WatchInterval = TimeSpan.FromSeconds(watchS),
        };
    }

    private static int Int(string flag, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
            : throw new UsageException($"serve: {flag} '{value}' is not an integer from {min} to {max}");

    private static double Number(string flag, string value, double min) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) && v >= min ? v
            : throw new UsageException($"serve: {flag} '{value}' is not a number of at least {min.ToString(CultureInfo.InvariantCulture)}");
}
