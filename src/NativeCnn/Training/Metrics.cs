// Validation metrics, fastai v1 semantics, each computed over the whole validation set: a metric
// accumulates counts batch by batch (Reset, Accumulate, Value), so its value equals the metric of
// the concatenated set, not a mean of per-batch means. Parameters are chosen when the metric is made
// (as Python's partial gives). Must hold: predictions are (N, C) scores (logits unless told they are
// probabilities); single-label targets are int32 (N), multi-label targets (N, C) of 0/1.
// Values are read on the host once per validation batch (metrics need them there; training does not).
// A non-finite score (NaN, +-inf) is never counted right: NaN compares false with everything, so a
// plain comparison would count a model that outputs NaN as perfect.
namespace NativeCnn.Training;

/// <summary>A metric accumulated over batches.</summary>
public abstract class Metric
{
    /// <summary>A metric shown as <paramref name="name"/> in tables and the Recorder.</summary>
    protected Metric(string name) => Name = name;

    /// <summary>The name in tables and the Recorder ("accuracy", "error_rate", ...).</summary>
    public string Name { get; }
    /// <summary>Forgets everything accumulated (called before each validation).</summary>
    public abstract void Reset();
    /// <summary>Adds a batch: <paramref name="pred"/> (N, C) scores and <paramref name="target"/> (N) class indices or (N, C) multi-hot.</summary>
    /// <exception cref="ArgumentException">The shapes or types do not fit.</exception>
    public abstract void Accumulate(Tensor pred, Tensor target);
    /// <summary>The value over everything accumulated since Reset (NaN when nothing was).</summary>
    public abstract double Value { get; }

    /// <summary>(N, C) predictions to the host, checked against the target's batch size.</summary>
    protected (float[] Scores, int N, int C) Scores(Tensor pred, Tensor target)
    {
        if (pred.Dim != 2) throw new NativeCnnException($"{Name}: predictions must be (N, C), got shape {Shape.Format(pred.ShapeArray)}");
        if (target.Dim < 1 || target.Size(0) != pred.Size(0))
            throw new NativeCnnException($"{Name}: targets must have the predictions' batch size {pred.Size(0)}, got shape {Shape.Format(target.ShapeArray)}");
        return (pred.ToArray(), pred.Size(0), pred.Size(1));
    }

    /// <summary>The targets as int32 class indices, checked to lie in [0, <paramref name="classes"/>).</summary>
    protected int[] Labels(Tensor target, int classes)
    {
        if (target.DType != DType.Int32 || target.Dim != 1)
            throw new NativeCnnException($"{Name}: targets must be int32 class indices (N), got {target.DType} of shape {Shape.Format(target.ShapeArray)}");
        var y = target.ToInt32Array();
        foreach (var v in y)
            if (v < 0 || v >= classes) throw new NativeCnnException($"{Name}: target class {v} is outside [0, {classes})");
        return y;
    }

    /// <summary>The multi-hot targets (<paramref name="n"/>, <paramref name="c"/>) on the host, shape checked.</summary>
    protected float[] MultiHot(Tensor target, int n, int c)
    {
        if (target.Dim != 2 || target.Size(0) != n || target.Size(1) != c)
            throw new NativeCnnException($"{Name}: multi-label targets must be ({n}, {c}) like the predictions, got shape {Shape.Format(target.ShapeArray)}");
        return target.ToArray();
    }
}

/// <summary>Factories for the fastai metrics.</summary>
public static class Metrics
{
    /// <summary>Fraction of items whose highest score is the target class (the first maximum wins ties).</summary>
    public static Metric Accuracy() => new TopK("accuracy", 1, error: false);

    /// <summary>1 - accuracy.</summary>
    public static Metric ErrorRate() => new TopK("error_rate", 1, error: true);

    /// <summary>Fraction of items whose target class is among the k highest scores.</summary>
    public static Metric TopKAccuracy(int k = 5)
    {
        Check.Positive(k, "TopKAccuracy: k");
        return new TopK(k == 5 ? "top_k_accuracy" : $"top_{k}_accuracy", k, error: false);
    }

    /// <summary>Multi-label: fraction of (item, class) cells where (score > thresh) equals the target.</summary>
    public static Metric AccuracyThresh(float thresh = 0.5f, bool sigmoid = true) => new AccThresh(thresh, sigmoid);

    /// <summary>Multi-label F-beta per item (precision and recall of score > thresh), averaged over items.</summary>
    public static Metric FBeta(float beta = 2f, float thresh = 0.2f, bool sigmoid = true, float eps = 1e-9f) => new FBetaMetric(beta, thresh, sigmoid, eps);

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static bool AllFinite(float[] s, int start, int count)
    {
        foreach (var v in s.AsSpan(start, count)) if (!float.IsFinite(v)) return false;
        return true;
    }

    private sealed class TopK : Metric
    {
        private readonly int _k;
        private readonly bool _error;
        private long _hits, _count;

        public TopK(string name, int k, bool error) : base(name) { _k = k; _error = error; }

        public override void Reset() { _hits = 0; _count = 0; }

        public override void Accumulate(Tensor pred, Tensor target)
        {
            var (s, n, c) = Scores(pred, target);
            var y = Labels(target, c);
            for (int i = 0; i < n; i++)
            {
                if (!AllFinite(s, i * c, c)) continue;   // counted, never a hit
                // Rank of the target: scores strictly above it, and equal ones before it (argmax's first-wins rule).
                float t = s[i * c + y[i]];
                int above = 0;
                for (int j = 0; j < c; j++)
                {
                    float v = s[i * c + j];
                    if (v > t || (v == t && j < y[i])) above++;
                }
                if (above < _k) _hits++;
            }
            _count += n;
        }

        public override double Value => _count == 0 ? double.NaN : _error ? 1 - (double)_hits / _count : (double)_hits / _count;
    }

    private sealed class AccThresh : Metric
    {
        private readonly float _thresh;
        private readonly bool _sigmoid;
        private long _hits, _count;

        public AccThresh(float thresh, bool sigmoid) : base("accuracy_thresh") { _thresh = thresh; _sigmoid = sigmoid; }

        public override void Reset() { _hits = 0; _count = 0; }

        public override void Accumulate(Tensor pred, Tensor target)
        {
            var (s, n, c) = Scores(pred, target);
            var y = MultiHot(target, n, c);
            for (int i = 0; i < s.Length; i++)
            {
                if (!float.IsFinite(s[i])) continue;   // counted, never a hit
                double p = _sigmoid ? Sigmoid(s[i]) : s[i];
                if ((p > _thresh) == (y[i] != 0)) _hits++;
            }
            _count += s.Length;
        }

        public override double Value => _count == 0 ? double.NaN : (double)_hits / _count;
    }

    private sealed class FBetaMetric : Metric
    {
        private readonly float _beta, _thresh, _eps;
        private readonly bool _sigmoid;
        private double _sum;
        private long _count;

        public FBetaMetric(float beta, float thresh, bool sigmoid, float eps) : base("fbeta")
        {
            if (!(beta > 0)) throw new NativeCnnException($"FBeta: beta must be > 0, got {beta}");
            _beta = beta; _thresh = thresh; _sigmoid = sigmoid; _eps = eps;
        }

        public override void Reset() { _sum = 0; _count = 0; }

        public override void Accumulate(Tensor pred, Tensor target)
        {
            var (s, n, c) = Scores(pred, target);
            var y = MultiHot(target, n, c);
            double beta2 = (double)_beta * _beta;
            for (int i = 0; i < n; i++)
            {
                if (!AllFinite(s, i * c, c)) continue;   // an item with a non-finite score scores 0
                double tp = 0, predicted = 0, actual = 0;
                for (int j = 0; j < c; j++)
                {
                    double p = _sigmoid ? Sigmoid(s[i * c + j]) : s[i * c + j];
                    double hit = p > _thresh ? 1 : 0;
                    tp += hit * y[i * c + j];
                    predicted += hit;
                    actual += y[i * c + j];
                }
                // fastai v1's fbeta, eps included, so an item with nothing predicted scores 0, not NaN.
                double prec = tp / (predicted + _eps), rec = tp / (actual + _eps);
                _sum += prec * rec / (prec * beta2 + rec + _eps) * (1 + beta2);
            }
            _count += n;
        }

        public override double Value => _count == 0 ? double.NaN : _sum / _count;
    }
}
