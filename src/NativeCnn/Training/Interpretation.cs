// fastai v1's ClassificationInterpretation: the model's predictions on the validation set with their
// per-item losses, the confusion matrix (counts and row-normalised), most_confused, top_losses, and a
// PNG grid of the top-loss images. Must hold: softmax probabilities and per-item cross-entropy are
// computed on the host in float64 from the float32 logits (loss_i = logsumexp(z_i) - z_i[y_i]), so
// they agree with a float64 reference to rounding; the predicted class is the first maximum; item
// indices are positions in one pass over the validation source (the dataset order when it is not
// shuffled); the model's training mode is restored after the pass; only the inputs of the current
// worst `keepImages` items are copied to the host, so memory does not grow with the validation set.
using NativeCnn.Autograd;
using NativeCnn.Data;
using NativeCnn.Reports;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Training;

/// <summary>fastai's ClassificationInterpretation: the validation set's predictions, losses and targets; confusion matrix, most confused pairs and top losses.</summary>
public sealed class ClassificationInterpretation
{
    private readonly double[] _probs;                         // (N, C) row-major
    private readonly Dictionary<int, float[]> _images;       // item index -> (channels, H, W) as fed to the model

    private ClassificationInterpretation(double[] probs, int[] predicted, int[] actual, double[] losses, IReadOnlyList<string> classes,
                                         Dictionary<int, float[]> images, (int C, int H, int W) imageShape, NormStats? stats)
    {
        _probs = probs;
        Predicted = predicted;
        Actual = actual;
        Losses = losses;
        Classes = classes;
        _images = images;
        ImageShape = imageShape;
        Stats = stats;
    }

    /// <summary>Class names in label order.</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>Number of validation items.</summary>
    public int Count => Actual.Count;
    /// <summary>Number of classes.</summary>
    public int ClassCount => Classes.Count;
    /// <summary>Per item: the class with the highest score (the first on ties).</summary>
    public IReadOnlyList<int> Predicted { get; }
    /// <summary>Per item: the target class.</summary>
    public IReadOnlyList<int> Actual { get; }
    /// <summary>Per item: the unreduced cross-entropy, float64.</summary>
    public IReadOnlyList<double> Losses { get; }
    /// <summary>Shape of the kept input images (0s when none were kept).</summary>
    public (int C, int H, int W) ImageShape { get; }
    /// <summary>The statistics the inputs were normalised with (used to show them); null: shown as given.</summary>
    public NormStats? Stats { get; }
    /// <summary>Indices of the items whose input image was kept (the worst items of the pass).</summary>
    public IReadOnlyCollection<int> ImageIndices => _images.Keys;

    /// <summary>Softmax probability of class <paramref name="cls"/> for item <paramref name="item"/>.</summary>
    public double Prob(int item, int cls)
    {
        CheckItem(item, "Prob");
        if (cls < 0 || cls >= ClassCount) throw new NativeCnnException($"Interpretation.Prob: class {cls} is outside [0, {ClassCount})");
        return _probs[item * ClassCount + cls];
    }

    /// <summary>The input of item <paramref name="item"/> as fed to the model, (C, H, W), if it was kept.</summary>
    public float[]? ImageOf(int item) => _images.TryGetValue(item, out var x) ? x : null;

    /// <summary>Runs the validation set of <paramref name="learn"/> once (Eval mode, NoGrad) and gathers the predictions.
    /// The inputs of the <paramref name="keepImages"/> highest-loss items are kept for <see cref="PlotTopLosses"/>.</summary>
    public static ClassificationInterpretation FromLearner(Learner learn, int keepImages = 16)
    {
        ArgumentNullException.ThrowIfNull(learn);
        if (keepImages < 0) throw new NativeCnnException($"Interpretation: keepImages must be >= 0, got {keepImages}");
        if (learn.Data.MultiLabel)
            throw new NativeCnnException("Interpretation: the learner's data is multi-label; ClassificationInterpretation needs single-label class indices");
        var logits = new List<float>();
        var actual = new List<int>();
        var losses = new List<double>();
        int classes = -1;
        (int C, int H, int W) shape = (0, 0, 0);
        // The worst items so far, smallest loss first, so the one to evict is at the top.
        var worst = new PriorityQueue<int, (double Loss, int NegIndex)>();
        var images = new Dictionary<int, float[]>();
        var model = learn.Model;
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var noGrad = new NoGrad();
            foreach (var (x, y) in learn.Data.Valid.Epoch())
            {
                using (MemoryScope.Begin())
                {
                    var pred = model.Forward(x);
                    if (pred.Dim != 2 || pred.Size(0) != x.Size(0))
                        throw new NativeCnnException($"Interpretation: the model must return (N, classes) scores for a batch of {x.Size(0)}, got shape {Shape.Format(pred.ShapeArray)}");
                    if (y.DType != DType.Int32 || y.Dim != 1 || y.Size(0) != x.Size(0))
                        throw new NativeCnnException($"Interpretation: targets must be int32 class indices ({x.Size(0)}), got {y.DType} of shape {Shape.Format(y.ShapeArray)}");
                    int n = pred.Size(0), c = pred.Size(1);
                    if (classes < 0) classes = c;
                    else if (c != classes) throw new NativeCnnException($"Interpretation: the model returned {c} scores per item after {classes} in earlier batches");
                    var z = pred.ToArray();
                    var t = y.ToInt32Array();
                    int first = actual.Count;
                    for (int i = 0; i < n; i++)
                    {
                        if (t[i] < 0 || t[i] >= c) throw new NativeCnnException($"Interpretation: target class {t[i]} of item {first + i} is outside [0, {c})");
                        losses.Add(CrossEntropy(z.AsSpan(i * c, c), t[i]));
                        actual.Add(t[i]);
                    }
                    logits.AddRange(z);
                    if (keepImages > 0 && x.Dim == 4)
                    {
                        shape = (x.Size(1), x.Size(2), x.Size(3));
                        for (int i = 0; i < n; i++)
                        {
                            int idx = first + i;
                            var key = (losses[idx], -idx);   // ties: the earlier item ranks worse, as the sort in TopLosses
                            if (worst.Count == keepImages)
                            {
                                worst.TryPeek(out _, out var least);
                                if (key.CompareTo(least) <= 0) continue;
                                images.Remove(worst.Dequeue());
                            }
                            worst.Enqueue(idx, key);
                            // Only this item's row comes to the host.
                            images[idx] = x.Slice(0, i, i + 1).ToArray();
                        }
                    }
                }
            }
        }
        finally { model.Train(wasTraining); }
        if (actual.Count == 0) throw new NativeCnnException("Interpretation: the validation set yielded no items");
        var names = ClassNames(learn.Data.Classes, classes, "learner data");
        var z64 = logits.Select(v => (double)v).ToArray();
        return new ClassificationInterpretation(Softmax(z64, classes), Argmax(z64, classes), actual.ToArray(), losses.ToArray(), names, images, shape, learn.Data.Stats);
    }

    /// <summary>An interpretation of given logits (N, C) and targets; probabilities and losses are computed in float64.
    /// <paramref name="images"/> optionally maps item indices to their (C, H, W) inputs of shape <paramref name="imageShape"/>.</summary>
    public static ClassificationInterpretation FromPredictions(double[,] logits, IReadOnlyList<int> actual, IReadOnlyList<string>? classes = null,
                                                               IReadOnlyDictionary<int, float[]>? images = null, (int C, int H, int W) imageShape = default,
                                                               NormStats? stats = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(actual);
        int n = logits.GetLength(0), c = logits.GetLength(1);
        if (n == 0 || c == 0) throw new NativeCnnException($"Interpretation: logits must be (N, C) with N, C >= 1, got ({n}, {c})");
        if (actual.Count != n) throw new NativeCnnException($"Interpretation: {n} rows of logits but {actual.Count} targets");
        var flat = new double[n * c];
        var losses = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (actual[i] < 0 || actual[i] >= c) throw new NativeCnnException($"Interpretation: target class {actual[i]} of item {i} is outside [0, {c})");
            for (int j = 0; j < c; j++) flat[i * c + j] = logits[i, j];
            losses[i] = CrossEntropy(flat.AsSpan(i * c, c), actual[i]);
        }
        var kept = new Dictionary<int, float[]>();
        if (images is not null)
            foreach (var (idx, px) in images)
            {
                if (idx < 0 || idx >= n) throw new NativeCnnException($"Interpretation: image index {idx} is outside [0, {n})");
                int want = imageShape.C * imageShape.H * imageShape.W;
                if (want == 0 || px.Length != want)
                    throw new NativeCnnException($"Interpretation: image {idx} has {px.Length} values; imageShape {imageShape} needs {want}");
                kept[idx] = px;
            }
        return new ClassificationInterpretation(Softmax(flat, c), Argmax(flat, c), actual.ToArray(), losses, ClassNames(classes, c, "classes"), kept, imageShape, stats);
    }

    /// <summary>counts[actual, predicted] over all items (rows: actual class, columns: predicted, as fastai).</summary>
    public int[,] ConfusionMatrix()
    {
        var cm = new int[ClassCount, ClassCount];
        for (int i = 0; i < Count; i++) cm[Actual[i], Predicted[i]]++;
        return cm;
    }

    /// <summary>Each row of the confusion matrix divided by its sum (the fraction of each actual class
    /// predicted as each class); a class with no items has a row of NaN, as fastai's numpy division gives.</summary>
    public double[,] ConfusionMatrixNormalized()
    {
        var cm = ConfusionMatrix();
        var r = new double[ClassCount, ClassCount];
        for (int i = 0; i < ClassCount; i++)
        {
            long sum = 0;
            for (int j = 0; j < ClassCount; j++) sum += cm[i, j];
            for (int j = 0; j < ClassCount; j++) r[i, j] = sum == 0 ? double.NaN : (double)cm[i, j] / sum;
        }
        return r;
    }

    /// <summary>Off-diagonal cells of the confusion matrix with at least <paramref name="minVal"/> items as
    /// (actual, predicted, count), highest count first; equal counts keep row-major order (fastai's stable sort).</summary>
    public IReadOnlyList<(string Actual, string Predicted, int Count)> MostConfused(int minVal = 1)
    {
        var cm = ConfusionMatrix();
        var res = new List<(string, string, int)>();
        for (int i = 0; i < ClassCount; i++)
            for (int j = 0; j < ClassCount; j++)
                if (i != j && cm[i, j] >= minVal && cm[i, j] > 0) res.Add((Classes[i], Classes[j], cm[i, j]));
        return res.OrderByDescending(t => t.Item3).ToList();
    }

    /// <summary>The <paramref name="k"/> highest (or lowest) per-item losses as (loss, item index), sorted; all items when k is null.
    /// Equal losses are ordered by item index.</summary>
    public IReadOnlyList<(double Loss, int Index)> TopLosses(int? k = null, bool largest = true)
    {
        int take = k ?? Count;
        if (take < 0) throw new NativeCnnException($"Interpretation.TopLosses: k must be >= 0, got {take}");
        var idx = Enumerable.Range(0, Count);
        var sorted = largest ? idx.OrderByDescending(i => Losses[i]).ThenBy(i => i) : idx.OrderBy(i => Losses[i]).ThenBy(i => i);
        return sorted.Take(take).Select(i => (Losses[i], i)).ToList();
    }

    /// <summary>fastai's plot_confusion_matrix: the matrix as an SVG heat map (counts, or row fractions with <paramref name="normalize"/>).</summary>
    public string PlotConfusionMatrix(bool normalize = false, string title = "Confusion matrix") =>
        Plots.ConfusionMatrix(ConfusionMatrix(), Classes, normalize, title);

    /// <summary>A grid of the <paramref name="k"/> highest-loss images (grey or RGB; a 2nd or 4th channel as its own grey tile beside them), each labelled "prediction/actual" and
    /// "loss/probability of the actual class" (fastai's plot_top_losses title), de-normalised with <see cref="Stats"/>.</summary>
    public Image<Rgb24> PlotTopLosses(int k = 9, int? cols = null, int zoom = 0)
    {
        Check.Positive(k, "Interpretation.PlotTopLosses: k");
        var top = TopLosses(Math.Min(k, Count));
        if (ImageShape.C == 0)
            throw new NativeCnnException("Interpretation.PlotTopLosses: no input images were kept; the inputs must be (N, C, H, W) images " +
                                         "and the interpretation made with keepImages > 0");
        var missing = top.Where(t => !_images.ContainsKey(t.Index)).Select(t => t.Index).ToList();
        if (missing.Count > 0)
            throw new NativeCnnException($"Interpretation.PlotTopLosses: the input images of items {string.Join(", ", missing.Take(5))} were not kept " +
                                         $"({_images.Count} kept); make the interpretation with keepImages >= {k}");
        var (shown, h, tileW) = ShownShape();
        int tile = h * tileW;
        var pixels = new float[top.Count * shown * tile];
        var labels = new string[top.Count];
        for (int n = 0; n < top.Count; n++)
        {
            var (loss, item) = top[n];
            ShownPixels(item, pixels.AsSpan(n * shown * tile, shown * tile));
            labels[n] = FormattableString.Invariant($"{Classes[Predicted[item]]}/{Classes[Actual[item]]}\n{loss:F2}/{Prob(item, Actual[item]):F2}");
        }
        var w = ImageShape.W;
        int nc = cols ?? (int)Math.Ceiling(Math.Sqrt(top.Count));
        int rows = (top.Count + nc - 1) / nc;
        // Magnify small images so the two label lines (about 10 characters of 8 pixels) fit under each.
        int z = zoom > 0 ? zoom : Math.Max(1, (int)Math.Ceiling(96.0 / w));
        return ImageGrid.Render(pixels, shown, h, tileW, labels, rows, nc, z);
    }

    /// <summary>The kept input image of <paramref name="item"/> as a person sees it (de-normalised; grey or RGB, a 2nd or
    /// 4th channel as a grey tile beside it), at its own size; no label (the HTML report writes captions as text).</summary>
    /// <exception cref="ArgumentException">The item's image was not kept.</exception>
    public Image<Rgb24> ImageView(int item)
    {
        CheckItem(item, "ImageView");
        if (!_images.ContainsKey(item))
            throw new NativeCnnException($"Interpretation.ImageView: the input image of item {item} was not kept ({_images.Count} kept); make the interpretation with a larger keepImages");
        var (shown, h, tileW) = ShownShape();
        var pixels = new float[shown * h * tileW];
        ShownPixels(item, pixels);
        return ImageGrid.RenderImage(pixels, shown, h, tileW);
    }

    // What a person can see: grey (1) or RGB (3) as they are; with 2 or 4 channels the first 1 or 3 as
    // grey/RGB and the extra channel beside them as its own grey tile (so each picture is 2w wide).
    private (int Shown, int H, int TileW) ShownShape()
    {
        var (ch, h, w) = ImageShape;
        if (ch is < 1 or > 4) throw new NativeCnnException($"Interpretation: images have {ch} channels; expected 1 to 4");
        if (Stats is not null && Stats.Channels != ch)
            throw new NativeCnnException($"Interpretation: the statistics have {Stats.Channels} channels but the images {ch}");
        return (ch >= 3 ? 3 : 1, h, ch is 2 or 4 ? 2 * w : w);
    }

    // The de-normalised picture of a kept item into dst ((shown, h, tileW) planes).
    private void ShownPixels(int item, Span<float> dst)
    {
        var (ch, h, w) = ImageShape;
        var (shown, _, tileW) = ShownShape();
        int plane = h * w, tile = h * tileW;
        var src = _images[item];
        for (int c = 0; c < ch; c++)
        {
            float m = Stats?.Mean[c] ?? 0f, s = Stats?.Std[c] ?? 1f;
            bool extra = c == shown;   // the 2nd of 2, or the 4th of 4
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float v = src[c * plane + y * w + x] * s + m;
                    if (!extra) dst[c * tile + y * tileW + x] = v;
                    else for (int o = 0; o < shown; o++) dst[o * tile + y * tileW + w + x] = v;
                }
        }
    }

    /// <summary><see cref="PlotTopLosses"/> written as a PNG file.</summary>
    public void WriteTopLossesPng(string path, int k = 9, int? cols = null)
    {
        using var img = PlotTopLosses(k, cols);
        ReportFiles.WriteAtomically(path, s => img.SaveAsPng(s));
    }

    private void CheckItem(int item, string where)
    {
        if (item < 0 || item >= Count) throw new NativeCnnException($"Interpretation.{where}: item {item} is outside [0, {Count})");
    }

    private static IReadOnlyList<string> ClassNames(IReadOnlyList<string>? given, int c, string what)
    {
        if (given is null) return Enumerable.Range(0, c).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (given.Count != c) throw new NativeCnnException($"Interpretation: {what} names {given.Count} classes but the model scores {c}");
        return given.ToArray();
    }

    private static double CrossEntropy(ReadOnlySpan<float> z, int y)
    {
        Span<double> d = z.Length <= 256 ? stackalloc double[z.Length] : new double[z.Length];
        for (int j = 0; j < z.Length; j++) d[j] = z[j];
        return CrossEntropy(d, y);
    }

    private static double CrossEntropy(ReadOnlySpan<double> z, int y)
    {
        double max = double.NegativeInfinity;
        foreach (var v in z) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in z) sum += Math.Exp(v - max);
        return max + Math.Log(sum) - z[y];
    }

    private static double[] Softmax(double[] z, int c)
    {
        var p = new double[z.Length];
        for (int r = 0; r < z.Length / c; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < c; j++) max = Math.Max(max, z[r * c + j]);
            for (int j = 0; j < c; j++) sum += p[r * c + j] = Math.Exp(z[r * c + j] - max);
            for (int j = 0; j < c; j++) p[r * c + j] /= sum;
        }
        return p;
    }

    // On the logits, not the probabilities: exp may round two close logits to one probability.
    private static int[] Argmax(double[] p, int c)
    {
        var a = new int[p.Length / c];
        for (int r = 0; r < a.Length; r++)
        {
            int best = 0;
            for (int j = 1; j < c; j++) if (p[r * c + j] > p[r * c + best]) best = j;
            a[r] = best;
        }
        return a;
    }
}
