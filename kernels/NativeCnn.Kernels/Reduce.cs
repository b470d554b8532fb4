// Reductions over the middle axis of x: (outer, n, inner). Two shapes of launch: one thread per
// output when there are many outputs (each thread walks n; neighbours read neighbouring inner
// elements, so loads coalesce), and one group per output when there are few outputs and long rows
// (the group strides over n, then warp shuffles and shared memory combine); when even that leaves
// the GPU mostly idle (a handful of outputs over millions of elements), segments of n are summed by
// groups of their own and the partial sums reduced again. Arg-max keeps the first index of
// the maximum and lets NaN win, like the CPU backend. Sums accumulate in float32 (the CPU backend
// uses float64; the per-thread partial sums keep the difference at float rounding level).
using ILGPU;

namespace NativeCnn.Kernels;

internal static class ReduceKernels
{
    // x: (outer, n, inner) -> y: (outer, inner) = scale * sum over n; one thread per output
    public static void ReduceForwardKernel(ArrayView<float> x, ArrayView<float> y, int outer, int n, int inner, float scale)
    {
        int outputs = outer * inner;
        for (int j = Threads.Global; j < outputs; j += Threads.Count)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            float acc = 0;
            for (int k = 0; k < n; k++) acc += x[p + k * inner];
            y[j] = acc * scale;
        }
    }

    // x: (outer, n, inner) -> y: (outer, inner) = scale * sum over n; one group per output
    public static void ReduceGroupForwardKernel(ArrayView<float> x, ArrayView<float> y, int outer, int n, int inner, float scale)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        for (int j = Grid.IdxX; j < outer * inner; j += Grid.DimX)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            float acc = 0;
            for (int k = t; k < n; k += size) acc += x[p + k * inner];
            float total = GroupReduce.Sum(scratch, acc);
            if (t == 0) y[j] = total * scale;
        }
    }

    // x: (outer, n, inner) -> partial: (outer, segments, inner) = sums over segments of segLen along n;
    // one group per (output, segment), four independent accumulators per thread (four loads in flight,
    // where one accumulator waits for each load before issuing the next)
    public static void ReduceSegmentsKernel(ArrayView<float> x, ArrayView<float> partial, int outer, int n, int inner,
                                            int segLen, int segments)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        for (int j = Grid.IdxX; j < outer * segments * inner; j += Grid.DimX)
        {
            int i = j % inner, rest = j / inner;
            int seg = rest % segments, o = rest / segments;
            int k = seg * segLen + t, end = System.Math.Min(n, (seg + 1) * segLen);
            int p = o * n * inner + i;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (; k + 3 * size < end; k += 4 * size)
            {
                a0 += x[p + k * inner];
                a1 += x[p + (k + size) * inner];
                a2 += x[p + (k + 2 * size) * inner];
                a3 += x[p + (k + 3 * size) * inner];
            }
            for (; k < end; k += size) a0 += x[p + k * inner];
            float total = GroupReduce.Sum(scratch, (a0 + a1) + (a2 + a3));
            if (t == 0) partial[j] = total;
        }
    }

    // x: (outer, n, inner) -> values: (outer, inner) = max over n, indices: (outer, inner) = its first position
    public static void ReduceMaxForwardKernel(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices,
                                              int outer, int n, int inner)
    {
        int outputs = outer * inner;
        for (int j = Threads.Global; j < outputs; j += Threads.Count)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            float best = x[p];
            int arg = 0;
            for (int k = 1; k < n; k++)
            {
                float v = x[p + k * inner];
                if (Replaces(best, arg, v, k)) { best = v; arg = k; }
            }
            values[j] = best;
            indices[j] = arg;
        }
    }

    // as ReduceMaxForwardKernel, one group per output
    public static void ReduceMaxGroupForwardKernel(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices,
                                                   int outer, int n, int inner)
    {
        var scratchValue = SharedMemory.Allocate<float>(GroupReduce.ScratchSize);
        var scratchIndex = SharedMemory.Allocate<int>(GroupReduce.ScratchSize);
        int t = Group.IdxX, size = Group.DimX;
        for (int j = Grid.IdxX; j < outer * inner; j += Grid.DimX)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            // threads with no element start from (-inf, n): any real element replaces it
            float best = float.NegativeInfinity;
            int arg = n;
            for (int k = t; k < n; k += size)
            {
                float v = x[p + k * inner];
                if (Replaces(best, arg, v, k)) { best = v; arg = k; }
            }
            GroupReduce.ArgMax(scratchValue, scratchIndex, ref best, ref arg);
            if (t == 0) { values[j] = best; indices[j] = arg; }
        }
    }

    // gy, indices: (outer, inner) -> gx: (outer, n, inner) = gy at the arg-max position, 0 elsewhere
    public static void ReduceMaxBackwardKernel(ArrayView<float> gy, ArrayView<int> indices, ArrayView<float> gx,
                                               int outer, int n, int inner)
    {
        int total = outer * n * inner;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int i = e % inner;
            int rest = e / inner;
            int k = rest % n, o = rest / n;
            int j = o * inner + i;
            gx[e] = indices[j] == k ? gy[j] : 0f;
        }
    }

    /// <summary>Whether candidate (v, k) replaces the current best (best, arg): a larger value, an
    /// equal value at a smaller index, or the first NaN (NaN beats every number).</summary>
    public static bool Replaces(float best, int arg, float v, int k)
    {
        bool bestNaN = float.IsNaN(best), vNaN = float.IsNaN(v);
        if (bestNaN) return vNaN && k < arg;
        if (vNaN) return true;
        return v > best || (v == best && k < arg);
    }
}
