// Reductions over the middle axis of x: (outer, n, inner). Two shapes of launch: one thread per
// output when there are many outputs (each thread walks n; neighbours read neighbouring inner
// elements, so loads coalesce), and one group per output when there are few outputs and long rows
// (the group strides over n, then a shared-memory tree combines). Arg-max keeps the first index of
// the maximum and lets NaN win, like the CPU backend. Sums accumulate in float32 (the CPU backend
// uses float64; the per-thread partial sums keep the difference at float rounding level).
using ILGPU;

namespace NativeCnn.Kernels;

public static class ReduceKernels
{
    /// <summary>Threads per group of the group-per-output kernels (their shared arrays have this size).</summary>
    public const int GroupSize = 256;

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

    // x: (outer, n, inner) -> y: (outer, inner) = scale * sum over n; one group of GroupSize threads per output
    public static void ReduceGroupForwardKernel(ArrayView<float> x, ArrayView<float> y, int outer, int n, int inner, float scale)
    {
        var partial = SharedMemory.Allocate<float>(GroupSize);
        int t = Group.IdxX;
        for (int j = Grid.IdxX; j < outer * inner; j += Grid.DimX)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            float acc = 0;
            for (int k = t; k < n; k += GroupSize) acc += x[p + k * inner];
            partial[t] = acc;
            Group.Barrier();
            for (int s = GroupSize / 2; s > 0; s >>= 1)
            {
                if (t < s) partial[t] += partial[t + s];
                Group.Barrier();
            }
            if (t == 0) y[j] = partial[0] * scale;
            Group.Barrier();   // partial[0] is read before the next output overwrites it
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

    // as ReduceMaxForwardKernel, one group of GroupSize threads per output
    public static void ReduceMaxGroupForwardKernel(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices,
                                                   int outer, int n, int inner)
    {
        var bestValue = SharedMemory.Allocate<float>(GroupSize);
        var bestIndex = SharedMemory.Allocate<int>(GroupSize);
        int t = Group.IdxX;
        for (int j = Grid.IdxX; j < outer * inner; j += Grid.DimX)
        {
            int o = j / inner, i = j - o * inner;
            int p = o * n * inner + i;
            // threads with no element start from (-inf, n): any real element replaces it
            float best = float.NegativeInfinity;
            int arg = n;
            for (int k = t; k < n; k += GroupSize)
            {
                float v = x[p + k * inner];
                if (Replaces(best, arg, v, k)) { best = v; arg = k; }
            }
            bestValue[t] = best;
            bestIndex[t] = arg;
            Group.Barrier();
            for (int s = GroupSize / 2; s > 0; s >>= 1)
            {
                if (t < s && Replaces(bestValue[t], bestIndex[t], bestValue[t + s], bestIndex[t + s]))
                {
                    bestValue[t] = bestValue[t + s];
                    bestIndex[t] = bestIndex[t + s];
                }
                Group.Barrier();
            }
            if (t == 0) { values[j] = bestValue[0]; indices[j] = bestIndex[0]; }
            Group.Barrier();
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
