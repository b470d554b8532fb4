// The float16 implicit-GEMM conv on tensor cores (GpuBackend.ConvImplicitHalf.cs; on the simulator the
// products from the staged slices, and for one shape each mma emulated from the fragment registers by
// warp shuffles, ExactTensorCoreEmulation) against the CPU backend's float32 conv of
// the same float16-rounded values (ConvHalfCheck: products of halves are exact in float32, so the suite's
// float32 tolerance holds), on every conv shape of the float32 implicit cases, channels not multiples
// of the tile, and backward-weight in k segments.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void ConvImplicitHalf_EveryShape(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, () =>
        {
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                foreach (var g in ImplicitShapes) ConvHalfCheck(gpu, g);
                ConvHalfCheck(gpu, new ConvGeometry(1, 67, 3, 3, 70, 3, 3, 1, 1, 1, 1, 1, 1));
            }
            finally { gpu.EndProfile(); }
            // the implicit kernels ran, and nothing unfolded
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convImplicitHalfForward", StringComparison.Ordinal));
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convImplicitHalfBackwardData", StringComparison.Ordinal));
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convImplicitHalfBackwardWeight", StringComparison.Ordinal));
            Assert.DoesNotContain(profile.Entries, e => e.Kernel.Contains("unfold", StringComparison.OrdinalIgnoreCase));
        });
    }

    /// <summary>The GPU path itself with ldmatrix-free fragment loads and each mma emulated by warp shuffles
    /// (slow): the fragment registers the hardware would get give the right sums.</summary>
    public static void ConvImplicitHalf_ExactEmulation(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        bool saved = gpu.Options.ExactTensorCoreEmulation;
        try
        {
            gpu.Options.ExactTensorCoreEmulation = true;
            WithHalfPath(gpu, HalfGemmPath.TensorCore, () =>
            {
                ConvHalfCheck(gpu, ImplicitShapes[3]);   // 3x3 stride 2, batch 1: one shape (minutes on a loaded simulator)
            });
        }
        finally { gpu.Options.ExactTensorCoreEmulation = saved; }
    }

    public static void ConvImplicitHalf_SplitK(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        var g = new ConvGeometry(3, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1);   // 126 pixels: 4 slices of 32
        int? saved = gpu.Options.ForcedConvSplitK;
        try
        {
            WithHalfPath(gpu, HalfGemmPath.TensorCore, () =>
            {
                foreach (int split in new[] { 2, 3 })
                {
                    gpu.Options.ForcedConvSplitK = split;
                    ConvHalfCheck(gpu, g);
                }
            });
        }
        finally { gpu.Options.ForcedConvSplitK = saved; }
    }

    /// <summary>The im2col float16 path (kept behind ImplicitConv = false) for the cases that test its GEMMs.</summary>
    private static void WithIm2col(GpuBackend gpu, Action run)
    {
        bool saved = gpu.Options.ImplicitConv;
        gpu.Options.ImplicitConv = false;
        try { run(); }
        finally { gpu.Options.ImplicitConv = saved; }
    }
}
