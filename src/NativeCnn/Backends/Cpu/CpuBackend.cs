// The managed CPU backend: memory, copies, casts and random fills. The compute primitives live in
// the other CpuBackend.*.cs files, one per op family (partial class). Kernels use Vector512/256
// where it pays (the CPU path, CpuInfo.cs) and CpuParallel's dynamic chunks over the cores for large
// work; small work stays on one thread.
using System.Runtime.CompilerServices;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend : IBackend
{
    public static readonly CpuBackend Instance = new();

    private readonly CpuBufferPool _pool = new();

    private CpuBackend() { }

    public Device Device => Device.Cpu;

    /// <summary>Nothing to wait for: every primitive has finished when it returns.</summary>
    public void Synchronize() { }

    /// <summary>Below this many elements of work a loop runs on one thread.</summary>
    internal const int ParallelThreshold = 1 << 15;

    internal static float[] F(Storage s) => ((CpuStorage)s).F32;
    internal static int[] I(Storage s) => ((CpuStorage)s).I32;

    public Storage Allocate(DType dtype, int length)
    {
        var scope = MemoryScope.Current;
        if (scope is null)
        {
            Array data = dtype switch
            {
                DType.Float32 => new float[length],
                DType.Float16 => new Half[length],
                _ => new int[length],
            };
            return new CpuStorage(this, dtype, data, length);
        }
        var storage = new CpuStorage(this, dtype, _pool.Rent(dtype, length), length);
        scope.Track(storage);
        return storage;
    }

    public void ReturnToPool(Storage storage)
    {
        var cpu = (CpuStorage)storage;
        _pool.Return(cpu.DType, cpu.Length, cpu.DetachForPool());
    }

    // Uploads take their array from the pool, so a buffer released outside any scope (a BatchIterator's
    // previous epoch) is reused by the next upload of its size instead of piling up in the pool.
    public Storage FromHost(float[] data)
    {
        var copy = (float[])_pool.Rent(DType.Float32, data.Length);
        data.CopyTo(copy, 0);
        return new CpuStorage(this, DType.Float32, copy, data.Length);
    }

    public Storage FromHost(int[] data)
    {
        var copy = (int[])_pool.Rent(DType.Int32, data.Length);
        data.CopyTo(copy, 0);
        return new CpuStorage(this, DType.Int32, copy, data.Length);
    }

    public void ToHost(Storage src, int offset, Span<float> dst)
    {
        var s = (CpuStorage)src;
        switch (s.DType)
        {
            case DType.Float32: s.F32.AsSpan(offset, dst.Length).CopyTo(dst); break;
            case DType.Float16: { var h = s.F16; for (int i = 0; i < dst.Length; i++) dst[i] = (float)h[offset + i]; break; }
            default: { var v = s.I32; for (int i = 0; i < dst.Length; i++) dst[i] = v[offset + i]; break; }
        }
    }

    public void ToHost(Storage src, int offset, Span<int> dst)
    {
        var s = (CpuStorage)src;
        switch (s.DType)
        {
            case DType.Int32: s.I32.AsSpan(offset, dst.Length).CopyTo(dst); break;
            case DType.Float32: { var f = s.F32; for (int i = 0; i < dst.Length; i++) dst[i] = (int)f[offset + i]; break; }
            default: { var h = s.F16; for (int i = 0; i < dst.Length; i++) dst[i] = (int)(float)h[offset + i]; break; }
        }
    }

    public void Fill(Storage dst, float value)
    {
        using var _ = Time("fill");
        var s = (CpuStorage)dst;
        switch (s.DType)
        {
            case DType.Float32: s.F32.AsSpan(0, s.Length).Fill(value); break;
            case DType.Float16: s.F16.AsSpan(0, s.Length).Fill((Half)value); break;
            default: s.I32.AsSpan(0, s.Length).Fill((int)value); break;
        }
    }

    public void Copy(Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides, int[] shape)
    {
        using var _ = Time(shape, static s => $"copy {string.Join('x', s)}");
        var s = (CpuStorage)src;
        var d = (CpuStorage)dst;
        if (s.DType != d.DType) throw new InvalidOperationException($"internal: Copy from {s.DType} to {d.DType}; use Cast");
        switch (s.DType)
        {
            case DType.Float32: StridedCopy<float>(s.F32, srcOffset, srcStrides, d.F32, dstOffset, dstStrides, shape); break;
            case DType.Float16: StridedCopy<Half>(s.F16, srcOffset, srcStrides, d.F16, dstOffset, dstStrides, shape); break;
            default: StridedCopy<int>(s.I32, srcOffset, srcStrides, d.I32, dstOffset, dstStrides, shape); break;
        }
    }

    /// <summary>Walks all but the last dimension with an odometer; the last dimension is a tight loop
    /// (a block copy when both sides have unit stride).</summary>
    private static void StridedCopy<T>(T[] src, int so, int[] ss, T[] dst, int dOff, int[] ds, int[] shape)
    {
        int rank = shape.Length;
        if (Shape.Numel(shape) == 0) return;
        if (rank == 0) { dst[dOff] = src[so]; return; }
        int inner = shape[rank - 1], sIn = ss[rank - 1], dIn = ds[rank - 1];
        // merge trailing dimensions that are contiguous in both (a dense tensor is one run): runs as
        // long as possible, and a whole dense copy split over the cores
        int outer = rank - 1;
        while (outer > 0 && sIn == 1 && dIn == 1 && ss[outer - 1] == inner && ds[outer - 1] == inner) inner *= shape[--outer];
        if (outer == 0 && sIn == 1 && dIn == 1)
        {
            For(inner, CheapChunk, (s, e) => src.AsSpan(so + s, e - s).CopyTo(dst.AsSpan(dOff + s, e - s)));
            return;
        }
        long outerCount = Shape.Numel(shape) / inner;
        Span<int> idx = stackalloc int[rank];
        for (long o = 0; o < outerCount; o++)
        {
            int sp = so, dp = dOff;
            for (int k = 0; k < outer; k++) { sp += idx[k] * ss[k]; dp += idx[k] * ds[k]; }
            if (sIn == 1 && dIn == 1) src.AsSpan(sp, inner).CopyTo(dst.AsSpan(dp, inner));
            else for (int i = 0; i < inner; i++) dst[dp + i * dIn] = src[sp + i * sIn];
            for (int k = outer - 1; k >= 0; k--)
            {
                if (++idx[k] < shape[k]) break;
                idx[k] = 0;
            }
        }
    }

    public void Cast(Storage src, Storage dst)
    {
        using var _ = Time("cast");
        var s = (CpuStorage)src;
        var d = (CpuStorage)dst;
        int n = s.Length;
        if (d.Length != n) throw new InvalidOperationException($"internal: Cast from {n} to {d.Length} elements; storages must have equal length");
        switch (s.DType, d.DType)
        {
            case (DType.Float32, DType.Float16): { var a = s.F32; var b = d.F16; for (int i = 0; i < n; i++) b[i] = (Half)a[i]; break; }
            case (DType.Float16, DType.Float32): { var a = s.F16; var b = d.F32; for (int i = 0; i < n; i++) b[i] = (float)a[i]; break; }
            case (DType.Float32, DType.Int32): { var a = s.F32; var b = d.I32; for (int i = 0; i < n; i++) b[i] = (int)a[i]; break; }
            case (DType.Int32, DType.Float32): { var a = s.I32; var b = d.F32; for (int i = 0; i < n; i++) b[i] = a[i]; break; }
            case (DType.Float16, DType.Int32): { var a = s.F16; var b = d.I32; for (int i = 0; i < n; i++) b[i] = (int)(float)a[i]; break; }
            case (DType.Int32, DType.Float16): { var a = s.I32; var b = d.F16; for (int i = 0; i < n; i++) b[i] = (Half)a[i]; break; }
            default: Array.Copy(s.Data, d.Data, n); break;
        }
    }

    public void RandomUniform(Storage dst, ulong seed, float lo, float hi)
    {
        var d = F(dst);
        float range = hi - lo;
        For(dst.Length, 1 << 14, (start, end) =>
        {
            for (int i = start; i < end; i++) d[i] = Rng.Affine(lo, range, Rng.Uniform(seed, i));
        });
    }

    public void RandomNormal(Storage dst, ulong seed, float mean, float std)
    {
        var d = F(dst);
        For(dst.Length, 1 << 13, (start, end) =>
        {
            for (int i = start; i < end; i++) d[i] = Rng.Affine(mean, std, Rng.Normal(seed, i));
        });
    }

    /// <summary>Splits [0, n) into chunks of at least <paramref name="minChunk"/> that the caller and
    /// thread-pool helpers claim dynamically (CpuParallel.cs); runs inline when there is only one chunk.</summary>
    internal static void For(int n, int minChunk, Action<int, int> body) => CpuParallel.For(n, minChunk, body);

    /// <summary>As For, with chunks that shrink towards the end (CpuParallel.ForGuided), boundaries multiples of
    /// <paramref name="grain"/>.</summary>
    internal static void ForGuided(int n, int grain, Action<int, int> body) => CpuParallel.ForGuided(n, grain, body);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
