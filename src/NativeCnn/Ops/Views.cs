// Views and layout: reshape, permute/transpose, slice, expand, squeeze/unsqueeze, flatten, concat,
// contiguous/clone and dtype/device moves. Views share storage; their backward maps the gradient
// back through the inverse view (expand's backward sums over the broadcast dimensions).
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    /// <summary>Same data, new shape; one dimension may be -1. Copies only when the strides forbid a view.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var target = InferShape(shape, Numel, "Reshape");
        var src = IsContiguous ? this : Contiguous();
        var view = new Tensor(src.Storage, src.Offset, target, NativeCnn.Shape.ContiguousStrides(target));
        var inShape = _shape;
        return Engine.Record("reshape", view, new[] { this }, g => new[] { g.Reshape(inShape) });
    }

    /// <summary>Another name for <see cref="Reshape"/> (torch's view): the same values in a new shape; one entry may be -1 (inferred).</summary>
    public Tensor View(params int[] shape) => Reshape(shape);

    private static int[] InferShape(int[] shape, int numel, string op)
    {
        var result = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == -1)
            {
                if (infer >= 0) throw new NativeCnnException($"{op}: only one dimension can be -1, got {NativeCnn.Shape.Format(shape)}");
                infer = i;
            }
            else if (result[i] < 0) throw new NativeCnnException($"{op}: invalid size {result[i]} in {NativeCnn.Shape.Format(shape)}");
            else known *= result[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || numel % known != 0)
                throw new NativeCnnException($"{op}: cannot infer -1 in {NativeCnn.Shape.Format(shape)} for {numel} elements");
            result[infer] = (int)(numel / known);
        }
        if (NativeCnn.Shape.Numel(result) != numel)
            throw new NativeCnnException($"{op}: shape {NativeCnn.Shape.Format(shape)} has {NativeCnn.Shape.Numel(result)} elements, the tensor has {numel}");
        return result;
    }

    /// <summary>A view with the dimensions reordered: dimension i of the result is dimension <paramref name="dims"/>[i] of this tensor (no copy; strides are permuted).</summary>
    /// <exception cref="ArgumentException">dims is not a permutation of 0..Dim-1.</exception>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Dim) throw new NativeCnnException($"Permute: expected {Dim} dimensions, got {NativeCnn.Shape.Format(dims)}");
        var seen = new bool[Dim];
        var shape = new int[Dim];
        var strides = new int[Dim];
        var inverse = new int[Dim];
        for (int i = 0; i < Dim; i++)
        {
            int d = Check.Dim(dims[i], Dim, "Permute");
            if (seen[d]) throw new NativeCnnException($"Permute: dimension {d} repeats in {NativeCnn.Shape.Format(dims)}");
            seen[d] = true;
            shape[i] = _shape[d];
            strides[i] = _strides[d];
            inverse[d] = i;
        }
        var view = new Tensor(Storage, Offset, shape, strides);
        return Engine.Record("permute", view, new[] { this }, g => new[] { g.Permute(inverse) });
    }

    /// <summary>A view with dimensions <paramref name="dim0"/> and <paramref name="dim1"/> swapped (no copy).</summary>
    /// <exception cref="ArgumentException">A dimension is out of range.</exception>
    public Tensor Transpose(int dim0, int dim1)
    {
        var dims = Enumerable.Range(0, Dim).ToArray();
        int a = Check.Dim(dim0, Dim, "Transpose"), b = Check.Dim(dim1, Dim, "Transpose");
        (dims[a], dims[b]) = (dims[b], dims[a]);
        return Permute(dims);
    }

    /// <summary>Matrix transpose of a 2-D tensor.</summary>
    public Tensor T => Dim == 2 ? Transpose(0, 1) : throw new NativeCnnException($"T: expected a 2-D tensor, got shape {NativeCnn.Shape.Format(_shape)}");

    /// <summary>Elements start, start+step, ... below end along <paramref name="dim"/> (a view).</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        int d = Check.Dim(dim, Dim, "Slice");
        int size = _shape[d];
        if (start < 0) start += size;
        if (end < 0) end += size;
        end = Math.Min(end, size);
        if (step <= 0) throw new NativeCnnException($"Slice: step must be positive, got {step}");
        if (start < 0 || start > size || end < start)
            throw new NativeCnnException($"Slice: range [{start}, {end}) is out of bounds for dimension {d} of size {size}");
        var shape = (int[])_shape.Clone();
        var strides = (int[])_strides.Clone();
        shape[d] = (end - start + step - 1) / step;
        strides[d] = _strides[d] * step;
        var view = new Tensor(Storage, Offset + start * _strides[d], shape, strides);
        var inShape = _shape;
        return Engine.Record("slice", view, new[] { this }, g =>
        {
            var gx = Zeros(inShape, DType.Float32, g.Device);
            gx.Slice(d, start, end, step).CopyFrom(g);
            return new[] { gx };
        });
    }

    /// <summary>Broadcasts size-1 dimensions (and new leading ones) to <paramref name="shape"/> without copying.</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Dim) throw new NativeCnnException($"Expand: target {NativeCnn.Shape.Format(shape)} has fewer dimensions than {NativeCnn.Shape.Format(_shape)}");
        int lead = shape.Length - Dim;
        var strides = new int[shape.Length];
        var target = (int[])shape.Clone();
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead)
            {
                if (target[i] < 0) throw new NativeCnnException($"Expand: size {target[i]} is not allowed in the new leading dimension {i} of {NativeCnn.Shape.Format(shape)}; give its size");
                strides[i] = 0;
                continue;
            }
            int own = _shape[i - lead];
            if (target[i] == -1) target[i] = own;
            if (own == target[i]) strides[i] = _strides[i - lead];
            else if (own == 1) strides[i] = 0;
            else throw new NativeCnnException($"Expand: cannot expand {NativeCnn.Shape.Format(_shape)} to {NativeCnn.Shape.Format(shape)} (dimension {i}: {own} vs {target[i]})");
        }
        var view = new Tensor(Storage, Offset, target, strides);
        var inShape = _shape;
        return Engine.Record("expand", view, new[] { this }, g => new[] { g.SumTo(inShape) });
    }

    /// <summary>Inserts a size-1 dimension at <paramref name="dim"/>; always a view, as torch.unsqueeze.</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Dim + 1 : dim;
        if (d < 0 || d > Dim) throw new NativeCnnException($"Unsqueeze: dim {dim} is out of range for {Dim} dimensions");
        var shape = _shape.ToList();
        var strides = _strides.ToList();
        shape.Insert(d, 1);
        // the stride of a size-1 dimension is never used to step; torch's convention keeps IsContiguous exact
        strides.Insert(d, d < Dim ? _strides[d] * _shape[d] : 1);
        return ViewAs("unsqueeze", shape.ToArray(), strides.ToArray());
    }

    /// <summary>Removes <paramref name="dim"/> if its size is 1 (otherwise returns this tensor); always a view.</summary>
    public Tensor Squeeze(int dim)
    {
        int d = Check.Dim(dim, Dim, "Squeeze");
        if (_shape[d] != 1) return this;
        var shape = _shape.ToList();
        var strides = _strides.ToList();
        shape.RemoveAt(d);
        strides.RemoveAt(d);
        return ViewAs("squeeze", shape.ToArray(), strides.ToArray());
    }

    /// <summary>A view with the same elements under new shape and strides (same element count, same order).</summary>
    private Tensor ViewAs(string name, int[] shape, int[] strides)
    {
        var view = new Tensor(Storage, Offset, shape, strides);
        var inShape = _shape;
        return Engine.Record(name, view, new[] { this }, g => new[] { g.Reshape(inShape) });
    }

    /// <summary>Merges dimensions startDim..endDim into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Dim == 0) return Reshape(1);
        int s = Check.Dim(startDim, Dim, "Flatten"), e = Check.Dim(endDim, Dim, "Flatten");
        if (s > e) throw new NativeCnnException($"Flatten: startDim {startDim} comes after endDim {endDim}");
        var shape = new List<int>();
        for (int i = 0; i < s; i++) shape.Add(_shape[i]);
        int merged = 1;
        for (int i = s; i <= e; i++) merged *= _shape[i];
        shape.Add(merged);
        for (int i = e + 1; i < Dim; i++) shape.Add(_shape[i]);
        return Reshape(shape.ToArray());
    }

    /// <summary>A dense (offset 0, row-major) tensor with the same values; this one if already dense.</summary>
    public Tensor Contiguous() => IsDense ? this : Engine.Record("contiguous", ContiguousCopy(), new[] { this }, g => new[] { g });

    /// <summary>A dense copy, never sharing storage.</summary>
    public Tensor Clone() => Engine.Record("clone", ContiguousCopy(), new[] { this }, g => new[] { g });

    internal Tensor ContiguousCopy()
    {
        var y = Empty(_shape, DType, Backend);
        Backend.Copy(Storage, Offset, _strides, y.Storage, 0, y._strides, _shape);
        return y;
    }

    /// <summary>Writes <paramref name="src"/> (broadcast to this shape) into this tensor's elements. Not recorded.</summary>
    public void CopyFrom(Tensor src)
    {
        Check.SameDevice("CopyFrom", this, src);
        var s = src.DType == DType ? src : src.To(DType);
        if (!NativeCnn.Shape.Equal(s._shape, _shape)) s = s.Expand(_shape);
        Backend.Copy(s.Storage, s.Offset, s._strides, Storage, Offset, _strides, _shape);
    }

    /// <summary>Converts to another dtype (a copy; the same tensor if the dtype already matches).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var src = WholeStorage();
        var y = Empty(_shape, dtype, Backend);
        Backend.Cast(src.Storage, y.Storage);
        var from = DType;
        return Engine.Record("cast", y, new[] { this }, g => new[] { g.To(from) });
    }

    /// <summary>Moves to another device (a copy through the host; the same tensor if already there).</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var target = BackendFor(device);
        var src = IsContiguous ? this : ContiguousCopy();
        Storage storage;
        if (DType == DType.Int32)
        {
            var host = new int[Numel];
            Backend.ToHost(src.Storage, src.Offset, host);
            storage = target.FromHost(host);
        }
        else
        {
            var host = new float[Numel];
            Backend.ToHost(src.Storage, src.Offset, host);
            storage = target.FromHost(host);
            if (DType == DType.Float16)
            {
                var half = target.Allocate(DType.Float16, Numel);
                target.Cast(storage, half);
                storage = half;
            }
        }
        var y = new Tensor(storage, (int[])_shape.Clone());
        var from = Device;
        return Engine.Record("to_device", y, new[] { this }, g => new[] { g.To(from) });
    }

    /// <summary>Moves this leaf to <paramref name="device"/> in place: afterwards this same Tensor object
    /// holds a dense copy of its values there (what Module.To needs, so layers, optimizers and user
    /// code that hold the parameter see the move, as with torch's param.data). RequiresGrad and
    /// persistence are kept; a gradient moves too, kept. Views made earlier (Detach, StateDict) still
    /// see the old storage.</summary>
    internal void MoveInPlace(Device device)
    {
        if (device == Device) return;
        if (!IsLeaf)
            throw new NativeCnnException($"MoveInPlace: only a leaf tensor can change device in place, got one made by '{GradFn!.Name}'");
        var target = BackendFor(device);   // an unknown device fails here, before anything changed
        Tensor moved;
        using (new NoGrad()) moved = MemoryScope.Outside(() => Detach().To(device));
        if (!ReferenceEquals(moved.Backend, target))
            throw new InvalidOperationException($"internal: a move to {device} produced a tensor on {moved.Device}");
        bool persistent = Storage.IsPersistent;
        Storage = moved.Storage;
        Offset = 0;
        _strides = NativeCnn.Shape.ContiguousStrides(_shape);
        if (persistent) Storage.IsPersistent = true;
        if (Grad is { } g)
            using (new NoGrad()) Grad = MemoryScope.Outside(() => g.Detach().To(device)).Keep();
    }

    /// <summary>The same values without a graph: a leaf sharing storage.</summary>
    public Tensor Detach() => new(Storage, Offset, _shape, _strides);

    /// <summary>Concatenates tensors of equal shape except along <paramref name="dim"/>.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int dim)
    {
        if (tensors.Count == 0) throw new NativeCnnException("Concat: needs at least one tensor");
        var first = tensors[0];
        int d = Check.Dim(dim, first.Dim, "Concat");
        Check.SameDevice("Concat", tensors.ToArray());
        int total = 0;
        foreach (var t in tensors)
        {
            if (t.Dim != first.Dim || t.DType != first.DType)
                throw new NativeCnnException($"Concat: all tensors must have {first.Dim} dimensions and dtype {first.DType}, got {NativeCnn.Shape.Format(t._shape)} {t.DType}");
            for (int i = 0; i < first.Dim; i++)
                if (i != d && t._shape[i] != first._shape[i])
                    throw new NativeCnnException($"Concat: shapes {NativeCnn.Shape.Format(first._shape)} and {NativeCnn.Shape.Format(t._shape)} differ outside dimension {d}");
            total += t._shape[d];
        }
        var shape = (int[])first._shape.Clone();
        shape[d] = total;
        var y = Empty(shape, first.DType, first.Backend);
        var sizes = new int[tensors.Count];
        int at = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            sizes[i] = t._shape[d];
            var slot = y.Detach().Slice(d, at, at + sizes[i]);
            t.Backend.Copy(t.Storage, t.Offset, t._strides, slot.Storage, slot.Offset, slot._strides, t._shape);
            at += sizes[i];
        }
        return Engine.Record("concat", y, tensors.ToArray(), g =>
        {
            var grads = new Tensor?[sizes.Length];
            int start = 0;
            for (int i = 0; i < sizes.Length; i++) { grads[i] = g.Slice(d, start, start + sizes[i]).Contiguous(); start += sizes[i]; }
            return grads;
        });
    }

    /// <summary>Runs backward from this tensor (a scalar, or with an explicit gradient of its shape).</summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) => Engine.Backward(this, gradient, retainGraph);
}
