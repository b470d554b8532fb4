// The implicit-GEMM float32 conv (GpuBackend.ConvImplicit.cs, the default float32 path) on every conv
// shape the suite uses: 1x1, 3x3, 7x7; stride 1 and 2; padding 0, 1, 3; dilation 2; odd sizes;
// batch 1; channels and pixel counts not multiples of the 64x128 tile; backward-weight in several k
// segments. Each geometry against the float64 direct convolution (ConvCheck) and the CPU backend,
// outputs poisoned beforehand so an element left unwritten fails.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    private static readonly ConvGeometry[] ImplicitShapes =
    {
        new(N: 2, C: 5, H: 4, W: 3, K: 3, R: 1, S: 1, StrideH: 1, StrideW: 1, PadH: 0, PadW: 0, DilationH: 1, DilationW: 1),   // pointwise
        new(2, 6, 5, 5, 7, 1, 1, 2, 2, 0, 0, 1, 1),     // 1x1 stride 2 (resnet downsample), odd size
        new(2, 3, 12, 11, 4, 3, 3, 1, 1, 1, 1, 1, 1),   // 3x3 "same": 264 output pixels, three 128-wide tiles
        new(1, 3, 7, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1),     // 3x3 stride 2, batch 1, odd size
        new(2, 3, 11, 9, 4, 7, 7, 2, 2, 3, 3, 1, 1),    // 7x7 stride 2 padding 3 (the stem)
        new(2, 2, 7, 6, 3, 3, 3, 1, 1, 2, 2, 2, 2),     // dilation 2
        new(1, 2, 5, 6, 3, 2, 3, 2, 1, 0, 1, 1, 2),     // asymmetric kernel, strides, padding, dilation
    };

    public static void ConvImplicit_EveryShape(GpuBackend gpu)
    {
        Assert.True(gpu.Options.ImplicitConv, "the implicit GEMM is the default float32 conv path");
        foreach (var g in ImplicitShapes)
        {
            ConvCheck(gpu, g);
            ConvAgree(gpu, g);
        }
    }

    /// <summary>Channels beyond one 64-row tile (K = 70 forward, C = 67 backward-data) and a reduction
    /// (C*R*S = 603, K*R*S = 630) beyond four 128-column tiles of backward-weight, none a multiple of a tile.</summary>
    public static void ConvImplicit_ChannelsNotTileMultiples(GpuBackend gpu)
    {
        var g = new ConvGeometry(1, 67, 3, 3, 70, 3, 3, 1, 1, 1, 1, 1, 1);
        ConvCheck(gpu, g);
        ConvAgree(gpu, g);
    }

    /// <summary>Backward-weight cut into k segments (2, 3 and 5 of them, the last shorter) gives the
    /// unsplit product within float32 rounding.</summary>
    public static void ConvImplicit_SplitK(GpuBackend gpu)
    {
        var g = new ConvGeometry(3, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1);   // 126 pixels: 16 slices of 8
        int? saved = gpu.Options.ForcedConvSplitK;
        try
        {
            foreach (int split in new[] { 2, 3, 5 })
            {
                gpu.Options.ForcedConvSplitK = split;
                ConvCheck(gpu, g);
            }
        }
        finally { gpu.Options.ForcedConvSplitK = saved; }
        // the automatic choice: about four groups per SM, segments of at least 1024 pixels
        Assert.Equal(1, GpuBackend.ConvSplitK(64, 576, 1000, 132));
        Assert.Equal(106, GpuBackend.ConvSplitK(64, 576, 256L * 1024, 132));
        Assert.Equal(2, GpuBackend.ConvSplitK(512, 4608, 256L * 16, 132));
    }

    /// <summary>The im2col path, still the float16 one, kept in float32 behind ImplicitConv = false, agrees too.</summary>
    public static void ConvImplicit_Im2colPathStillAgrees(GpuBackend gpu)
    {
        bool saved = gpu.Options.ImplicitConv;
        try
        {
            gpu.Options.ImplicitConv = false;
            ConvCheck(gpu, ImplicitShapes[4]);
        }
        finally { gpu.Options.ImplicitConv = saved; }
    }

    private static void ConvAgree(GpuBackend gpu, ConvGeometry g)
    {
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.Crs, yl = g.N * g.K * g.P * g.Q;
        Both.Agree(gpu, $"implicit conv {g}", new[] { G.Rand(81, xl), G.Rand(82, wl), G.Rand(83, yl) },
            new[] { yl, xl, wl }, (be, i, o) =>
            {
                be.Conv2dForward(i[0], i[1], null, o[0], g);
                be.Conv2dBackwardData(i[2], i[1], o[1], g);
                be.Conv2dBackwardWeight(i[0], i[2], o[2], null, g);
            });
    }
}
