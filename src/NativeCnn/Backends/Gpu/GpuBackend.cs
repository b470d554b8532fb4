// The GPU backend: every primitive of IBackend as an ILGPU kernel launch on one accelerator (CUDA,
// or ILGPU's NVIDIA-like CPU simulator for tests). This file holds construction, launch helpers and
// the memory primitives; the op families live in GpuBackend.*.cs, their kernels in
// kernels/NativeCnn.Kernels. What must hold: every launch goes to the accelerator's default stream,
// in order, so pooled buffers can be reused without waiting; nothing waits for the device except
// ToHost (which needs the values); each kernel is compiled once, on first use, and its launcher cached;
// host arrays are pinned for every copy to or from the device (see Upload).
// A backend is driven by one thread at a time (the test suite runs every simulator user in its serial
// "Gpu" collection; Predictor serialises its forward passes). GEMMs once seen to read zeros while a
// second thread uploaded and downloaded were, most likely, the unpinned copies Upload/Download fix:
// another thread's allocations make the garbage collections that move the arrays.
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend : IBackend, IDisposable
{
    private readonly Accelerator _acc;
    private readonly GpuBufferPool _pool = new();
    private readonly object _loadLock = new();
    private bool _disposed;

    /// <summary>Threads per group of 1-D grid-stride launches.</summary>
    private readonly int _flatGroup;
    /// <summary>Most groups a 1-D grid-stride launch uses: enough to fill the GPU; the simulator runs
    /// each group's threads as OS threads, so it gets few groups doing many elements each.</summary>
    private readonly int _maxGroups;
    /// <summary>Threads per group of group-per-item kernels (reductions over one row or channel).</summary>
    private readonly int _itemGroup;

    internal GpuBackend(Accelerator accelerator, Device device)
    {
        _acc = accelerator;
        Device = device;
        if (accelerator is CPUAccelerator)
        {
            _flatGroup = 64;
            _maxGroups = 2;   // two groups, so grid-stride code is exercised across groups
            _itemGroup = 64;  // two warps: the cross-warp step of group sums still runs
        }
        else
        {
            _flatGroup = 256;
            _itemGroup = 256;
            _maxGroups = Math.Max(1, accelerator.NumMultiprocessors * (accelerator.MaxNumThreadsPerMultiprocessor / 256) * 2);
        }
    }

    public Device Device { get; }

    /// <summary>The ILGPU accelerator this backend launches on.</summary>
    internal Accelerator Accelerator => _acc;

    /// <summary>Which GEMM kernels run (tests and the GPU lab change them; GpuKernelOptions.cs).</summary>
    internal GpuKernelOptions Options { get; } = new();

    /// <summary>Buffers waiting in the pool (for tests).</summary>
    internal int PooledBufferCount => _pool.FreeCount;

    /// <summary>Waits until every launched kernel and copy has finished.</summary>
    public void Synchronize() => _acc.Synchronize();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _acc.Synchronize();
        _pool.Dispose();
        DisposeConvTaps();
        _placeholder?.Dispose();
        _placeholderHalf?.Dispose();
    }

    // ---- helpers -----------------------------------------------------------------------

    private GpuStorage S(Storage s) =>
        s as GpuStorage is { } g && ReferenceEquals(g.Backend, this)
            ? g
            : throw new InvalidOperationException($"internal: a storage on {s.Device} was passed to the {Device} backend");

    private ArrayView<float> F(Storage s) => S(s).F32;
    private ArrayView<int> I(Storage s) => S(s).I32;

    /// <summary>A 1-D grid-stride launch for <paramref name="work"/> items.</summary>
    private KernelConfig Flat(long work)
    {
        long groups = Math.Clamp((work + _flatGroup - 1) / _flatGroup, 1, _maxGroups);
        return new KernelConfig((int)groups, _flatGroup);
    }

    /// <summary>A launch of up to <paramref name="items"/> groups for group-per-item kernels (they loop
    /// over items beyond the grid, and take their group size from Group.DimX).</summary>
    private KernelConfig Groups(long items) =>
        new((int)Math.Clamp(items, 1, _acc is CPUAccelerator ? 2 : 65535), _itemGroup);

    /// <summary>While set, every launch waits for the device first and books kernel times here
    /// (KernelProfile.cs); null, launches are only queued. Set and cleared by the driving thread.</summary>
    public KernelProfile? Profile { get; set; }

    /// <summary>Stops profiling: waits for the last profiled kernel, books it and detaches the profile.</summary>
    public KernelProfile? EndProfile()
    {
        var p = Profile;
        p?.Close(_acc);
        Profile = null;
        return p;
    }

    /// <summary>Loads a kernel on first use and caches its launcher. <paramref name="detail"/> (computed
    /// only while profiling) refines the kernel's name in the profile, e.g. a GEMM's shape.</summary>
    internal T Load<T>(ref T? slot, Func<Accelerator, T> load, string? detail = null,
                      [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(slot))] string kernel = "") where T : class
    {
        if (Profile is not null)
        {
            string name = kernel.Replace("ref ", "").TrimStart('_');
            Profile.Launching(detail is null ? name : name + " " + detail, _acc);
        }
        if (slot is not null) return slot;
        lock (_loadLock) return slot ??= load(_acc);
    }

    // ---- memory ------------------------------------------------------------------------

    /// <summary>A pooled buffer for use inside one primitive; give it back with ReturnToPool once its launches are queued.</summary>
    internal GpuStorage Scratch(long length, DType dtype = DType.Float32)
    {
        if (length > int.MaxValue) throw new NativeCnnException($"GPU backend: a work buffer of {length} elements exceeds 2^31; use a smaller batch");
        int n = (int)length;
        return new GpuStorage(this, dtype, _pool.TryRent(dtype, n) ?? NewBuffer(dtype, n), n);
    }

    public Storage Allocate(DType dtype, int length)
    {
        if (length < 0) throw new InvalidOperationException($"internal: negative allocation length {length}");
        var buffer = _pool.TryRent(dtype, length) ?? NewBuffer(dtype, length);
        var storage = new GpuStorage(this, dtype, buffer, length);
        MemoryScope.Current?.Track(storage);
        return storage;
    }

    private MemoryBuffer NewBuffer(DType dtype, int length)
    {
        long n = Math.Max(1, length);   // ILGPU refuses empty buffers
        return dtype switch
        {
            DType.Float32 => _acc.Allocate1D<float>(n),
            DType.Float16 => _acc.Allocate1D<ushort>(n),
            _ => _acc.Allocate1D<int>(n),
        };
    }

    public void ReturnToPool(Storage storage)
    {
        var g = (GpuStorage)storage;
        _pool.Return(g.DType, g.Length, g.DetachForPool());
    }

    public Storage FromHost(float[] data)
    {
        var s = Allocate(DType.Float32, data.Length);
        Upload<float>(data, S(s).F32);
        return s;
    }

    public Storage FromHost(int[] data)
    {
        var s = Allocate(DType.Int32, data.Length);
        Upload<int>(data, S(s).I32);
        return s;
    }

    // Host memory is pinned for the whole copy. ILGPU 1.5.3's CopyFromCPU / CopyToCPU(ref T cpuData,
    // long length) document cpuData as "the base address of the pinned CPU buffer": they take its
    // address at once (ArrayViewExtensions.cs, CopyFromCPUUnsafeAsync / CopyToCPUUnsafeAsync:
    // CPUMemoryBuffer.Create(accelerator, ref cpuData, length) -> (T*)Unsafe.AsPointer(ref value),
    // CPUMemoryBuffer.cs) and then allocate (the PointerSourceBuffer wrapper, its WeakReference in
    // AcceleratorObject.RegisterChildObject) before copying through that raw pointer. A garbage
    // collection in between (triggered there or by any other thread) may move an unpinned array: the
    // copy then reads or writes the array's old place in the managed heap. Seen on the simulator as
    // downloads of all zeros (the moved array is untouched) and as heap corruption that kills the
    // process (the copy wrote over whatever the heap put there); the GPU path has the same hole.
    // ILGPU's own T[] overloads pin with fixed; these do the same for any span.

    /// <summary>Copies <paramref name="src"/> into the start of <paramref name="dst"/>, pinned.</summary>
    private static unsafe void Upload<T>(ReadOnlySpan<T> src, ArrayView<T> dst) where T : unmanaged
    {
        if (src.Length == 0) return;
        fixed (T* p = src) dst.SubView(0, src.Length).CopyFromCPU(ref *p, src.Length);
    }

    /// <summary>Copies <paramref name="dst"/>.Length elements of <paramref name="src"/> from <paramref name="offset"/> into <paramref name="dst"/>, pinned.</summary>
    private static unsafe void Download<T>(ArrayView<T> src, int offset, Span<T> dst) where T : unmanaged
    {
        if (dst.Length == 0) return;
        fixed (T* p = dst) src.SubView(offset, dst.Length).CopyToCPU(ref *p, dst.Length);
    }

    public void ToHost(Storage src, int offset, Span<float> dst)
    {
        if (dst.Length == 0) return;
        var s = S(src);
        switch (s.DType)
        {
            case DType.Float32:
                Download(s.F32, offset, dst);
                break;
            case DType.Float16:
            {
                var bits = new ushort[dst.Length];
                Download<ushort>(s.F16, offset, bits);
                for (int i = 0; i < bits.Length; i++) dst[i] = HalfBits.ToFloat(bits[i]);
                break;
            }
            default:
            {
                var ints = new int[dst.Length];
                Download<int>(s.I32, offset, ints);
                for (int i = 0; i < ints.Length; i++) dst[i] = ints[i];
                break;
            }
        }
    }

    public void ToHost(Storage src, int offset, Span<int> dst)
    {
        if (dst.Length == 0) return;
        var s = S(src);
        if (s.DType == DType.Int32)
        {
            Download(s.I32, offset, dst);
            return;
        }
        var f = new float[dst.Length];
        ToHost(src, offset, f);
        for (int i = 0; i < f.Length; i++) dst[i] = (int)f[i];
    }

    private Action<KernelConfig, ArrayView<float>, float, int>? _fillF32;
    private Action<KernelConfig, ArrayView<ushort>, ushort, int>? _fillF16;
    private Action<KernelConfig, ArrayView<int>, int, int>? _fillI32;

    public void Fill(Storage dst, float value)
    {
        var d = S(dst);
        int n = d.Length;
        if (n == 0) return;
        switch (d.DType)
        {
            case DType.Float32:
                Load(ref _fillF32, a => a.LoadStreamKernel<ArrayView<float>, float, int>(MemoryKernels.FillKernel))(Flat(n), d.F32, value, n);
                break;
            case DType.Float16:
                Load(ref _fillF16, a => a.LoadStreamKernel<ArrayView<ushort>, ushort, int>(MemoryKernels.FillKernel))(Flat(n), d.F16, HalfBits.FromFloat(value), n);
                break;
            default:
                Load(ref _fillI32, a => a.LoadStreamKernel<ArrayView<int>, int, int>(MemoryKernels.FillKernel))(Flat(n), d.I32, (int)value, n);
                break;
        }
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, StridedLayout, int>? _copyF32;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, StridedLayout, int>? _copyF16;
    private Action<KernelConfig, ArrayView<int>, ArrayView<int>, StridedLayout, int>? _copyI32;

    public void Copy(Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides, int[] shape)
    {
        var s = S(src);
        var d = S(dst);
        if (s.DType != d.DType) throw new InvalidOperationException($"internal: Copy from {s.DType} to {d.DType}; use Cast");
        switch (s.DType)
        {
            case DType.Float32:
                StridedCopy(s.F32, srcOffset, srcStrides, d.F32, dstOffset, dstStrides, shape,
                    Load(ref _copyF32, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, StridedLayout, int>(MemoryKernels.StridedCopyKernel)));
                break;
            case DType.Float16:
                StridedCopy(s.F16, srcOffset, srcStrides, d.F16, dstOffset, dstStrides, shape,
                    Load(ref _copyF16, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, StridedLayout, int>(MemoryKernels.StridedCopyKernel)));
                break;
            default:
                StridedCopy(s.I32, srcOffset, srcStrides, d.I32, dstOffset, dstStrides, shape,
                    Load(ref _copyI32, a => a.LoadStreamKernel<ArrayView<int>, ArrayView<int>, StridedLayout, int>(MemoryKernels.StridedCopyKernel)));
                break;
        }
    }

    /// <summary>A contiguous run on both sides is one device-to-device copy; anything else walks the layout.</summary>
    internal void StridedCopy<T>(ArrayView<T> src, int so, int[] ss, ArrayView<T> dst, int dOff, int[] ds, int[] shape,
                                Action<KernelConfig, ArrayView<T>, ArrayView<T>, StridedLayout, int> kernel) where T : unmanaged
    {
        Layouts.ForEach(shape, ss, ds, so, dOff, (_, aOff, bOff, layout, n) =>
        {
            if (layout.Rank == 1 && layout.A0 == 1 && layout.B0 == 1)
                src.SubView(aOff, n).CopyTo(dst.SubView(bOff, n));
            else
                kernel(Flat(n), src.SubView(aOff), dst.SubView(bOff), layout, n);
        });
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, int>? _castF32F16;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<float>, int>? _castF16F32;
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, int>? _castF32I32;
    private Action<KernelConfig, ArrayView<int>, ArrayView<float>, int>? _castI32F32;
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<int>, int>? _castF16I32;
    private Action<KernelConfig, ArrayView<int>, ArrayView<ushort>, int>? _castI32F16;

    public void Cast(Storage src, Storage dst)
    {
        var s = S(src);
        var d = S(dst);
        int n = s.Length;
        if (d.Length != n) throw new InvalidOperationException($"internal: Cast from {n} to {d.Length} elements; storages must have equal length");
        if (n == 0) return;
        var cfg = Flat(n);
        switch (s.DType, d.DType)
        {
            case (DType.Float32, DType.Float16):
                Load(ref _castF32F16, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, int>(MemoryKernels.CastFloatToHalfKernel))(cfg, s.F32, d.F16, n); break;
            case (DType.Float16, DType.Float32):
                Load(ref _castF16F32, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<float>, int>(MemoryKernels.CastHalfToFloatKernel))(cfg, s.F16, d.F32, n); break;
            case (DType.Float32, DType.Int32):
                Load(ref _castF32I32, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int>(MemoryKernels.CastFloatToIntKernel))(cfg, s.F32, d.I32, n); break;
            case (DType.Int32, DType.Float32):
                Load(ref _castI32F32, a => a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, int>(MemoryKernels.CastIntToFloatKernel))(cfg, s.I32, d.F32, n); break;
            case (DType.Float16, DType.Int32):
                Load(ref _castF16I32, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<int>, int>(MemoryKernels.CastHalfToIntKernel))(cfg, s.F16, d.I32, n); break;
            case (DType.Int32, DType.Float16):
                Load(ref _castI32F16, a => a.LoadStreamKernel<ArrayView<int>, ArrayView<ushort>, int>(MemoryKernels.CastIntToHalfKernel))(cfg, s.I32, d.F16, n); break;
            case (DType.Float32, DType.Float32): s.F32.SubView(0, n).CopyTo(d.F32.SubView(0, n)); break;
            case (DType.Float16, DType.Float16): s.F16.SubView(0, n).CopyTo(d.F16.SubView(0, n)); break;
            default: s.I32.SubView(0, n).CopyTo(d.I32.SubView(0, n)); break;
        }
    }

    private Action<KernelConfig, ArrayView<float>, ulong, float, float, int>? _uniform;
    private Action<KernelConfig, ArrayView<float>, ulong, float, float, int>? _normal;

    public void RandomUniform(Storage dst, ulong seed, float lo, float hi)
    {
        int n = dst.Length;
        if (n == 0) return;
        Load(ref _uniform, a => a.LoadStreamKernel<ArrayView<float>, ulong, float, float, int>(MemoryKernels.RandomUniformKernel))
            (Flat(n), F(dst), seed, lo, hi - lo, n);
    }

    public void RandomNormal(Storage dst, ulong seed, float mean, float std)
    {
        int n = dst.Length;
        if (n == 0) return;
        Load(ref _normal, a => a.LoadStreamKernel<ArrayView<float>, ulong, float, float, int>(MemoryKernels.RandomNormalKernel))
            (Flat(n), F(dst), seed, mean, std, n);
    }
}
