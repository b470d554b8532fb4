// Host-side preparation of strided walks for the kernels: merges dimensions that are contiguous in
// both operands (so a dense tensor becomes one dimension), drops size-1 dimensions, and fills a
// NativeCnn.Kernels.StridedLayout (innermost first). The rare walk that still has more than eight
// dimensions is split: the leading ones are looped over here, one launch per slice.
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal static class Layouts
{
    /// <summary>Calls <paramref name="body"/>(slice, aOffset, bOffset, layout, n) for each slice of
    /// n row-major elements of <paramref name="shape"/> (one slice unless the rank is above eight
    /// after merging); slice k covers linear elements [k*n, (k+1)*n).</summary>
    public static void ForEach(int[] shape, int[] stridesA, int[] stridesB, int offsetA, int offsetB,
                               Action<int, int, int, StridedLayout, int> body)
    {
        if (Shape.Numel(shape) == 0) return;
        var dims = Merge(shape, stridesA, stridesB);
        int extra = Math.Max(0, dims.Count - StridedLayout.MaxRank);
        var layout = new StridedLayout { Rank = dims.Count - extra };
        int n = 1;
        for (int d = 0; d < layout.Rank; d++)
        {
            var (size, a, b) = dims[dims.Count - 1 - d];
            layout.Set(d, size, a, b);
            n *= size;
        }
        if (extra == 0) { body(0, offsetA, offsetB, layout, n); return; }

        var idx = new int[extra];
        for (int slice = 0; ; slice++)
        {
            int pa = offsetA, pb = offsetB;
            for (int k = 0; k < extra; k++) { pa += idx[k] * dims[k].StrideA; pb += idx[k] * dims[k].StrideB; }
            body(slice, pa, pb, layout, n);
            int j = extra - 1;
            while (j >= 0 && ++idx[j] == dims[j].Size) idx[j--] = 0;
            if (j < 0) return;
        }
    }

    /// <summary>Dimensions outermost first, size-1 dimensions dropped, neighbours merged where both
    /// operands step through them contiguously; at least one dimension.</summary>
    public static List<(int Size, int StrideA, int StrideB)> Merge(int[] shape, int[] stridesA, int[] stridesB)
    {
        var dims = new List<(int Size, int StrideA, int StrideB)>();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            if (dims.Count > 0)
            {
                var (ps, pa, pb) = dims[^1];
                if (pa == shape[d] * stridesA[d] && pb == shape[d] * stridesB[d])
                {
                    dims[^1] = (ps * shape[d], stridesA[d], stridesB[d]);
                    continue;
                }
            }
            dims.Add((shape[d], stridesA[d], stridesB[d]));
        }
        if (dims.Count == 0) dims.Add((1, 0, 0));
        return dims;
    }

    /// <summary>Row-major strides of a dense tensor of <paramref name="shape"/>.</summary>
    public static int[] Dense(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }
}
