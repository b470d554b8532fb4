// Fused optimizer updates used by Optim/: one backend call per parameter tensor, in place and never
// recorded by autograd. Must always hold: the parameter and the optimizer state are dense float32
// tensors of one shape (they are written in place); the gradient may be any layout or float16 and
// is read as float32.
namespace NativeCnn;

internal static class OptimOps
{
    /// <summary>torch.optim.SGD's update of one parameter: g = grad + weightDecay * param; with
    /// momentum, buf = g on <paramref name="firstStep"/>, else momentum * buf + (1 - dampening) * g,
    /// and g = nesterov ? g + momentum * buf : buf; then param -= lr * g.
    /// <paramref name="momentumBuffer"/> is required when momentum != 0; without momentum nesterov has no
    /// effect (as in torch, whose constructor rejects that combination: the SGD class checks it).</summary>
    public static void SgdStep(Tensor param, Tensor grad, Tensor? momentumBuffer, float lr, float momentum, float dampening,
                               float weightDecay, bool nesterov, bool firstStep)
    {
        const string op = "SgdStep";
        CheckState(op, "param", param, param);
        var g = CheckGrad(op, param, grad);
        if (momentum != 0)
        {
            if (momentumBuffer is null)
                throw new NativeCnnException($"{op}: momentum is {momentum} but no momentum buffer was given");
            CheckState(op, "momentumBuffer", momentumBuffer, param);
        }
        param.Backend.SgdStep(param.Storage, g.Storage, momentum != 0 ? momentumBuffer!.Storage : null, param.Numel,
                              lr, momentum, dampening, weightDecay, nesterov, firstStep);
    }

    /// <summary>torch.optim.Adam (decoupled = false: weightDecay * param added to the gradient) or AdamW
    /// (decoupled = true: param *= 1 - lr * weightDecay) for one parameter; <paramref name="step"/> is
    /// the 1-based step count used by the bias corrections.</summary>
    public static void AdamStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                                float weightDecay, bool decoupled, int step)
    {
        const string op = "AdamStep";
        CheckState(op, "param", param, param);
        var g = CheckGrad(op, param, grad);
        CheckState(op, "m (first moment)", m, param);
        CheckState(op, "v (second moment)", v, param);
        if (step < 1) throw new NativeCnnException($"{op}: step counts from 1, got {step}");
        param.Backend.AdamStep(param.Storage, g.Storage, m.Storage, v.Storage, param.Numel, lr, beta1, beta2, eps,
                               weightDecay, decoupled, step);
    }

    /// <summary>A tensor written in place: dense float32, the parameter's shape and device.</summary>
    private static void CheckState(string op, string name, Tensor t, Tensor param)
    {
        if (t.DType != DType.Float32 || !t.IsDense)
            throw new NativeCnnException($"{op}: {name} must be a dense float32 tensor (it is updated in place), got {t.DType}{(t.IsDense ? "" : ", not dense")}");
        if (!Shape.Equal(t.ShapeArray, param.ShapeArray))
            throw new NativeCnnException($"{op}: {name} must have the parameter's shape {Shape.Format(param.ShapeArray)}, got {Shape.Format(t.ShapeArray)}");
        Check.SameDevice(op, param, t);
    }

    private static Tensor CheckGrad(string op, Tensor param, Tensor grad)
    {
        if (!Shape.Equal(grad.ShapeArray, param.ShapeArray))
            throw new NativeCnnException($"{op}: grad must have the parameter's shape {Shape.Format(param.ShapeArray)}, got {Shape.Format(grad.ShapeArray)}");
        Check.Float(grad, op, "grad");
        Check.SameDevice(op, param, grad);
        return grad.Dense32();
    }
}
