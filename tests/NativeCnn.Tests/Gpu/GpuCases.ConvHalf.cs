// GPU conv2d with float16 inputs (x and w forward, gy and w backward-data, x and gy backward-weight;
// float32 outputs) against the CPU backend's float32 conv of the same float16-rounded values: the
// general geometry, pointwise, and a batch split into chunks, on the widening path and on each
// tensor-core kernel (their mma emulated on the simulator), the ldmatrix one included: the im2col path
// and its GEMMs (Options.ImplicitConv off; the implicit float16 kernels: GpuCases.ConvImplicitHalf.cs).
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void ConvHalf_WidenPath(GpuBackend gpu) =>
        WithHalfPath(gpu, HalfGemmPath.Widen, () => ConvHalfGeometries(gpu));

    public static void ConvHalf_TensorCorePath(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile64, () => ConvHalfGeometries(gpu));
    }

    /// <summary>The tensor-core conv with its GEMMs split in k (the partial products summed in float32).</summary>
    public static void ConvHalf_TensorCoreSplitK(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        var saved = gpu.Options.ForcedSplitK;
        gpu.Options.ForcedSplitK = 4;
        try { WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile64, () => ConvHalfGeometries(gpu)); }
        finally { gpu.Options.ForcedSplitK = saved; }
    }

    public static void ConvHalf_TensorCore128Path(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, GemmTile.Tile128, () => ConvHalfGeometries(gpu));
    }

    /// <summary>The float16 conv through the default ldmatrix kernel: a general geometry (its unaligned products
    /// take GemmFp16.cs's kernel) and one whose every product is 16-byte aligned (8 channels in, 16 out,
    /// 3x3: CRS = 72, P*Q = 64), which the profile shows on the ldmatrix kernel. (The other geometries
    /// add nothing here: their products are unaligned, and the simulator's emulation is slow.)</summary>
    public static void ConvHalf_LdmatrixPath(GpuBackend gpu) => ConvHalfLdmatrixPath(gpu, DefaultLdmatrixKernel, null);

    /// <summary>ConvHalf_LdmatrixPath on the kernel <paramref name="select"/> makes the backend's (the GPU lab's variants).</summary>
    private static void ConvHalfLdmatrixPath(GpuBackend gpu, string expected, Action? select)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !CanUseTensorCores(gpu)) return;
        WithIm2col(gpu, () => WithLdmatrix(gpu, select, () =>
        {
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                ConvHalfCheck(gpu, new ConvGeometry(N: 2, C: 3, H: 7, W: 6, K: 4, R: 3, S: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilationH: 1, DilationW: 2));
                ConvHalfCheck(gpu, new ConvGeometry(N: 2, C: 8, H: 8, W: 8, K: 16, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilationH: 1, DilationW: 1));
            }
            finally { gpu.EndProfile(); }
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith(expected, StringComparison.Ordinal));
        }));
    }

    private static void ConvHalfGeometries(GpuBackend gpu) => WithIm2col(gpu, () =>
    {
        ConvHalfCheck(gpu, new ConvGeometry(N: 2, C: 3, H: 7, W: 6, K: 4, R: 3, S: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilationH: 1, DilationW: 2));
        ConvHalfCheck(gpu, new ConvGeometry(2, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1));   // pointwise: no unfold
        var g = new ConvGeometry(3, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1);
        long saved = gpu.ColumnBudget;
        try
        {
            gpu.ColumnBudget = 2L * g.Crs * g.P * g.Q;   // chunks of 2 and 1 images
            ConvHalfCheck(gpu, g);
        }
        finally { gpu.ColumnBudget = saved; }
    });

    private static void ConvHalfCheck(GpuBackend gpu, ConvGeometry g)
    {
        var cpu = G.Cpu;
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.C * g.R * g.S, yl = g.N * g.K * g.P * g.Q;
        static float[] Round(float[] v) => v.Select(f => (float)(Half)f).ToArray();
        var x = Round(G.Rand(51, xl)); var w = Round(G.Rand(52, wl)); var gy = Round(G.Rand(53, yl)); var bias = G.Rand(54, g.K);
        string what = $"half conv ({gpu.EffectiveHalfGemm}) {g}";

        var yRef = G.Out(cpu, yl);
        cpu.Conv2dForward(G.Up(cpu, x), G.Up(cpu, w), G.Up(cpu, bias), yRef, g);
        var y = G.Out(gpu, yl);
        gpu.Conv2dForward(Half16(gpu, x), Half16(gpu, w), G.Up(gpu, bias), y, g);
        G.Close(G.Down(cpu, yRef), G.Down(gpu, y), 1e-5, what + " forward");

        var gxRef = G.Out(cpu, xl);
        cpu.Conv2dBackwardData(G.Up(cpu, gy), G.Up(cpu, w), gxRef, g);
        var gx = G.Out(gpu, xl);
        gpu.Conv2dBackwardData(Half16(gpu, gy), Half16(gpu, w), gx, g);
        G.Close(G.Down(cpu, gxRef), G.Down(gpu, gx), 1e-5, what + " backward-data");

        var gwRef = G.Out(cpu, wl); var gbRef = G.Out(cpu, g.K);
        cpu.Conv2dBackwardWeight(G.Up(cpu, x), G.Up(cpu, gy), gwRef, gbRef, g);
        var gw = G.Out(gpu, wl); var gb = G.Out(gpu, g.K);
        gpu.Conv2dBackwardWeight(Half16(gpu, x), Half16(gpu, gy), gw, gb, g);
        G.Close(G.Down(cpu, gwRef), G.Down(gpu, gw), 1e-5, what + " backward-weight");
        G.Close(G.Down(cpu, gbRef), G.Down(gpu, gb), 1e-5, what + " bias gradient");
    }
}
