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
    /// <summary>The data of a learner: <paramref name="train"/> batches (shuffled, augmented as their source does) and <paramref name="valid"/> batches. Set <see cref="Classes"/>, <see cref="Stats"/>, <see cref="Channels"/> and <see cref="Size"/> in the initializer so the model can be exported (the <see cref="ImageDataBunch"/> factories do).</summary>
    /// <exception cref="ArgumentException">A source is null or the train source yields no batch.</exception>
    public DataBunch(IBatchSource train, IBatchSource valid)
    {
        Train = train ?? throw new NativeCnnException("DataBunch: the train source is null; expected a batch source");
        Valid = valid ?? throw new NativeCnnException("DataBunch: the valid source is null; expected a batch source");
        if (train.BatchCount <= 0)
            throw new NativeCnnException($"DataBunch: the train source yields {train.BatchCount} batches per epoch; expected at least 1");
    }

    /// <summary>The training batches.</summary>
    public IBatchSource Train { get; }
    /// <summary>The validation batches (may yield none: validation is then skipped and its loss is NaN).</summary>
    public IBatchSource Valid { get; }

    // What a trained model must carry with it (interpretation labels, export bundles, cnn_learner):
    // set by whoever builds the bunch; null/0 when unknown.
    /// <summary>Class names in label order (the label vocabulary of the model).</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary>The per-channel statistics the inputs were normalised with.</summary>
    public NormStats? Stats { get; init; }
    /// <summary>Input channels and size (height, width) of the batches.</summary>
    public int Channels { get; init; }
    /// <summary>Input height and width in pixels; (0, 0) when unknown.</summary>
    public (int H, int W) Size { get; init; }
    /// <summary>Targets are multi-hot float vectors (BCE-with-logits) rather than class indices.</summary>
    public bool MultiLabel { get; init; }
    /// <summary>The training transforms (fastai get_transforms' arguments, and what a 2nd/4th channel means);
    /// null when unknown or not image files. Recorded in the export bundle so fine-tuning feeds the same.</summary>
    public NativeCnn.Data.Transforms.AugmentOptions? Augment { get; init; }

    /// <summary>Wraps two MNIST-style <see cref="BatchIterator"/>s; set the recorded settings with <see cref="ImageDataBunch.FromIdx(ImageDataset, ImageDataset, ImageDataOptions?)"/> instead when the model will be exported.</summary>
    public static DataBunch From(BatchIterator train, BatchIterator valid) => new(new BatchIteratorSource(train), new BatchIteratorSource(valid));

    /// <summary>Wraps two <see cref="DataLoader"/>s and records what they say: classes, statistics, channels, size and multi-label.</summary>
    public static DataBunch From(DataLoader train, DataLoader valid) => new(new DataLoaderSource(train), new DataLoaderSource(valid));

    /// <summary>Batches given as in-memory lists (tests, small experiments); each epoch yields them in order.</summary>
    public static DataBunch From(IReadOnlyList<(Tensor X, Tensor Y)> train, IReadOnlyList<(Tensor X, Tensor Y)> valid) =>
        new(new ListSource(train), new ListSource(valid));
}

/// <summary>A <see cref="BatchIterator"/> as a Learner's batch source.</summary>
public sealed class BatchIteratorSource : IBatchSource
{
    private readonly BatchIterator _it;
    /// <summary>Wraps <paramref name="iterator"/>.</summary>
    public BatchIteratorSource(BatchIterator iterator) => _it = iterator ?? throw new NativeCnnException("BatchIteratorSource: the iterator is null");
    /// <inheritdoc/>
    public int BatchCount => _it.BatchCount;
    /// <inheritdoc/>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => _it.Epoch();
}

/// <summary>A <see cref="DataLoader"/> as a Learner's batch source (targets only; the rows' dataset indices are dropped).</summary>
public sealed class DataLoaderSource : IBatchSource
{
    private readonly DataLoader _loader;
    /// <summary>Wraps <paramref name="loader"/>.</summary>
    public DataLoaderSource(DataLoader loader) => _loader = loader ?? throw new NativeCnnException("DataLoaderSource: the loader is null");
    /// <inheritdoc/>
    public int BatchCount => _loader.BatchCount;
    // The loader counts its own epochs (for augmentation seeds), so every pass draws new transforms.
    /// <inheritdoc/>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => Epoch(default);
    /// <summary>One pass; cancelling stops the loader's workers too.</summary>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch(CancellationToken cancellationToken) => _loader.Epoch(cancel: cancellationToken).Select(b => (b.X, b.Y));
}

/// <summary>Batches held in a list (tests, small experiments): each epoch yields them in order, unchanged.</summary>
public sealed class ListSource : IBatchSource
{
    private readonly IReadOnlyList<(Tensor X, Tensor Y)> _batches;
    /// <summary>Wraps <paramref name="batches"/> (inputs and targets already on the model's device).</summary>
    public ListSource(IReadOnlyList<(Tensor X, Tensor Y)> batches) => _batches = batches ?? throw new NativeCnnException("ListSource: the batch list is null");
    /// <inheritdoc/>
    public int BatchCount => _batches.Count;
    /// <inheritdoc/>
    public IEnumerable<(Tensor X, Tensor Y)> Epoch() => _batches;
}
