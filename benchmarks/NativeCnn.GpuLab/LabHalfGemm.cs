// The GPU lab's float16 GEMM variants run through the backend: a LabHalfGemm is the backend's
// GpuKernelOptions.HalfTensorCoreOverride for one HalfKernel (LabHalfKernels.cs) and launches the lab's
// kernels (Kernels/GemmFp16Variants.cs: register-staged ldmatrix with 64x32 or 64x64 warps, optionally with
// the L1 prefetch; cp.async with 64x32 warps; Kernels/GemmFp16Wgmma.cs: wgmma, LabHalfGemm.Wgmma.cs) where
// the backend would run its default cp.async kernel: 128x128 tiles, both operands 16-byte aligned. Every
// other product it leaves to the backend (returns false), as the backend would have run it.
// What must hold: one LabHalfGemm per backend and kernel (ApplyTo is called per timed launch, and each
// caches its compiled kernels); a variant computes the product the backend's kernel computes.
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends.Gpu;
using NativeCnn.GpuLab.Kernels;
using NativeCnn.Kernels;

namespace NativeCnn.GpuLab;

internal sealed partial class LabHalfGemm
{
    private static readonly ConditionalWeakTable<GpuBackend, Dictionary<HalfKernel, LabHalfGemm>> Made = new();

    private readonly GpuBackend _gpu;

    /// <summary>The kernel this override runs.</summary>
    public HalfKernel Kernel { get; }

    private LabHalfGemm(GpuBackend gpu, HalfKernel kernel) { _gpu = gpu; Kernel = kernel; }

    /// <summary>The one override of <paramref name="kernel"/> on <paramref name="gpu"/>.</summary>
    public static LabHalfGemm Of(GpuBackend gpu, HalfKernel kernel)
    {
        var byKernel = Made.GetOrCreateValue(gpu);
        lock (byKernel)
        {
            if (!byKernel.TryGetValue(kernel, out var made)) byKernel[kernel] = made = new LabHalfGemm(gpu, kernel);
            return made;
        }
    }

    /// <summary>The override: true where it launched the product.</summary>
    public bool Run(GemmArgs args, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> c)
    {
        if (Kernel.Wgmma)
        {
            if (_gpu.Accelerator is CudaAccelerator && !SupportsWgmma(_gpu)) return false;
            GemmHalfWgmma(args, a, b, c);
            return true;
        }
        if (!Kernel.IsLabKernel) return false;
        if (_gpu.EffectiveTile(_gpu.Options.HalfGemmTile, args.M, args.N, args.Batch) != GemmTile.Tile128
            || !GpuBackend.LdmatrixAligned(args, GpuBackend.ViewIndex(a), GpuBackend.ViewIndex(b)))
            return false;
        bool wide = Kernel.Tile == HalfLdmatrixKernel.Warp64x64;
        args.AddressA = a.LoadEffectiveAddressAsPtr().ToInt64();
        args.AddressB = b.LoadEffectiveAddressAsPtr().ToInt64();
        var lab = new LabGemmArgs { G = args, Prefetch = Kernel.Prefetch && !Kernel.Async ? 1 : 0 };
        const int E = GemmHalfKernels.Tile128;
        var tiles = new Index3D((args.N + E - 1) / E, (args.M + E - 1) / E, Math.Min(args.Batch, 65535));
        int threads = wide ? GemmHalfKernels.GroupThreadsWarp64 : GemmHalfKernels.GroupThreads128;
        Launcher(args, wide, Kernel.Async)(new KernelConfig(tiles, new Index3D(threads, 1, 1)), a, b, c, lab);
        return true;
    }

    /// <summary>The lab's ldmatrix kernels by (cp.async, 64x64 warps, A transposed, B transposed) as a 4-bit index
    /// (the cp.async 64x64 ones are the backend's: null here), with their profile names.</summary>
    private static readonly (string Name, Action<ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs>? Kernel)[] Kernels =
    {
        ("gemmHalfLdmatrixNN", LabGemmHalfKernels.GemmHalfLdmatrixNNKernel), ("gemmHalfLdmatrixNT", LabGemmHalfKernels.GemmHalfLdmatrixNTKernel),
        ("gemmHalfLdmatrixTN", LabGemmHalfKernels.GemmHalfLdmatrixTNKernel), ("gemmHalfLdmatrixTT", LabGemmHalfKernels.GemmHalfLdmatrixTTKernel),
        ("gemmHalfLdmatrixW64NN", LabGemmHalfKernels.GemmHalfLdmatrixW64NNKernel), ("gemmHalfLdmatrixW64NT", LabGemmHalfKernels.GemmHalfLdmatrixW64NTKernel),
        ("gemmHalfLdmatrixW64TN", LabGemmHalfKernels.GemmHalfLdmatrixW64TNKernel), ("gemmHalfLdmatrixW64TT", LabGemmHalfKernels.GemmHalfLdmatrixW64TTKernel),
        ("gemmHalfAsyncNN", LabGemmHalfKernels.GemmHalfAsyncNNKernel), ("gemmHalfAsyncNT", LabGemmHalfKernels.GemmHalfAsyncNTKernel),
        ("gemmHalfAsyncTN", LabGemmHalfKernels.GemmHalfAsyncTNKernel), ("gemmHalfAsyncTT", LabGemmHalfKernels.GemmHalfAsyncTTKernel),
        ("gemmHalfAsyncW64NN", null), ("gemmHalfAsyncW64NT", null), ("gemmHalfAsyncW64TN", null), ("gemmHalfAsyncW64TT", null),
    };

    private readonly Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs>?[] _launchers =
        new Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs>?[Kernels.Length];

    /// <summary>The kernel for the product's transpose pair, warp tile and copy, with its launch bounds, through
    /// the backend's PTX pass (CompiledPtx.LoadStreamKernel) and its profile (Load).</summary>
    private Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, LabGemmArgs> Launcher(GemmArgs args, bool wide, bool async)
    {
        int i = (async ? 8 : 0) + (wide ? 4 : 0) + (args.TransA != 0 ? 2 : 0) + (args.TransB != 0 ? 1 : 0);
        var (name, kernel) = Kernels[i];
        if (kernel is null) throw new InvalidOperationException($"{name} is the backend's own kernel, not the lab's");
        var bounds = wide ? GemmHalfKernels.SpecializationWarp64 : GemmHalfKernels.Specialization128;
        return _gpu.Load(ref _launchers[i], acc => CompiledPtx.LoadStreamKernel(acc, kernel, bounds),
                         _gpu.Profile is null ? null : GpuBackend.GemmShape(args), name);
    }
}
