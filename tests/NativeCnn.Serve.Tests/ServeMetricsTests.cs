// The metrics' arithmetic: nearest-rank latency percentiles over the recent window (the last 4,096
// predict requests), forward-pass counts and sizes, corrections by outcome, requests by status class.
using System.Text.Json;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class ServeMetricsTests
{
    [Fact]
    public void PercentilesCountsAndTheWindow()
    {
        var m = new ServeMetrics();
        Assert.True(double.IsNaN(m.LatencyPercentiles(50)[0]));
        // 1..100 ms in a scrambled order: nearest rank gives p50 = 50, p90 = 90, p99 = 99, p100 = 100.
        foreach (int v in Enumerable.Range(1, 100).OrderBy(v => (v * 37) % 101)) m.Predicted(2, TimeSpan.FromMilliseconds(v));
        Assert.Equal(new[] { 50.0, 90.0, 99.0, 100.0, 1.0 }, m.LatencyPercentiles(50, 90, 99, 100, 0));
        // The window keeps the last 4,096: after 4,096 more at 1000 ms, every percentile is 1000.
        for (int i = 0; i < 4096; i++) m.Predicted(1, TimeSpan.FromMilliseconds(1000));
        Assert.Equal(new[] { 1000.0, 1000.0 }, m.LatencyPercentiles(1, 99));

        m.Batch(3); m.Batch(7); m.Batch(2);
        m.Correction(true); m.Correction(false); m.Correction(false); m.Correction(null);
        foreach (int status in new[] { 200, 201, 404, 413, 422, 500 }) m.Request(status);
        using var dir = new TempDir();
        Bundles.Write(dir.Path);
        using var host = new ModelHost(dir.Path, Device.Cpu, TimeSpan.Zero);
        var json = JsonSerializer.SerializeToElement(m.Snapshot(host));
        Assert.Equal(100 * 2 + 4096, json.GetProperty("images_predicted").GetInt64());
        Assert.Equal(4096, json.GetProperty("latency_ms").GetProperty("window").GetInt32());
        var b = json.GetProperty("batches");
        Assert.Equal(3, b.GetProperty("count").GetInt64());
        Assert.Equal(12, b.GetProperty("images").GetInt64());
        Assert.Equal(4.0, b.GetProperty("mean_size").GetDouble(), 6);
        Assert.Equal(7, b.GetProperty("max_size").GetInt64());
        var c = json.GetProperty("corrections");
        Assert.Equal((1L, 2L, 1L), (c.GetProperty("stored").GetInt64(), c.GetProperty("already_stored").GetInt64(), c.GetProperty("refused").GetInt64()));
        var r = json.GetProperty("requests");
        Assert.Equal((6L, 3L, 1L), (r.GetProperty("total").GetInt64(), r.GetProperty("client_errors").GetInt64(), r.GetProperty("server_errors").GetInt64()));
    }
}
