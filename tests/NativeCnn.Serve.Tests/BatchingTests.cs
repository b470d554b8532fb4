// Dynamic batching: images queued together run as one forward pass (up to the maximum batch), a batch
// that spans two models runs each image on the model it was prepared for, concurrent HTTP requests share
// passes and get the same answers as one at a time, and the same holds on the GPU backend (ILGPU's CPU
// simulator, tiny). Counts of passes come from the metrics; no timing is asserted (the waits are long
// enough, and the batcher is told more images are coming (Preparing), so all the images queued back to
// back land in one batch).
using NativeCnn.Cli;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class BatchingTests
{
    private static float[][] Inputs(Predictor p, int n) => Enumerable.Range(0, n).Select(i => p.Prepare(Images.Png(i), $"i{i}.png")).ToArray();

    [Fact]
    public async Task QueuedImagesRunAsBatchesOfAtMostMaxBatch()
    {
        using var dir = new TempDir();
        Bundles.Write(dir.Sub("a"), seed: 1);
        using var host = new ModelHost(dir.Sub("a"), Device.Cpu, TimeSpan.Zero);
        var m = host.Current;
        var x = Inputs(m.Predictor, 10);
        var alone = x.Select((v, i) => m.Predictor.PredictPrepared(new[] { v }, new[] { $"i{i}" })[0]).ToArray();

        var metrics = new ServeMetrics();
        var batcher = new InferenceBatcher(maxBatch: 4, maxWait: TimeSpan.FromSeconds(2), metrics);
        Task<Prediction>[] tasks;
        using (batcher.Preparing()) tasks = x.Select((v, i) => batcher.PredictAsync(m, v, $"i{i}")).ToArray();
        var got = await Task.WhenAll(tasks);
        await batcher.DisposeAsync();
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal($"i{i}", got[i].File);
            Assert.Equal(alone[i].Class, got[i].Class);
            for (int c = 0; c < 3; c++) Assert.Equal(alone[i].Probabilities[c], got[i].Probabilities[c], 5);
        }
        Assert.Equal(new[] { 3L, 10L, 4L }, Counts(metrics, host));   // passes of 4, 4 and 2
    }

    [Fact]
    public async Task ABatchSpanningAReloadRunsEachImageOnItsOwnModel()
    {
        using var dir = new TempDir();
        Bundles.Write(dir.Sub("a"), seed: 1);
        Bundles.Write(dir.Sub("b"), seed: 2);
        using var hostA = new ModelHost(dir.Sub("a"), Device.Cpu, TimeSpan.Zero);
        using var hostB = new ModelHost(dir.Sub("b"), Device.Cpu, TimeSpan.Zero);
        LoadedModel a = hostA.Current, b = hostB.Current;
        var x = Inputs(a.Predictor, 6);
        var metrics = new ServeMetrics();
        var batcher = new InferenceBatcher(maxBatch: 16, maxWait: TimeSpan.FromSeconds(1), metrics);
        Task<Prediction>[] tasks;
        using (batcher.Preparing()) tasks = x.Select((v, i) => batcher.PredictAsync(i % 2 == 0 ? a : b, v, $"i{i}")).ToArray();
        var got = await Task.WhenAll(tasks);
        await batcher.DisposeAsync();
        for (int i = 0; i < 6; i++)
        {
            var own = (i % 2 == 0 ? a : b).Predictor.PredictPrepared(new[] { x[i] }, new[] { "x" })[0];
            var other = (i % 2 == 0 ? b : a).Predictor.PredictPrepared(new[] { x[i] }, new[] { "x" })[0];
            Assert.Equal(own.Probabilities[0], got[i].Probabilities[0], 5);
            Assert.NotEqual(other.Probabilities[0], got[i].Probabilities[0], 3);
        }
        Assert.Equal(2L, Counts(metrics, hostA)[0]);   // one pass per model
    }

    [Fact]
    public async Task ConcurrentRequestsShareForwardPassesAndGetTheirOwnAnswers()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 3);
        var files = Enumerable.Range(0, 12).Select(i => Images.Save(dir.Sub("img", $"i{i}.png"), Images.Png(i))).ToArray();
        var expected = Predictor.Load(model).Predict(files);
        await using var server = await ModelServer.StartAsync(Api.Options(model) with { MaxBatch = 12, MaxWait = TimeSpan.FromSeconds(1) });
        using var http = Api.Client(server);
        var answers = await Task.WhenAll(files.Select(f => Api.Post(http, "api/predict", Api.Raw(File.ReadAllBytes(f), Path.GetFileName(f)))));
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(200, answers[i].Status);
            var p = answers[i].Json.GetProperty("predictions")[0];
            Assert.Equal($"i{i}.png", p.GetProperty("name").GetString());
            Assert.Equal(expected[i].Class, p.GetProperty("class").GetString());
            Assert.Equal(expected[i].Probability, p.GetProperty("probability").GetDouble(), tolerance: 2e-6);
        }
        var (_, metrics) = await Api.Get(http, "metrics");
        var batches = metrics.GetProperty("batches");
        Assert.Equal(12, batches.GetProperty("images").GetInt64());
        // Twelve requests in flight together with a one-second window: far fewer passes than requests.
        Assert.True(batches.GetProperty("count").GetInt64() < 12, $"no batching: {batches}");
        Assert.True(batches.GetProperty("max_size").GetInt64() > 1, $"no batching: {batches}");
    }

    [Fact]
    public async Task BatchesRunOnTheGpuBackendToo()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 4);
        var device = DevicesCommand.Resolve("simulator");
        using var cpu = new ModelHost(model, Device.Cpu, TimeSpan.Zero);
        using var gpu = new ModelHost(model, device, TimeSpan.Zero);
        var x = Inputs(cpu.Current.Predictor, 3);
        var metrics = new ServeMetrics();
        var batcher = new InferenceBatcher(maxBatch: 8, maxWait: TimeSpan.FromSeconds(1), metrics);
        Task<Prediction>[] tasks;
        using (batcher.Preparing()) tasks = x.Select((v, i) => batcher.PredictAsync(gpu.Current, v, $"i{i}")).ToArray();
        var got = await Task.WhenAll(tasks);
        await batcher.DisposeAsync();
        var reference = cpu.Current.Predictor.PredictPrepared(x, new[] { "0", "1", "2" });
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 3; c++) Assert.Equal(reference[i].Probabilities[c], got[i].Probabilities[c], 4);
        Assert.Equal(new[] { 1L, 3L, 3L }, Counts(metrics, gpu));
        Assert.Equal(device, gpu.Current.Predictor.Model.Device);
    }

    // (passes, images, largest pass)
    private static long[] Counts(ServeMetrics metrics, ModelHost host)
    {
        var json = System.Text.Json.JsonSerializer.SerializeToElement(metrics.Snapshot(host)).GetProperty("batches");
        return new[] { json.GetProperty("count").GetInt64(), json.GetProperty("images").GetInt64(), json.GetProperty("max_size").GetInt64() };
    }
}
