// Dynamic batching (as Triton's): requests put prepared images on a queue; one loop takes the first
// waiting image, then more until the batch holds MaxBatch images or MaxWait has passed since the first,
// and runs them through the model in one forward pass. It waits only while more images are on their way
// (requests being decoded, counted by Preparing()), so a lone request is never held back, and while a
// pass runs new requests queue up, so under load batches fill without waiting. Each image carries the model it was prepared for: a batch that
// spans a reload runs each model's images on that model, so no request in flight fails.
// Must hold: one forward pass at a time (a backend is driven by one thread at a time); every queued
// image's task completes (with its prediction, or the forward pass's exception), also at shutdown.
using System.Threading.Channels;
using NativeCnn.Training;

namespace NativeCnn.Serve;

/// <summary>Batches concurrent prediction requests into forward passes.</summary>
public sealed class InferenceBatcher : IAsyncDisposable
{
    private sealed record Job(LoadedModel Model, float[] Input, string Name, TaskCompletionSource<Prediction> Done);

    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly int _maxBatch;
    private readonly TimeSpan _maxWait;
    private readonly ServeMetrics _metrics;
    private readonly Task _loop;

    /// <summary>Starts the batching loop: at most <paramref name="maxBatch"/> images per pass, waiting at
    /// most <paramref name="maxWait"/> for a batch to fill.</summary>
    public InferenceBatcher(int maxBatch, TimeSpan maxWait, ServeMetrics metrics)
    {
        if (maxBatch < 1) throw new NativeCnnException($"InferenceBatcher: max batch {maxBatch}; expected at least 1");
        _maxBatch = maxBatch;
        _maxWait = maxWait < TimeSpan.Zero ? TimeSpan.Zero : maxWait;
        _metrics = metrics ?? throw new NativeCnnException("InferenceBatcher: metrics is null");
        _loop = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    private int _preparing;

    /// <summary>Marks a request whose images are being decoded and will be queued: the batcher waits (up
    /// to the maximum wait) for them rather than starting a pass without them. Dispose the token after
    /// queueing the images, or when decoding fails.</summary>
    public IDisposable Preparing()
    {
        Interlocked.Increment(ref _preparing);
        return new PreparingToken(this);
    }

    private sealed class PreparingToken(InferenceBatcher owner) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref owner._preparing); }
    }

    /// <summary>Queues one prepared image for <paramref name="model"/>; completes with its prediction.</summary>
    public Task<Prediction> PredictAsync(LoadedModel model, float[] input, string name)
    {
        var job = new Job(model, input, name, new TaskCompletionSource<Prediction>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(job)) job.Done.SetException(new ObjectDisposedException(nameof(InferenceBatcher), "the server is shutting down"));
        return job.Done.Task;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Job>(_maxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var deadline = DateTime.UtcNow + _maxWait;
            while (batch.Count < _maxBatch)
            {
                if (reader.TryRead(out var job)) { batch.Add(job); continue; }
                var left = deadline - DateTime.UtcNow;
                if (batch.Count > 0 && (left <= TimeSpan.Zero || Volatile.Read(ref _preparing) == 0)) break;
                using var wait = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                try { if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false)) break; }
                catch (OperationCanceledException) { break; }
            }
            if (batch.Count > 0) Run(batch);
        }
    }

    // One forward pass per model present in the batch (one, except across a reload).
    private void Run(List<Job> batch)
    {
        foreach (var group in batch.GroupBy(j => j.Model))
        {
            var jobs = group.ToArray();
            try
            {
                var predictions = group.Key.Predictor.PredictPrepared(jobs.Select(j => j.Input).ToArray(), jobs.Select(j => j.Name).ToArray());
                _metrics.Batch(jobs.Length);
                for (int i = 0; i < jobs.Length; i++) jobs[i].Done.TrySetResult(predictions[i]);
            }
            catch (Exception e)
            {
                foreach (var j in jobs) j.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Stops taking images and finishes those queued.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}
