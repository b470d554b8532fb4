// The tensor-level pieces of mixed precision (Training/MixedPrecision.cs): a leaf changing dtype in
// place (a model going to float16 keeps its parameter objects, which modules and optimizers hold),
// an identity whose backward scales the gradient (loss scaling applied where the float32 loss meets
// the float16 model), the fused unscale-and-check of a gradient into its float32 master, and
// whole-tensor casts between a master and its model parameter. None of these is recorded except
// ScaleGradient. Must hold: they touch only dense tensors that fill their storage.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    /// <summary>Changes this leaf's dtype in place: afterwards the same Tensor object holds a dense copy
    /// of its values in <paramref name="dtype"/> (rounded to nearest even for float16). RequiresGrad
    /// and persistence are kept; a gradient is converted too.</summary>
    internal void CastInPlace(DType dtype)
    {
        if (dtype == DType) return;
        if (!IsLeaf)
            throw new NativeCnnException($"CastInPlace: only a leaf tensor can change dtype in place, got one made by '{GradFn!.Name}'");
        if (!dtype.IsFloatingPoint() || !DType.IsFloatingPoint())
            throw new NativeCnnException($"CastInPlace: only floating-point tensors change dtype in place, got {DType} to {dtype}");
        Tensor cast;
        using (new NoGrad()) cast = MemoryScope.Outside(() => Detach().To(dtype));
        bool persistent = Storage.IsPersistent;
        Storage = cast.Storage;
        Offset = 0;
        _strides = NativeCnn.Shape.ContiguousStrides(_shape);
        if (persistent) Storage.IsPersistent = true;
        if (Grad is { } g)
        {
            using (new NoGrad()) Grad = MemoryScope.Outside(() => g.Detach().To(dtype).Clone()).Keep();
        }
    }

    /// <summary>A dense float16 tensor with this tensor's values (this one if already so). Not recorded.
    /// What float16 products (Gemm, conv) hand the backend.</summary>
    internal Tensor DenseHalf()
    {
        if (DType == DType.Float16) return IsDense ? this : ContiguousCopy();
        var t = WholeStorage();
        var y = Empty(t._shape, DType.Float16, t.Backend);
        t.Backend.Cast(t.Storage, y.Storage);
        return y;
    }

    /// <summary>The same values (a view, no copy); Backward multiplies the gradient flowing through
    /// it by <paramref name="scale"/>. Scaling the gradient at the model's output is scaling the loss
    /// for every layer below it, without touching the loss value that is recorded and printed.</summary>
    internal Tensor ScaleGradient(float scale)
    {
        var view = new Tensor(Storage, Offset, _shape, _strides);
        return Engine.Record("scale_grad", view, new[] { this }, g => new[] { g * scale });
    }
}

internal static class MixedPrecisionOps
{
    /// <summary>master = grad * invScale (grad float16 or float32, master float32, both dense and of one
    /// shape); found[0] = 1 if any grad element is inf or NaN, left as it was otherwise.</summary>
    public static void Unscale(Tensor grad, Tensor master, float invScale, Tensor found)
    {
        const string op = "Unscale";
        Check.SameDevice(op, grad, master, found);
        Check.Float(grad, op, "grad");
        if (master.DType != DType.Float32 || !master.IsDense)
            throw new NativeCnnException($"{op}: the master gradient must be a dense float32 tensor, got {master.DType}{(master.IsDense ? "" : ", not dense")}");
        if (!Shape.Equal(grad.ShapeArray, master.ShapeArray))
            throw new NativeCnnException($"{op}: grad {Shape.Format(grad.ShapeArray)} and master {Shape.Format(master.ShapeArray)} must have one shape");
        if (found.DType != DType.Float32 || found.Numel != 1 || !found.IsDense)
            throw new NativeCnnException($"{op}: the overflow flag must be a dense one-element float32 tensor, got {found.DType} {Shape.Format(found.ShapeArray)}");
        var g = grad.IsDense ? grad : grad.ContiguousCopy();
        grad.Backend.UnscaleGradients(g.Storage, master.Storage, master.Numel, invScale, found.Storage);
    }

    /// <summary>dst = (dst's dtype) src, elementwise, in place: one cast over whole storages.</summary>
    public static void CastInto(Tensor src, Tensor dst)
    {
        Check.SameDevice("CastInto", src, dst);
        if (!Shape.Equal(src.ShapeArray, dst.ShapeArray))
            throw new NativeCnnException($"CastInto: shapes differ, {Shape.Format(src.ShapeArray)} and {Shape.Format(dst.ShapeArray)}");
        if (!(dst.IsDense && dst.Storage.Length == dst.Numel))
        {
            dst.CopyFrom(src);
            return;
        }
        var s = src.WholeStorage();
        dst.Backend.Cast(s.Storage, dst.Storage);
    }

    /// <summary>t = value everywhere (t dense, filling its storage).</summary>
    public static void Fill(Tensor t, float value)
    {
        if (!(t.IsDense && t.Storage.Length == t.Numel))
            throw new InvalidOperationException("internal: MixedPrecisionOps.Fill needs a tensor that fills its storage");
        t.Backend.Fill(t.Storage, value);
    }
}
