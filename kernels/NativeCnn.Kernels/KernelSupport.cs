// Pieces every kernel family shares: grid-stride thread indexing and the strided layout that
// broadcasting maps and strided copies walk. Kernels are explicitly grouped and walk their work
// with grid-stride loops, so the host may launch fewer threads than elements (the CPU simulator is
// far faster that way, and a GPU needs no more threads than it can keep resident).
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>Grid-stride loop helpers for 1-D launches.</summary>
internal static class Threads
{
    /// <summary>This thread's index among all threads of a 1-D launch.</summary>
    public static int Global => Grid.IdxX * Group.DimX + Group.IdxX;

    /// <summary>Number of threads in a 1-D launch: the grid-stride step.</summary>
    public static int Count => Grid.DimX * Group.DimX;
}

/// <summary>Up to eight dimensions, innermost first, with the strides of two operands A and B.
/// Dimensions at or beyond <see cref="Rank"/> are ignored. The host merges contiguous dimensions
/// before filling it in, so eight is plenty for NCHW tensors.</summary>
internal struct StridedLayout
{
    public const int MaxRank = 8;

    public int Rank;
    public int Size0, Size1, Size2, Size3, Size4, Size5, Size6, Size7;
    public int A0, A1, A2, A3, A4, A5, A6, A7;
    public int B0, B1, B2, B3, B4, B5, B6, B7;

    /// <summary>Element offsets of linear index <paramref name="i"/> (row-major over the sizes) in A and B.
    /// Written out dimension by dimension: ILGPU 1.5.3 does not unroll loops and a local array
    /// indexed in a loop would live in slow local memory.</summary>
    public readonly void Offsets(int i, out int a, out int b)
    {
        int r = i, c;
        c = r % Size0; r /= Size0; a = c * A0; b = c * B0;
        if (Rank <= 1) return;
        c = r % Size1; r /= Size1; a += c * A1; b += c * B1;
        if (Rank <= 2) return;
        c = r % Size2; r /= Size2; a += c * A2; b += c * B2;
        if (Rank <= 3) return;
        c = r % Size3; r /= Size3; a += c * A3; b += c * B3;
        if (Rank <= 4) return;
        c = r % Size4; r /= Size4; a += c * A4; b += c * B4;
        if (Rank <= 5) return;
        c = r % Size5; r /= Size5; a += c * A5; b += c * B5;
        if (Rank <= 6) return;
        c = r % Size6; r /= Size6; a += c * A6; b += c * B6;
        if (Rank <= 7) return;
        c = r % Size7; a += c * A7; b += c * B7;
    }

    /// <summary>Sets dimension <paramref name="d"/> (0 = innermost). Host side only.</summary>
    public void Set(int d, int size, int strideA, int strideB)
    {
        switch (d)
        {
            case 0: Size0 = size; A0 = strideA; B0 = strideB; break;
            case 1: Size1 = size; A1 = strideA; B1 = strideB; break;
            case 2: Size2 = size; A2 = strideA; B2 = strideB; break;
            case 3: Size3 = size; A3 = strideA; B3 = strideB; break;
            case 4: Size4 = size; A4 = strideA; B4 = strideB; break;
            case 5: Size5 = size; A5 = strideA; B5 = strideB; break;
            case 6: Size6 = size; A6 = strideA; B6 = strideB; break;
            case 7: Size7 = size; A7 = strideA; B7 = strideB; break;
            default: throw new System.ArgumentOutOfRangeException(nameof(d), d, "at most 8 dimensions");
        }
    }
}

/// <summary>Group-wide sums for group-per-item kernels: a shuffle tree inside each warp, then the
/// warps' partial sums through shared memory (two barriers instead of one per halving).</summary>
internal static class GroupReduce
{
    /// <summary>Shared scratch the sum needs: one float per warp of the largest group (1024 / 32).</summary>
    public const int ScratchSize = 32;

    /// <summary>Sum of <paramref name="v"/> over every thread of the group, returned to every thread.
    /// All threads must call it (it contains barriers).</summary>
    public static float Sum(ArrayView<float> scratch, float v)
    {
        v = WarpSum(v);
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = v;
        Group.Barrier();
        float total = 0f;
        for (int w = 0; w < warps; w++) total += scratch[w];   // the same order in every thread: same result everywhere
        Group.Barrier();   // scratch is read by all before anyone reuses it
        return total;
    }

    /// <summary>Sum over the lanes of a warp, returned to every lane.</summary>
    public static float WarpSum(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1) v += Warp.ShuffleXor(v, offset);
        return v;
    }

    /// <summary>The group's best (value, index) under <see cref="ReduceKernels.Replaces"/>, returned to
    /// every thread. The order is total, so every thread agrees whatever the combining order.</summary>
    public static void ArgMax(ArrayView<float> scratchValue, ArrayView<int> scratchIndex, ref float best, ref int arg)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
        {
            float v = Warp.ShuffleXor(best, offset);
            int k = Warp.ShuffleXor(arg, offset);
            if (ReduceKernels.Replaces(best, arg, v, k)) { best = v; arg = k; }
        }
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        if (Warp.IsFirstLane) { scratchValue[Warp.WarpIdx] = best; scratchIndex[Warp.WarpIdx] = arg; }
        Group.Barrier();
        best = scratchValue[0];
        arg = scratchIndex[0];
        for (int w = 1; w < warps; w++)
            if (ReduceKernels.Replaces(best, arg, scratchValue[w], scratchIndex[w])) { best = scratchValue[w]; arg = scratchIndex[w]; }
        Group.Barrier();
    }
}

