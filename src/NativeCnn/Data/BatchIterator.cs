// Mini-batches of an ImageDataset as (x: (B, 1, H, W) float32 normalised, y: (B) int32) tensors on
// the iterator's device. Pixels are normalised once ((v/255 - mean)/std); each epoch stages the
// (optionally shuffled) images and labels on the device in one copy each and yields views of them,
// so a training step receives its batch without a copy or a new buffer. The epoch's buffers go back
// to the device's pool when the next epoch begins, so after the first epoch no new buffers are made.
// Must hold: shuffling draws from the given Rng only (one seed reproduces the order); every image
// appears exactly once per epoch (minus the short last batch when dropLast); a batch used after the
// next epoch began is an error (the pool took its memory back), never stale data.

namespace NativeCnn.Data;

/// <summary>Mini-batches of an <see cref="ImageDataset"/> as (x: (B, 1, H, W) float32 normalised, y: (B) int32) on a device, staged once per epoch and yielded as views (no per-batch copy): the fast path for IDX data.</summary>
public sealed class BatchIterator
{
    private readonly ImageDataset _data;
    private readonly float[] _normalised;
    private readonly Rng _rng;
    private readonly Device _device;
    private Tensor[] _staged = Array.Empty<Tensor>();

    /// <summary>Batches of <paramref name="batchSize"/> images of <paramref name="data"/>, shuffled each epoch by <paramref name="rng"/> (null: <see cref="Rng.Global"/>) when <paramref name="shuffle"/>, without the short last batch when <paramref name="dropLast"/>; pixels become (v / 255 - <paramref name="mean"/>) / <paramref name="std"/>; made on <paramref name="device"/> (the CPU if null).</summary>
    /// <exception cref="ArgumentException">The batch size or std is not positive, or dropLast would leave no batch.</exception>
    public BatchIterator(ImageDataset data, int batchSize, bool shuffle, bool dropLast = false, Rng? rng = null,
                         float mean = Mnist.Mean, float std = Mnist.Std, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        Check.Positive(batchSize, "BatchIterator: batch size");
        if (!(std > 0)) throw new NativeCnnException($"BatchIterator: std must be > 0, got {std}");
        if (dropLast && batchSize > data.Count)
            throw new NativeCnnException($"BatchIterator: batch size {batchSize} is larger than the {data.Count} images of '{data.Name}', and dropLast would leave no batch");
        _data = data;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        _rng = rng ?? Rng.Global;
        _device = device ?? Device.Cpu;
        _ = Tensor.BackendFor(_device);   // an unavailable device fails here, not at the first batch
        _normalised = new float[data.Pixels.Length];
        float scale = 1f / (255f * std), shift = -mean / std;
        for (int i = 0; i < _normalised.Length; i++) _normalised[i] = data.Pixels[i] * scale + shift;
    }

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch draws a new order.</summary>
    public bool Shuffle { get; }
    /// <summary>Whether the short last batch is left out.</summary>
    public bool DropLast { get; }
    /// <summary>Number of images.</summary>
    public int Count => _data.Count;

    /// <summary>Where the batches are made.</summary>
    public Device Device => _device;

    /// <summary>Batches per epoch.</summary>
    public int BatchCount => DropLast ? _data.Count / BatchSize : (_data.Count + BatchSize - 1) / BatchSize;

    /// <summary>One pass over the data; with Shuffle, a new order each call. The batches are views of
    /// the epoch's staged tensors and stay valid until the next call's enumeration begins.</summary>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch()
    {
        int n = _data.Count, h = _data.Height, w = _data.Width, size = h * w;
        int[] order = Shuffle ? _rng.Permutation(n) : Enumerable.Range(0, n).ToArray();
        var pixels = new float[n * size];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            Array.Copy(_normalised, (long)order[i] * size, pixels, (long)i * size, size);
            labels[i] = _data.Labels[order[i]];
        }
        // The previous epoch's buffers return to the pool, so the uploads below reuse them.
        foreach (var s in _staged) s.ReleaseStorage();
        // Made outside any step's MemoryScope: the epoch's tensors outlive every step.
        var (xs, ys) = MemoryScope.Outside(() => (Tensor.FromArray(pixels, new[] { n, 1, h, w }, _device), Tensor.FromArray(labels, new[] { n }, _device)));
        _staged = new[] { xs, ys };
        for (int b = 0; b < BatchCount; b++)
        {
            int start = b * BatchSize, end = Math.Min(n, start + BatchSize);
            yield return (xs.Slice(0, start, end), ys.Slice(0, start, end));
        }
    }
}
