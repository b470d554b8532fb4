// Tensor = storage + offset + shape + strides (+ grad and the node that made it). A tensor is a view:
// reshape/permute/slice/expand share storage. Values are read with ToArray/Item; everything that
// computes lives in Ops/ (partial class), which is the only place that calls a backend.
using NativeCnn.Autograd;
using NativeCnn.Backends;

namespace NativeCnn;

public sealed partial class Tensor
{
    private readonly int[] _shape;
    private int[] _strides;   // replaced only by MoveInPlace (a leaf changing device)
    private bool _requiresGrad;

    internal Tensor(Storage storage, int offset, int[] shape, int[] strides)
    {
        Storage = storage;
        Offset = offset;
        _shape = shape;
        _strides = strides;
    }

    /// <summary>A fresh contiguous tensor; contents undefined.</summary>
    internal Tensor(Storage storage, int[] shape) : this(storage, 0, shape, NativeCnn.Shape.ContiguousStrides(shape)) { }

    internal Storage Storage { get; private set; }
    internal int Offset { get; private set; }
    internal IBackend Backend => Storage.Backend;
    internal int[] ShapeArray => _shape;
    internal int[] StridesArray => _strides;

    /// <summary>The size of each dimension, e.g. (N, C, H, W); empty for a scalar.</summary>
    public IReadOnlyList<int> Shape => _shape;
    /// <summary>Elements to skip in storage for one step along each dimension (a transposed view has permuted strides).</summary>
    public IReadOnlyList<int> Strides => _strides;
    /// <summary>The element type: Float32 (default), Float16 (mixed precision) or Int32 (labels, indices).</summary>
    public DType DType => Storage.DType;
    /// <summary>Where the values live (CPU, CUDA GPU or the GPU simulator); inputs of one op must share it.</summary>
    public Device Device => Storage.Device;
    /// <summary>Number of dimensions (0 for a scalar).</summary>
    public int Dim => _shape.Length;
    /// <summary>Number of elements (the product of the shape; 1 for a scalar).</summary>
    public int Numel => (int)NativeCnn.Shape.Numel(_shape);
    /// <summary>The size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    /// <exception cref="ArgumentException">dim is out of range.</exception>
    public int Size(int dim) => _shape[Check.Dim(dim, Dim, "Size")];

    /// <summary>The node that made this tensor, or null for a leaf.</summary>
    public GradNode? GradFn { get; internal set; }
    /// <summary>True for a tensor not made by a recorded operation (inputs, parameters): its gradient accumulates in <see cref="Grad"/>.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Gradient accumulated by Backward() (leaves only).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The gradient tensor Optimizer.ZeroGrad(setToNone: true) took away: the next Backward
    /// writes the new gradient into it (a copy) instead of allocating one. Internal: never handed out.</summary>
    internal Tensor? SpareGrad { get; set; }

    /// <summary>Whether autograd records operations on this tensor. Settable on leaves only.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!IsLeaf)
                throw new InvalidOperationException($"RequiresGrad can only be changed on leaf tensors; this one was made by '{GradFn!.Name}'. Use Detach().");
            if (value && !DType.IsFloatingPoint())
                throw new NativeCnnException($"RequiresGrad: only floating-point tensors can require gradients, got {DType}");
            _requiresGrad = value;
        }
    }

    internal void MarkRequiresGrad() => _requiresGrad = true;

    /// <summary>True when the elements are laid out row-major without gaps (strides of a fresh tensor of this shape).</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>Contiguous and starting at element 0 of its storage: what backend primitives take.</summary>
    internal bool IsDense => Offset == 0 && IsContiguous;

    /// <summary>Keeps this tensor's memory alive past the end of the current MemoryScope.</summary>
    public Tensor Keep()
    {
        Storage.IsPersistent = true;
        return this;
    }

    /// <summary>All elements in row-major order, as float32 (float16 and int32 are converted).</summary>
    public float[] ToArray()
    {
        var t = IsContiguous ? this : ContiguousCopy();
        var result = new float[Numel];
        Backend.ToHost(t.Storage, t.Offset, result);
        return result;
    }

    /// <summary>All elements in row-major order, as int32.</summary>
    public int[] ToInt32Array()
    {
        var t = IsContiguous ? this : ContiguousCopy();
        var result = new int[Numel];
        Backend.ToHost(t.Storage, t.Offset, result);
        return result;
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item()
    {
        if (Numel != 1)
            throw new NativeCnnException($"Item: the tensor must have exactly one element, got shape {NativeCnn.Shape.Format(_shape)}");
        Span<float> v = stackalloc float[1];
        Backend.ToHost(Storage, Offset, v);
        return v[0];
    }

    /// <summary>The shape, dtype and device, and the values when there are few (a debugging aid).</summary>
    public override string ToString()
    {
        var head = $"Tensor{NativeCnn.Shape.Format(_shape)} {DType} on {Device}";
        if (Storage.IsReleased) return head + " (released)";
        var values = Numel <= 8 ? ToArray() : ToArray()[..8];
        var text = string.Join(", ", values.Select(v => v.ToString("G5")));
        return $"{head} [{text}{(Numel > 8 ? ", ..." : "")}]";
    }
}
