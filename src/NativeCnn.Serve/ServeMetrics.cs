// The server's counters for /metrics: requests by outcome, images predicted, forward passes and their
// sizes, corrections (stored, already there, refused), and the latency of recent predict requests as
// percentiles (the last 4,096, nearest-rank). Must hold: safe to update from any thread; a snapshot never
// blocks a request for long (one short lock around the latency window).
namespace NativeCnn.Serve;

/// <summary>Thread-safe counters of one server.</summary>
public sealed class ServeMetrics
{
    private const int Window = 4096;
    private readonly double[] _latencies = new double[Window];
    private long _latencyCount;
    private long _requests, _client, _server, _images, _batches, _batchedImages, _maxBatch;
    private long _stored, _duplicates, _refused;

    /// <summary>Counts one answered request by its status code.</summary>
    public void Request(int status)
    {
        Interlocked.Increment(ref _requests);
        if (status is >= 400 and < 500) Interlocked.Increment(ref _client);
        else if (status >= 500) Interlocked.Increment(ref _server);
    }

    /// <summary>Records a predict request's latency and how many images it held.</summary>
    public void Predicted(int images, TimeSpan latency)
    {
        Interlocked.Add(ref _images, images);
        lock (_latencies) _latencies[_latencyCount++ % Window] = latency.TotalMilliseconds;
    }

    /// <summary>Records one forward pass of <paramref name="size"/> images.</summary>
    public void Batch(int size)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _batchedImages, size);
        long seen;
        while (size > (seen = Interlocked.Read(ref _maxBatch)) && Interlocked.CompareExchange(ref _maxBatch, size, seen) != seen) { }
    }

    /// <summary>Records a correction: stored now, already stored, or refused.</summary>
    public void Correction(bool? storedNow)
    {
        if (storedNow is null) Interlocked.Increment(ref _refused);
        else if (storedNow.Value) Interlocked.Increment(ref _stored);
        else Interlocked.Increment(ref _duplicates);
    }

    /// <summary>Nearest-rank percentiles (e.g. 50, 90, 99) of the recent predict latencies in ms; NaN when none.</summary>
    public double[] LatencyPercentiles(params double[] percents)
    {
        double[] window;
        lock (_latencies) window = _latencies.AsSpan(0, (int)Math.Min(_latencyCount, Window)).ToArray();
        Array.Sort(window);
        return percents.Select(p => window.Length == 0 ? double.NaN
            : window[Math.Clamp((int)Math.Ceiling(p / 100.0 * window.Length) - 1, 0, window.Length - 1)]).ToArray();
    }

    /// <summary>Every counter as a JSON-ready object (what /metrics answers).</summary>
    public object Snapshot(ModelHost host)
    {
        var p = LatencyPercentiles(50, 90, 99);
        double? Ms(double v) => double.IsNaN(v) ? null : Math.Round(v, 3);
        long batches = Interlocked.Read(ref _batches);
        return new
        {
            requests = new { total = Interlocked.Read(ref _requests), client_errors = Interlocked.Read(ref _client), server_errors = Interlocked.Read(ref _server) },
            images_predicted = Interlocked.Read(ref _images),
            latency_ms = new { window = (int)Math.Min(Interlocked.Read(ref _latencyCount), Window), p50 = Ms(p[0]), p90 = Ms(p[1]), p99 = Ms(p[2]) },
            batches = new
            {
                count = batches,
                images = Interlocked.Read(ref _batchedImages),
                mean_size = batches == 0 ? 0 : Math.Round(Interlocked.Read(ref _batchedImages) / (double)batches, 3),
                max_size = Interlocked.Read(ref _maxBatch),
            },
            corrections = new { stored = Interlocked.Read(ref _stored), already_stored = Interlocked.Read(ref _duplicates), refused = Interlocked.Read(ref _refused) },
            reloads = new { ok = host.Reloads, failed = host.ReloadFailures },
        };
    }
}
