// GPU elementwise maps and reductions (kernels: Elementwise.cs, Reduce.cs). Same-shape contiguous
// binaries take the flat kernel; broadcasts walk a merged strided layout. Reductions pick one
// thread per output when outputs are many or rows short, one group per output otherwise.
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>? _unary;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>? _unaryBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, int, BinaryOp>? _binary;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, BinaryOp>? _binaryDense;

    /// <summary>The op code, checked on the host: an unknown one throws here (the kernels' own trap is the
    /// second line of defence).</summary>
    private static T Known<T>(T op) where T : struct, Enum =>
        Enum.IsDefined(op) ? op : throw new ArgumentOutOfRangeException(nameof(op), op, $"unknown {typeof(T).Name}");

    public void Unary(UnaryOp op, Storage x, Storage y, int n, float a, float b)
    {
        if (n == 0) return;
        Load(ref _unary, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>(ElementwiseKernels.UnaryForwardKernel))
            (Flat(n), F(x), F(y), n, Known(op), a, b);
    }

    public void UnaryBackward(UnaryOp op, Storage x, Storage y, Storage gy, Storage gx, int n, float a, float b)
    {
        if (n == 0) return;
        Load(ref _unaryBackward, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, UnaryOp, float, float>(ElementwiseKernels.UnaryBackwardKernel))
            (Flat(n), F(x), F(y), F(gy), F(gx), n, Known(op), a, b);
    }

    public void Binary(BinaryOp op, Storage a, int aOffset, int[] aStrides, Storage b, int bOffset, int[] bStrides, Storage y, int[] shape)
    {
        var av = F(a);
        var bv = F(b);
        var yv = F(y);
        var code = Known(op);
        Layouts.ForEach(shape, aStrides, bStrides, aOffset, bOffset, (slice, pa, pb, layout, n) =>
        {
            var ys = yv.SubView((long)slice * n, n);
            if (layout.Rank == 1 && layout.A0 == 1 && layout.B0 == 1)
                Load(ref _binaryDense, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, BinaryOp>(ElementwiseKernels.BinaryDenseForwardKernel))
                    (Flat(n), av.SubView(pa, n), bv.SubView(pb, n), ys, n, code);
            else
                Load(ref _binary, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, int, BinaryOp>(ElementwiseKernels.BinaryForwardKernel))
                    (Flat(n), av.SubView(pa), bv.SubView(pb), ys, layout, n, code);
        });
    }

    // ---- reductions ------------------------------------------------------------------------

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, float>? _reduce;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, float>? _reduceGroup;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>? _reduceMax;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>? _reduceMaxGroup;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>? _reduceMaxBackward;

    /// <summary>A group per output pays off when rows are long and there are too few outputs to give
    /// every GPU thread one of its own.</summary>
    private static bool GroupPerOutput(int outputs, int n) => n >= 128 && outputs < 2048;

    /// <summary>Shortest segment worth a group of its own in the two-stage sum.</summary>
    internal const int MinSegment = 4096;

    /// <summary>How many segments to cut each row of n into so that about eight groups per SM run:
    /// 1 (no split) when the outputs alone give that many groups or rows are short.</summary>
    internal static int Segments(int outputs, int n, int multiprocessors) =>
        (int)Math.Clamp(Math.Min((8L * multiprocessors + outputs - 1) / outputs, n / MinSegment), 1, 4096);

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _reduceSegments;

    public void Reduce(ReduceOp op, Storage x, Storage y, int outer, int n, int inner)
    {
        if (outer * inner == 0) return;
        ReduceSum(x, y, outer, n, inner, Known(op) == ReduceOp.Mean ? 1f / n : 1f);
    }

    /// <summary>y (outer, inner) = scale * the sum of x (outer, n, inner) over n.</summary>
    private void ReduceSum(Storage x, Storage y, int outer, int n, int inner, float scale)
    {
        int outputs = outer * inner;
        int segments = GroupPerOutput(outputs, n) ? Segments(outputs, n, _acc.NumMultiprocessors) : 1;
        if (segments > 1)
        {
            // two stages: (outer, segments, inner) partial sums, then their sum (scaled)
            int segLen = (n + segments - 1) / segments;
            segments = (n + segLen - 1) / segLen;
            var partial = Scratch((long)outer * segments * inner);
            Load(ref _reduceSegments, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(ReduceKernels.ReduceSegmentsKernel))
                (Groups((long)outputs * segments), F(x), partial.F32, outer, n, inner, segLen, segments);
            ReduceSum(partial, y, outer, segments, inner, scale);
            ReturnToPool(partial);
        }
        else if (GroupPerOutput(outputs, n))
            Load(ref _reduceGroup, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, float>(ReduceKernels.ReduceGroupForwardKernel))
                (Groups(outputs), F(x), F(y), outer, n, inner, scale);
        else
            Load(ref _reduce, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, float>(ReduceKernels.ReduceForwardKernel))
                (Flat(outputs), F(x), F(y), outer, n, inner, scale);
    }

    public void ReduceMax(Storage x, Storage values, Storage indices, int outer, int n, int inner)
    {
        int outputs = outer * inner;
        if (outputs == 0) return;
        if (GroupPerOutput(outputs, n))
            Load(ref _reduceMaxGroup, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(ReduceKernels.ReduceMaxGroupForwardKernel))
                (Groups(outputs), F(x), F(values), I(indices), outer, n, inner);
        else
            Load(ref _reduceMax, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(ReduceKernels.ReduceMaxForwardKernel))
                (Flat(outputs), F(x), F(values), I(indices), outer, n, inner);
    }

    public void ReduceMaxBackward(Storage gy, Storage indices, Storage gx, int outer, int n, int inner)
    {
        long total = (long)outer * n * inner;
        if (total == 0) return;
        Load(ref _reduceMaxBackward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(ReduceKernels.ReduceMaxBackwardKernel))
            (Flat(total), F(gy), I(indices), F(gx), outer, n, inner);
    }
}
