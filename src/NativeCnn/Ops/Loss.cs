// Losses, each the mean over its elements: cross-entropy on logits with integer labels (and
// PyTorch's label smoothing), binary cross-entropy on logits, mean squared error. Cross-entropy
// and BCE have their own primitives (stable formulas, one pass); MSE is composed from existing ops.
// Labels are checked on the host before any kernel runs, so a bad label is a clear error naming
// its row, never an out-of-range index deep inside a kernel.
using NativeCnn.Autograd;

namespace NativeCnn;

public static partial class F
{
    /// <summary>Mean over the batch of -log softmax(logits)[label], with label smoothing as in
    /// torch.nn.functional.cross_entropy: (1 - eps) * nll + eps * mean over classes of -log p.</summary>
    /// <param name="logits">(N, C) floating point.</param>
    /// <param name="labels">(N) int32 class indices in [0, C).</param>
    /// <param name="labelSmoothing">eps in [0, 1]; 0 is the plain negative log-likelihood.</param>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, float labelSmoothing = 0f)
    {
        const string op = "CrossEntropy";
        Check.SameDevice(op, logits, labels);
        Check.Float(logits, op, "logits");
        Check.Rank(logits, 2, op, "logits (N, C)");
        Check.That(labels.DType == DType.Int32, $"{op}: labels must be an Int32 tensor of class indices, got {labels.DType}");
        Check.Rank(labels, 1, op, "labels (N)");
        int rows = logits.Size(0), classes = logits.Size(1);
        Check.That(labels.Size(0) == rows, $"{op}: labels has {labels.Size(0)} entries but logits has {rows} rows");
        Check.That(rows > 0, $"{op}: logits has no rows; the mean over an empty batch is undefined");
        Check.That(labelSmoothing >= 0f && labelSmoothing <= 1f, $"{op}: labelSmoothing must be in [0, 1], got {labelSmoothing}");
        CheckLabels(labels, classes, op);

        var backend = logits.Backend;
        var x = logits.Dense32();
        var lab = labels.IsDense ? labels : labels.ContiguousCopy();
        var losses = Tensor.Empty(new[] { rows }, DType.Float32, backend);
        backend.CrossEntropyForward(x.Storage, lab.Storage, losses.Storage, rows, classes, labelSmoothing);
        var perRow = Engine.Record("cross_entropy", losses, new[] { logits }, g =>
        {
            var gl = g.Dense32();
            var gx = Tensor.Empty(new[] { rows, classes }, DType.Float32, backend);
            backend.CrossEntropyBackward(x.Storage, lab.Storage, gl.Storage, gx.Storage, rows, classes, labelSmoothing);
            return new[] { gx };
        });
        return perRow.Mean();
    }

    /// <summary>Mean of max(x, 0) - x * t + log(1 + exp(-|x|)): binary cross-entropy of sigmoid(x)
    /// against targets t in [0, 1], stable for logits of any magnitude.</summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets)
    {
        const string op = "BinaryCrossEntropyWithLogits";
        CheckLossPair(op, logits, "logits", targets, "targets");

        var backend = logits.Backend;
        var shape = logits.ShapeArray;
        int n = logits.Numel;
        var x = logits.Dense32();
        var t = targets.Dense32();
        var losses = Tensor.Empty(shape, DType.Float32, backend);
        backend.BceWithLogitsForward(x.Storage, t.Storage, losses.Storage, n);
        var elementwise = Engine.Record("binary_cross_entropy_with_logits", losses, new[] { logits, targets }, g =>
        {
            var gl = g.Dense32();
            var gx = Tensor.Empty(shape, DType.Float32, backend);
            var gt = targets.RequiresGrad ? Tensor.Empty(shape, DType.Float32, backend) : null;
            backend.BceWithLogitsBackward(x.Storage, t.Storage, gl.Storage, gx.Storage, gt?.Storage, n);
            return new Tensor?[] { logits.RequiresGrad ? gx : null, gt };
        });
        return elementwise.Mean();
    }

    /// <summary>Mean of (x - target)^2 over all elements.</summary>
    public static Tensor MseLoss(Tensor x, Tensor target)
    {
        const string op = "MseLoss";
        CheckLossPair(op, x, "input", target, "target");
        var diff = x - target;
        return (diff * diff).Mean();
    }

    /// <summary>A prediction and its target for an elementwise loss: one device, floating point,
    /// the same shape, not empty (the mean of nothing is undefined).</summary>
    private static void CheckLossPair(string op, Tensor a, string aName, Tensor b, string bName)
    {
        Check.SameDevice(op, a, b);
        Check.Float(a, op, aName);
        Check.Float(b, op, bName);
        if (!Shape.Equal(a.ShapeArray, b.ShapeArray))
            throw new NativeCnnException($"{op}: {bName} must have the shape of {aName} {Shape.Format(a.ShapeArray)}, got {Shape.Format(b.ShapeArray)}");
        Check.That(a.Numel > 0, $"{op}: the inputs are empty; the mean is undefined");
    }

    /// <summary>Every label in [0, classes); the first bad one is named with its row.</summary>
    private static void CheckLabels(Tensor labels, int classes, string op)
    {
        var values = labels.ToInt32Array();
        for (int i = 0; i < values.Length; i++)
            if ((uint)values[i] >= (uint)classes)
                throw new NativeCnnException($"{op}: label {values[i]} at row {i} is out of range; expected a class index in [0, {classes - 1}] for logits with {classes} classes");
    }
}
