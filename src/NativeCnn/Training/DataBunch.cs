// The data a Learner trains on: a train and a valid source of (x, y) batches on the model's device.
// Adapters wrap the MNIST BatchIterator and the image DataLoader; tests may pass any IBatchSource.
// Must hold: each Epoch() call is one full pass; a batch stays valid until the next batch is asked
// for (the Learner never keeps one longer); BatchCount is the number of batches Epoch() yields.
using NativeCnn.Data;

namespace NativeCnn.Training;

/// <summary>A source of mini-batches, one pass per <see cref="Epoch()"/> call.</summary>
public interface IBatchSource
{
    /// <summary>Batches one <see cref="Epoch()"/> call yields.</summary>
    int BatchCount { get; }
    /// <summary>One pass over the data as (inputs, targets) batches on the model's device; a batch stays valid
    /// until the next one is asked for.</summary>
    IEnumerable<(Tensor X, Tensor Y)> Epoch();
    /// <summary>One pass that stops (with <see cref="OperationCanceledException"/>) once
    /// <paramref name="cancellationToken"/> is cancelled; by default <see cref="Epoch()"/>, which the Learner
    /// then stops between batches.</summary>
    IEnumerable<(Tensor X, Tensor Y)> Epoch(CancellationToken cancellationToken) => Epoch();
}

/// <summary>The train and valid batch sources of a Learner.</summary>
public sealed class DataBunch
{
    public DataBunch(IBatchSource train, IBatchSource valid)
    {
        Train = train ?? throw new NativeCnnException("DataBunch: the train source is null; expected a batch source");
        Valid = valid ?? throw new NativeCnnException("DataBunch: the valid source is null; expected a batch source");
        if (train.BatchCount <= 0)
            throw new NativeCnnException($"DataBunch: the train source yields {train.BatchCount} batches per epoch; expected at least 1");
    }

    public IBatchSource Train { get; }
    public IBatchSource Valid { get; }

    // What a trained model must carry with it (interpretation labels, export bundles, cnn_learner):
    // set by whoever builds the bunch; null/0 when unknown.
    /// <summary>Class names in label order (the label vocabulary of the model).</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary>The per-channel statistics the inputs were normalised with.</summary>
    public NormStats? Stats { get; init; }
    /// <summary>Input channels and size (height, width) of the batches.</summary>
    public int Channels { get; init; }
    public (int H, int W) Size { get; init; }
    /// <summary>Targets are multi-hot float vectors (BCE-with-logits) rather than class indices.</summary>
    public bool MultiLabel { get; init; }

    public static DataBunch From(BatchIterator train, BatchIterator valid) => new(new BatchIteratorSource(train), new BatchIteratorSource(valid));

    public static DataBunch From(DataLoader train, DataLoader valid) => new(new DataLoaderSource(train), new DataLoaderSource(valid));

    /// <summary>Batches given as in-memory lists (tests, small experiments); each epoch yields them in order.</summary>
    public static DataBunch From(IReadOnlyList<(Tensor X, Tensor Y)> train, IReadOnlyList<(Tensor X, Tensor Y)> valid) =>
        new(new ListSource(train), new ListSource(valid));
}

public sealed class BatchIteratorSource : IBatchSource
{
    private readonly BatchIterator _it;
    public BatchIteratorSource(BatchIterator iterator) => _it = iterator ?? throw new NativeCnnException("BatchIteratorSource: the iterator is null");
    public int BatchCount => _it.BatchCount;
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => _it.Epoch();
}

public sealed class DataLoaderSource : IBatchSource
{
    private readonly DataLoader _loader;
    public DataLoaderSource(DataLoader loader) => _loader = loader ?? throw new NativeCnnException("DataLoaderSource: the loader is null");
    public int BatchCount => _loader.BatchCount;
    // The loader counts its own epochs (for augmentation seeds), so every pass draws new transforms.
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => Epoch(default);
    /// <summary>One pass; cancelling stops the loader's workers too.</summary>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch(CancellationToken cancellationToken) => _loader.Epoch(cancel: cancellationToken).Select(b => (b.X, b.Y));
}

public sealed class ListSource : IBatchSource
{
    private readonly IReadOnlyList<(Tensor X, Tensor Y)> _batches;
    public ListSource(IReadOnlyList<(Tensor X, Tensor Y)> batches) => _batches = batches ?? throw new NativeCnnException("ListSource: the batch list is null");
    public int BatchCount => _batches.Count;
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => _batches;
}
