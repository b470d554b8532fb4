// Batches of an image source (files, CSV, IDX) as (x: (B, C, H, W) float32, y: int32 (B), or float32 (B, classes)
// multi-hot) on a device. Items are decoded, channel-adapted, transformed and normalised on worker
// threads while the consumer trains on earlier batches; at most `prefetch` batches are in flight, each
// in its own reusable host buffer. Must hold: the order comes from the Rng given (one seed), the
// augmentation of item i in epoch e depends only on (seed, e, i); a worker error reaches the consumer
// (naming the file) and stops the epoch; cancelling or leaving the loop early stops the workers;
// nothing waits forever. Unlabelled items (a test folder) get label -1.
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using NativeCnn.Data.Transforms;

namespace NativeCnn.Data;

/// <summary>How a <see cref="DataLoader"/> batches: size, order, augmentation, workers, channels, normalisation, device.</summary>
public sealed record DataLoaderOptions
{
    /// <summary>Images per batch (default 64).</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>A new random order each epoch (drawn from the loader's Rng).</summary>
    public bool Shuffle { get; init; }
    /// <summary>Leave out the last batch when it is smaller than BatchSize (training keeps batch statistics steady).</summary>
    public bool DropLast { get; init; }

    /// <summary>Random augmentation (training) instead of a centre crop only (validation).</summary>
    public bool Train { get; init; }

    /// <summary>Worker threads that decode and augment; default: one per core.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Batches prepared ahead of the consumer (each with its own host buffer).</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Input channels of the model; every image is adapted to it (see ChannelAdapter).</summary>
    public int Channels { get; init; } = 3;

    /// <summary>What fills the third channel when a 2-channel image feeds a 3-channel model (default zeros).</summary>
    public TwoChannelFill TwoChannelFill { get; init; } = TwoChannelFill.Zeros;

    /// <summary>Per-channel statistics; null leaves values in [0, 1].</summary>
    public NormStats? Normalize { get; init; }

    /// <summary>Leave out items that fail to decode (warning + SkippedItems) instead of failing the epoch.</summary>
    public bool SkipUnreadable { get; init; }

    /// <summary>Receives each warning (a skipped item); wins over <see cref="Logger"/>.</summary>
    public Action<string>? Warn { get; init; }
    /// <summary>Where warnings go when <see cref="Warn"/> is null; null: <see cref="NativeCnnLogging.LoggerFactory"/>'s logger.</summary>
    public Microsoft.Extensions.Logging.ILogger? Logger { get; init; }
    /// <summary>Where batches are made (the model's device); null: the CPU.</summary>
    public Device? Device { get; init; }
}

/// <summary>One batch; Indices are the dataset indices of its rows.</summary>
public sealed record Batch(Tensor X, Tensor Y, int[] Indices);

/// <summary>Batches of an <see cref="IImageSource"/> as (x: (B, C, H, W) float32, normalised; y: (B) int32 labels, or (B, classes) multi-hot floats) on a device. Worker threads decode, adapt, transform and normalise ahead of the consumer; the order and each item's augmentation depend only on the seed.</summary>
public sealed class DataLoader
{
    private readonly IImageSource _data;
    private readonly Rng _rng;
    private readonly ulong _augmentSeed;
    private ImageTransform _transform;
    private int _epoch;
    private int _running;
    private Slot[] _slots = Array.Empty<Slot>();
    private int _skipped;

    /// <summary>A loader over <paramref name="data"/> bringing each image to <paramref name="transform"/>'s size (and augmentation when <see cref="DataLoaderOptions.Train"/>); <paramref name="rng"/> seeds the order and augmentation (null: <see cref="Rng.Global"/>).</summary>
    /// <exception cref="ArgumentException">An option is out of range, the statistics have another channel count, the dataset is empty, or DropLast would leave no batch.</exception>
    public DataLoader(IImageSource data, ImageTransform transform, DataLoaderOptions options, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(transform);
        ArgumentNullException.ThrowIfNull(options);
        Check.Positive(options.BatchSize, "DataLoader: batch size");
        Check.Positive(options.Workers, "DataLoader: workers");
        Check.Positive(options.Prefetch, "DataLoader: prefetch");
        Check.Positive(options.Channels, "DataLoader: channels");
        if (options.Normalize is { } n && n.Channels != options.Channels)
            throw new NativeCnnException($"DataLoader: normalisation statistics have {n.Channels} channels but the model takes {options.Channels}");
        if (data.Count == 0) throw new NativeCnnException($"DataLoader: dataset '{data.Name}' has no items");
        if (options.DropLast && options.BatchSize > data.Count)
            throw new NativeCnnException($"DataLoader: batch size {options.BatchSize} is larger than the {data.Count} items of '{data.Name}', and DropLast would leave no batch");
        _data = data;
        _transform = transform;
        Options = options;
        _rng = rng ?? Rng.Global;
        _augmentSeed = _rng.NextSeed();
    }

    /// <summary>The options the loader was built with.</summary>
    public DataLoaderOptions Options { get; }
    /// <summary>The images being batched.</summary>
    public IImageSource Dataset => _data;
    /// <summary>The current transform (size, resize method, augmentation); <see cref="Resize"/> replaces it.</summary>
    public ImageTransform Transform => _transform;
    /// <summary>Batches per epoch.</summary>
    public int BatchCount => Options.DropLast ? _data.Count / Options.BatchSize : (_data.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>Items left out so far because they failed to decode (only with SkipUnreadable).</summary>
    public int SkippedItems => _skipped;

    /// <summary>Progressive resizing: later epochs produce inputs of the new size from the same source.</summary>
    public void Resize(int height, int width) => _transform = _transform.WithSize(height, width);

    /// <summary>The seed of item <paramref name="index"/>'s augmentation in epoch <paramref name="epoch"/>.</summary>
    public ulong ItemSeed(int epoch, int index) => Rng.Mix(Rng.Mix(_augmentSeed + (ulong)epoch) ^ (ulong)index);

    /// <summary>One pass over the data (epoch numbers count up from 0 unless given).</summary>
    public IEnumerable<Batch> Epoch(int? epoch = null, CancellationToken cancel = default)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
            throw new NativeCnnException($"DataLoader over '{_data.Name}': an epoch is already being iterated; finish or dispose it first");
        try
        {
            foreach (var b in Run(epoch ?? _epoch++, cancel)) yield return b;
        }
        finally { Volatile.Write(ref _running, 0); }
    }

    private sealed class Slot
    {
        public float[] X = Array.Empty<float>();
        public int[] YInt = Array.Empty<int>();
        public float[] YHot = Array.Empty<float>();
        public bool[] Failed = Array.Empty<bool>();
        public int[] Indices = Array.Empty<int>();
        public int Count, Remaining;
        public Exception? Error;
        public readonly ManualResetEventSlim Done = new(false);
    }

    private readonly record struct Job(Slot Slot, int Pos, int Item, int Epoch, ImageTransform Transform);

    private IEnumerable<Batch> Run(int epoch, CancellationToken cancel)
    {
        var o = Options;
        int n = _data.Count, bs = o.BatchSize, nb = BatchCount;
        int[] order = o.Shuffle ? _rng.Permutation(n) : Enumerable.Range(0, n).ToArray();
        var tf = _transform;
        int c = o.Channels, h = tf.Height, w = tf.Width, item = c * h * w, classes = _data.Classes.Count;
        int depth = Math.Min(o.Prefetch, Math.Max(1, nb));
        if (_slots.Length != depth || _slots[0].X.Length != bs * item || _slots[0].YHot.Length != (_data.MultiLabel ? bs * classes : 0))
        {
            _slots = new Slot[depth];
            for (int s = 0; s < depth; s++)
                _slots[s] = new Slot { X = new float[bs * item], YInt = new int[bs], YHot = new float[_data.MultiLabel ? bs * classes : 0], Failed = new bool[bs], Indices = new int[bs] };
        }
        var slots = _slots; // this epoch's buffers, whatever a later Resize reallocates
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var queue = new BlockingCollection<Job>();
        var threads = new Thread[Math.Min(o.Workers, bs * depth)];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() => Work(queue, cts.Token)) { IsBackground = true, Name = $"DataLoader worker {t}" };
            threads[t].Start();
        }
        void Enqueue(int b)
        {
            var slot = slots[b % depth];
            int start = b * bs, count = Math.Min(bs, n - start);
            slot.Count = count;
            slot.Remaining = count;
            slot.Error = null;
            slot.Done.Reset();
            for (int p = 0; p < count; p++)
            {
                slot.Indices[p] = order[start + p];
                slot.Failed[p] = false;
                queue.Add(new Job(slot, p, order[start + p], epoch, tf));
            }
        }
        try
        {
            for (int b = 0; b < depth && b < nb; b++) Enqueue(b);
            for (int b = 0; b < nb; b++)
            {
                var slot = slots[b % depth];
                slot.Done.Wait(cts.Token);
                if (slot.Error is { } err) ExceptionDispatchInfo.Capture(err).Throw();
                var batch = MakeBatch(slot, c, h, w, classes);
                if (b + depth < nb) Enqueue(b + depth);
                if (batch is not null) yield return batch;
            }
        }
        finally
        {
            cts.Cancel();
            queue.CompleteAdding();
            foreach (var t in threads) t.Join();
        }
    }

    private Batch? MakeBatch(Slot slot, int c, int h, int w, int classes)
    {
        int item = c * h * w;
        var keep = Enumerable.Range(0, slot.Count).Where(p => !slot.Failed[p]).ToArray();
        if (keep.Length == 0) return null;
        bool full = keep.Length == slot.X.Length / item;
        float[] x = full ? slot.X : new float[keep.Length * item];
        int[] yi = full ? slot.YInt : new int[keep.Length];
        float[] yh = full || !_data.MultiLabel ? slot.YHot : new float[keep.Length * classes];
        if (!full)
            for (int k = 0; k < keep.Length; k++)
            {
                Array.Copy(slot.X, keep[k] * item, x, k * item, item);
                yi[k] = slot.YInt[keep[k]];
                if (_data.MultiLabel) Array.Copy(slot.YHot, keep[k] * classes, yh, k * classes, classes);
            }
        var indices = keep.Select(p => slot.Indices[p]).ToArray();
        var dev = Options.Device;
        return MemoryScope.Outside(() => new Batch(
            Tensor.FromArray(x, new[] { keep.Length, c, h, w }, dev),
            _data.MultiLabel ? Tensor.FromArray(yh, new[] { keep.Length, classes }, dev) : Tensor.FromArray(yi, new[] { keep.Length }, dev),
            indices));
    }

    private void Work(BlockingCollection<Job> queue, CancellationToken token)
    {
        try
        {
            foreach (var job in queue.GetConsumingEnumerable(token))
            {
                var slot = job.Slot;
                try
                {
                    if (slot.Error is null) Prepare(job);
                }
                catch (Exception e)
                {
                    var path = _data.Describe(job.Item);
                    if (Options.SkipUnreadable && e is NativeCnnException)
                    {
                        slot.Failed[job.Pos] = true;
                        Interlocked.Increment(ref _skipped);
                        NativeCnnLogging.Warner<DataLoader>(Options.Warn, Options.Logger)($"warning: skipped item {job.Item}: {e.Message}");
                    }
                    else
                    {
                        var wrapped = e is NativeCnnException ? e : new NativeCnnException($"DataLoader: preparing '{path}' failed: {e.GetType().Name}: {e.Message}");
                        Interlocked.CompareExchange(ref slot.Error, wrapped, null);
                    }
                }
                if (Interlocked.Decrement(ref slot.Remaining) == 0) slot.Done.Set();
            }
        }
        catch (OperationCanceledException) { }
    }

    private void Prepare(Job job)
    {
        var o = Options;
        var slot = job.Slot;
        var tf = job.Transform;
        int c = o.Channels, plane = tf.Height * tf.Width, item = c * plane;
        var img = ChannelAdapter.Adapt(_data.Load(job.Item), c, o.TwoChannelFill, _data.Describe(job.Item));
        var dst = slot.X.AsSpan(job.Pos * item, item);
        tf.Apply(img, dst, o.Train, ItemSeed(job.Epoch, job.Item));
        o.Normalize?.Apply(dst, plane);
        var labels = _data.LabelsOf(job.Item);
        if (_data.MultiLabel)
        {
            int classes = _data.Classes.Count;
            var hot = slot.YHot.AsSpan(job.Pos * classes, classes);
            hot.Clear();
            foreach (int l in labels) hot[l] = 1f;
        }
        else slot.YInt[job.Pos] = labels.Length > 0 ? labels[0] : -1;
    }
}
