// The model a server answers with, and its replacement. A LoadedModel is immutable (a Predictor, its
// bundle's settings and identity), so a request prepared for one model finishes on that model even when
// a reload swaps in another meanwhile. Reload loads the new bundle completely before the swap; a bundle
// that fails to load leaves the old one serving and is reported (LastReloadError, /api/model).
// The watcher polls the weights file's size and time; a change seen on two polls in a row (a copy in
// progress settles first) triggers a reload, which does nothing when the weights' SHA-256 is unchanged.
// Must hold: Current is never null after construction; one reload at a time.
using System.Security.Cryptography;
using NativeCnn.Training;

namespace NativeCnn.Serve;

/// <summary>One loaded bundle: the predictor, its settings, and its identity (the SHA-256 of its weights file).</summary>
public sealed class LoadedModel
{
    internal LoadedModel(Predictor predictor, string weightsFile, string sha256, long generation)
    {
        Predictor = predictor;
        WeightsFile = weightsFile;
        Sha256 = sha256;
        Generation = generation;
        LoadedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The model and how its inputs are prepared.</summary>
    public Predictor Predictor { get; }

    /// <summary>The bundle's settings (classes, statistics, input size, threshold).</summary>
    public BundleInfo Info => Predictor.Info;

    /// <summary>The model.safetensors file the weights came from.</summary>
    public string WeightsFile { get; }

    /// <summary>Lower-case hex SHA-256 of the weights file: the bundle's identity.</summary>
    public string Sha256 { get; }

    /// <summary>1 for the model loaded at start, one more for each successful reload.</summary>
    public long Generation { get; }

    /// <summary>When this model started serving.</summary>
    public DateTimeOffset LoadedAt { get; }
}

/// <summary>What a reload did.</summary>
/// <param name="Status">"reloaded", "unchanged" (same weights) or "failed" (the old model still serves).</param>
/// <param name="Model">The model serving after the attempt.</param>
/// <param name="Error">Why the new bundle was refused, when it was.</param>
public sealed record ReloadResult(string Status, LoadedModel Model, string? Error);

/// <summary>Holds the serving model, reloads it on demand and watches its bundle for a new one.</summary>
public sealed class ModelHost : IDisposable
{
    private readonly string _path;
    private readonly Device? _device;
    private readonly object _reload = new();
    private readonly Timer? _watch;
    private volatile LoadedModel _current;
    private (long Length, DateTime Time)? _seen, _candidate;
    private int _polling;

    /// <summary>Loads the bundle at <paramref name="path"/> (throws naming it when it cannot) and, when
    /// <paramref name="watchInterval"/> is positive, polls it for a new bundle.</summary>
    public ModelHost(string path, Device? device, TimeSpan watchInterval)
    {
        ArgumentNullException.ThrowIfNull(path);
        _path = path;
        _device = device;
        _current = Load(1);
        _seen = Signature(_current.WeightsFile);
        if (watchInterval > TimeSpan.Zero) _watch = new Timer(_ => Poll(), null, watchInterval, watchInterval);
    }

    /// <summary>The model answering requests now.</summary>
    public LoadedModel Current => _current;

    /// <summary>Why the last reload failed (null after a success).</summary>
    public string? LastReloadError { get; private set; }

    /// <summary>When a reload was last tried.</summary>
    public DateTimeOffset? LastReloadAttempt { get; private set; }

    /// <summary>Successful reloads (a new bundle swapped in) since start.</summary>
    public int Reloads { get; private set; }

    /// <summary>Bundles that failed to load since start.</summary>
    public int ReloadFailures { get; private set; }

    /// <summary>Raised after each reload attempt that changed or failed (for the server's log).</summary>
    public event Action<ReloadResult>? Reloaded;

    /// <summary>Loads the bundle at the path again; swaps it in if its weights differ from the serving ones.
    /// Never throws for a bad bundle: the result says why, and the old model keeps serving.</summary>
    public ReloadResult Reload()
    {
        ReloadResult result;
        lock (_reload)
        {
            LastReloadAttempt = DateTimeOffset.UtcNow;
            (long, DateTime)? signature = null;
            try
            {
                var file = ExportBundle.Resolve(_path);
                signature = Signature(file);
                if (file == _current.WeightsFile && Hash(file) == _current.Sha256)
                {
                    _seen = signature;
                    LastReloadError = null;
                    return new ReloadResult("unchanged", _current, null);
                }
                var next = Load(_current.Generation + 1);
                _seen = Signature(next.WeightsFile);
                _current = next;
                LastReloadError = null;
                Reloads++;
                result = new ReloadResult("reloaded", next, null);
            }
            catch (Exception e) when (e is NativeCnnException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                LastReloadError = e.Message.ReplaceLineEndings(" ");
                ReloadFailures++;
                // The watcher does not try the same refused file again; a new write changes the signature.
                if (signature is not null) _seen = signature;
                result = new ReloadResult("failed", _current, LastReloadError);
            }
        }
        Reloaded?.Invoke(result);
        return result;
    }

    // A timer tick: reload once the weights file has changed and then stayed the same for one interval.
    private void Poll()
    {
        if (Interlocked.Exchange(ref _polling, 1) == 1) return;
        try
        {
            (long, DateTime)? now;
            try { now = Signature(ExportBundle.Resolve(_path)); }
            catch (Exception e) when (e is NativeCnnException or IOException or UnauthorizedAccessException) { now = null; }
            lock (_reload)   // _seen is written by reloads from requests too
            {
                if (now is null || now == _seen) { _candidate = null; return; }
                if (now != _candidate) { _candidate = now; return; }
                _candidate = null;
            }
            Reload();
        }
        finally { Volatile.Write(ref _polling, 0); }
    }

    private LoadedModel Load(long generation)
    {
        var file = ExportBundle.Resolve(_path);
        // The bundle's writer replaces the file atomically (rename), so the file holds one bundle or the
        // other; the hash before and after the load agree only when the load read the bundle hashed.
        for (int attempt = 0; ; attempt++)
        {
            string before = Hash(file);
            var predictor = Predictor.Load(file, _device);
            string after = Hash(file);
            if (before == after) return new LoadedModel(predictor, file, before, generation);
            if (attempt == 2) throw new NativeCnnException($"model '{file}' kept changing while it was loaded; try again when it is written");
        }
    }

    private static string Hash(string file)
    {
        try
        {
            using var s = File.OpenRead(file);
            return Convert.ToHexStringLower(SHA256.HashData(s));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"model '{file}' cannot be read: {e.Message}");
        }
    }

    private static (long, DateTime)? Signature(string file)
    {
        var info = new FileInfo(file);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc) : null;
    }

    /// <summary>Stops watching the bundle.</summary>
    public void Dispose() => _watch?.Dispose();
}
