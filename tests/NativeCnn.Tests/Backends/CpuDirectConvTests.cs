// The direct convolution kernels (CpuConv.Direct.cs, CpuConv.DirectOc.cs, CpuConv.DirectWeight.cs,
// CpuConv.DirectWeightRows.cs): forward, backward-data (the transposed convolution, with W flipped
// while packing) and the weight gradient against float64 references on each vector path that has
// them, over the shapes that stress them: output rows of one and of several vectors, runs of pixels
// across rows and images,
// two rows per tile, a last tile of half a tile, output channels that leave a partial MR panel (on
// the 256-bit path 1-4 rows: K = 13, 8, 9, 10 and C = 3, 4, 40 run the 2- and 4-row kernels in place),
// depths spanning several blocks, padding 0 / 1 / asymmetric, dilation 2, non-square kernels, one
// image (tiles shared over the cores) and many (images side by side). Each case first asserts that
// the direct path really takes it, so the test cannot pass by testing the GEMM path instead.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Backends;

// CpuInfo.Select is process-wide: classes that switch the path share one collection, so xunit
// never runs two of them at once.
[Collection("CPU path switching")]
public class CpuDirectConvTests
{
    public static TheoryData<string> VectorPaths()
    {
        var data = new TheoryData<string>();
        foreach (var p in CpuInfo.Supported())
            if (p != CpuPath.Portable) data.Add(p.ToString());
        return data;
    }

    // (N, C, H, W, K, R, S, pad h, pad w, dilation, stride)
    private static readonly (int N, int C, int H, int W, int K, int R, int S, int Ph, int Pw, int D, int Stride)[] Cases =
    {
        (2, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1),     // Q = 16: two output rows per AVX-512 tile, one per AVX2 tile
        (1, 5, 9, 32, 13, 3, 3, 1, 1, 1, 1),     // one image, odd rows, 13 output channels (partial panels)
        (3, 40, 5, 16, 7, 3, 3, 1, 1, 1, 1),     // depth 360: two depth blocks; P*Q = 80 (a last half tile at AVX-512)
        (4, 2, 7, 34, 9, 3, 3, 0, 0, 1, 1),      // no padding: Q = 32
        (2, 4, 8, 30, 6, 3, 5, 1, 3, 1, 1),      // 3x5 kernel, padding (1, 3): Q = 32
        (2, 3, 12, 20, 5, 3, 3, 2, 2, 2, 1),     // dilation 2: Q = 16
        (9, 2, 4, 16, 3, 1, 1, 0, 0, 1, 1),      // 1x1, many images
        (2, 6, 8, 8, 10, 3, 3, 1, 1, 1, 1),      // Q = 8: the 256-bit kernel (on AVX-512 too where it is half rate)
        (1, 4, 5, 24, 7, 3, 3, 1, 1, 1, 1),      // Q = 24
        (2, 16, 6, 16, 31, 3, 3, 1, 1, 1, 1),    // backward-data depth 279: blocks of 140, the second from mid-kernel (t = 5)
        // the output-channel kernel (CpuConv.DirectOc.cs): on the 512-bit path Q = 8 and 24, 32 and 64
        // channels both ways, padding 2 with dilation 2
        (2, 32, 8, 8, 64, 3, 3, 1, 1, 1, 1),
        (3, 32, 6, 24, 32, 3, 3, 1, 1, 1, 1),
        (2, 32, 12, 8, 32, 3, 3, 2, 2, 2, 1),
        // on both paths: runs of pixels across rows, the last run past the image's end (Q = 7, 14:
        // mnist's conv4; 9), runs of two whole rows (Q = 4: resnet18's layer4), 16 channels (the 256-bit
        // panel), stride 2 with whole 6-pixel runs (the 256-bit path only)
        (2, 32, 7, 7, 32, 3, 3, 1, 1, 1, 1),
        (2, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1),
        (2, 32, 9, 9, 32, 3, 3, 1, 1, 1, 1),
        (2, 32, 4, 4, 32, 3, 3, 1, 1, 1, 1),
        (3, 16, 5, 7, 16, 3, 3, 1, 1, 1, 1),
        (2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 2),
        // runs across images (a thread pads its images side by side), and one image with its tiles shared out
        (20, 16, 7, 7, 32, 3, 3, 1, 1, 1, 1),
        (13, 16, 5, 7, 16, 3, 3, 1, 1, 1, 1),
        (1, 32, 7, 7, 32, 3, 3, 1, 1, 1, 1),
        // stride 2 (the phase planes; backward-data goes its own way): Q = 16, Q = 8, the stem's 7x7, odd H
        (2, 3, 32, 32, 8, 3, 3, 1, 1, 1, 2),
        (2, 4, 16, 16, 6, 3, 3, 1, 1, 1, 2),
        (1, 3, 64, 64, 8, 7, 7, 3, 3, 1, 2),
        (2, 5, 31, 32, 7, 3, 3, 1, 1, 1, 2),
        (2, 8, 16, 16, 32, 3, 3, 1, 1, 1, 2),    // Q = 8 at stride 2: the output-channel kernel (512-bit path), on the padded image
        // stride 2, at most 128 channels: the output-channel kernel's runs across rows (Q = 14: mnist's conv2)
        // and images (Q = 7), one image with its tiles shared out, padding 2 with dilation 2
        (2, 32, 28, 28, 64, 3, 3, 1, 1, 1, 2),
        (3, 16, 13, 13, 32, 3, 3, 1, 1, 1, 2),
        (1, 16, 13, 13, 32, 3, 3, 1, 1, 1, 2),
        (2, 16, 14, 14, 32, 3, 3, 2, 2, 2, 2),
    };

    private static void OnPath(string name, Action body)
    {
        CpuInfo.Select(Enum.Parse<CpuPath>(name));
        try { body(); }
        finally { CpuInfo.Select(CpuPath.Auto); }
    }

    [Theory]
    [MemberData(nameof(VectorPaths))]
    public void ForwardAndBackwardDataMatchFloat64(string path) => OnPath(path, () =>
    {
        var backend = CpuBackend.Instance;
        bool halfRate512 = CpuInfo.Current.Fma512Over256 < 1.5;
        int tested = 0;
        foreach (var (n, c, h, w, k, r, s, ph, pw, d, st) in Cases)
        {
            var g = new ConvGeometry(n, c, h, w, k, r, s, st, st, ph, pw, d, d);
            bool expected = CpuInfo.Path == CpuPath.Avx512 ? g.Q % 16 == 0 || (g.Q % 8 == 0 && halfRate512) : g.Q % 8 == 0;
            Assert.Equal(expected, CpuBackend.DirectApplies(g));
            // rows of 7, 14, ... pixels: only the output-channel kernel (CpuConv.DirectOc.cs) takes them
            if (!expected && !CpuBackend.DirectOcApplies(g)) continue;
            tested++;
            var x = Floats(11, n * c * h * w);
            var wt = Floats(12, k * g.Crs);
            var gy = Floats(13, n * k * g.P * g.Q);
            var y = new float[gy.Length];
            var gx = new float[x.Length];
            // NaN garbage in the outputs: every element must be written, not accumulated
            Array.Fill(y, float.NaN);
            Array.Fill(gx, float.NaN);
            var ys = backend.FromHost(y);
            var gxs = backend.FromHost(gx);
            backend.Conv2dForward(backend.FromHost(x), backend.FromHost(wt), null, ys, g);
            backend.Conv2dBackwardData(backend.FromHost(gy), backend.FromHost(wt), gxs, g);
            var (ey, egx, _) = ConvReference.Float64(g, x, wt, gy);
            double tol = 1e-5 * Math.Sqrt(g.Crs) + 1e-6;
            OpCheck.AssertClose(ey, ((CpuStorage)ys).F32, tol, $"{path} direct forward {g}");
            OpCheck.AssertClose(egx, ((CpuStorage)gxs).F32, tol * Math.Sqrt(k), $"{path} direct backward-data {g}");
        }
        Assert.True(tested >= 5, $"only {tested} cases ran the direct path");
    });

    // weight gradient (CpuConv.DirectWeight.cs), stride 1 and 2: images several per pass (7x7: 5 a pass) in groups
    // that do not divide evenly, one image of 400 pixels in two row blocks, groups of several passes, output widths that are not
    // whole vectors, partial row panels (C*R*S = 72, 360) and column panels (K = 7, 40), no padding,
    // dilation 2, a 1x3 kernel
    private static readonly (int N, int C, int H, int W, int K, int R, int S, int Ph, int Pw, int D, int Stride)[] WeightCases =
    {
        (11, 8, 7, 7, 40, 3, 3, 1, 1, 1, 1),
        (1, 8, 20, 20, 16, 3, 3, 1, 1, 1, 1),
        (40, 8, 16, 16, 12, 3, 3, 1, 1, 1, 1),   // 256-pixel images one per pass: several passes per group
        (3, 40, 5, 16, 7, 3, 3, 1, 1, 1, 1),
        (4, 9, 10, 13, 33, 3, 3, 0, 0, 1, 1),
        (2, 8, 12, 12, 24, 3, 3, 2, 2, 2, 1),
        (5, 24, 6, 9, 17, 1, 3, 0, 1, 1, 1),
        // stride 2 through the phase planes: mnist-like, odd sizes, the stem's 7x7 pad 3 over 3 channels,
        // no padding, dilation 2
        (4, 8, 14, 14, 16, 3, 3, 1, 1, 1, 2),
        (3, 8, 13, 11, 12, 3, 3, 1, 1, 1, 2),
        (2, 3, 20, 18, 8, 7, 7, 3, 3, 1, 2),
        (2, 8, 9, 9, 8, 3, 3, 0, 0, 1, 2),
        (2, 8, 12, 12, 8, 3, 3, 2, 2, 2, 2),
        // K > 128, by rows of gW^T on either kernel (CpuConv.DirectWeightRows.cs): 8x8 images six per
        // depth block then one alone (all seven in one on the 6x16 kernel), 400-pixel images in
        // two row blocks with a partial row panel (C*R*S = 81), stride 2, dilation 2 without padding;
        // K = 129-144 leaves a partial column panel; rows of 4 pixels keep the GEMM
        (7, 8, 8, 8, 136, 3, 3, 1, 1, 1, 1),
        (2, 9, 20, 20, 130, 3, 3, 1, 1, 1, 1),
        (3, 8, 13, 17, 144, 3, 3, 1, 1, 1, 2),
        (2, 8, 12, 12, 129, 3, 3, 2, 2, 2, 1),
        (3, 72, 16, 16, 136, 1, 1, 0, 0, 1, 2),   // resnet18's 1x1 stride-2 downsample: one phase plane of four
        (2, 16, 4, 4, 136, 3, 3, 1, 1, 1, 1),     // Q = 4: the GEMM
        (1, 448, 8, 8, 136, 3, 3, 1, 1, 1, 1),    // C*R*S = 4032: a thread's row panels in two groups
        (2, 128, 8, 8, 128, 3, 3, 1, 1, 1, 1),    // K = 128 with 147K weights: by rows where two partials outgrow L2
    };

    [Theory]
    [MemberData(nameof(VectorPaths))]
    public void BackwardWeightMatchesFloat64(string path) => OnPath(path, () =>
    {
        var backend = CpuBackend.Instance;
        foreach (var (n, c, h, w, k, r, s, ph, pw, d, st) in WeightCases)
        {
            var g = new ConvGeometry(n, c, h, w, k, r, s, st, st, ph, pw, d, d);
            // K > 128 goes by rows on rows of 8+ pixels; shorter rows keep the GEMM (values checked either way)
            bool direct = k <= 128 || g.Q >= 8;
            Assert.True(CpuBackend.DirectWeightApplies(g) == direct, $"{path}: the direct weight gradient should {(direct ? "" : "not ")}take {g}");
            var x = Floats(21, n * c * h * w);
            var gy = Floats(23, n * k * g.P * g.Q);
            var gw = new float[k * g.Crs];
            Array.Fill(gw, float.NaN);
            var gws = backend.FromHost(gw);
            backend.Conv2dBackwardWeight(backend.FromHost(x), backend.FromHost(gy), gws, null, g);
            OpCheck.AssertClose(ConvReference.Float64(g, x, new float[gw.Length], gy).Gw, ((CpuStorage)gws).F32, 1e-5 * Math.Sqrt(n * g.P * g.Q) + 1e-6,
                                $"{path} direct weight gradient {g}");
        }
    });

    public static TheoryData<string, int> VectorPathsAndThreads()
    {
        var data = new TheoryData<string, int>();
        foreach (var p in CpuInfo.Supported())
            if (p != CpuPath.Portable) { data.Add(p.ToString(), 2); data.Add(p.ToString(), 3); }
        return data;
    }

    // images side by side on two and three threads (whatever cores the machine has): each image's work
    // in quarters (channel panels of the pixel kernel, tiles of the output-channel and per-phase kernels)
    // in chunks that shrink towards the end, so chunks begin and end inside images and the last ones hold
    // single quarters; and the weight gradient's rows of gW^T in shrinking chunks. All three passes of
    // each layer against float64, outputs NaN-filled first.
    [Theory]
    [MemberData(nameof(VectorPathsAndThreads))]
    public void ImagesSharedInPartsMatchFloat64(string path, int threads) => OnPath(path, () =>
    {
        var backend = CpuBackend.Instance;
        CpuThreads.With(threads, () =>
        {
            foreach (var g in new[]
            {
                new ConvGeometry(12, 16, 8, 16, 40, 3, 3, 1, 1, 1, 1, 1, 1),    // the pixel kernel: 40 channels, 5-7 panels
                new ConvGeometry(12, 32, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1),     // the output-channel kernel, groups of images
                new ConvGeometry(12, 32, 14, 14, 32, 3, 3, 2, 2, 1, 1, 1, 1),   // stride 2: backward-data by phases
                new ConvGeometry(12, 32, 8, 8, 136, 3, 3, 1, 1, 1, 1, 1, 1),    // K > 128: the weight gradient by rows
            })
            {
                Assert.True(CpuBackend.ImagesShareCores(g.N), $"{g.N} images should share {threads} threads");
                Assert.True(CpuBackend.DirectApplies(g) || CpuBackend.DirectOcApplies(g), $"{path}: a direct kernel should take {g}");
                Assert.True(CpuBackend.DirectWeightApplies(g), $"{path}: the direct weight gradient should take {g}");
                if (g.StrideH == 2) Assert.True(CpuBackend.PhaseOcApplies(g), $"{path}: the per-phase kernel should take {g}");
                var x = Floats(41, g.N * g.C * g.H * g.W);
                var wt = Floats(42, g.K * g.Crs);
                var gy = Floats(43, g.N * g.K * g.P * g.Q);
                float[] y = new float[gy.Length], gx = new float[x.Length], gw = new float[wt.Length];
                Array.Fill(y, float.NaN);
                Array.Fill(gx, float.NaN);
                Array.Fill(gw, float.NaN);
                var (ys, gxs, gws) = (backend.FromHost(y), backend.FromHost(gx), backend.FromHost(gw));
                backend.Conv2dForward(backend.FromHost(x), backend.FromHost(wt), null, ys, g);
                backend.Conv2dBackwardData(backend.FromHost(gy), backend.FromHost(wt), gxs, g);
                backend.Conv2dBackwardWeight(backend.FromHost(x), backend.FromHost(gy), gws, null, g);
                var (ey, egx, egw) = ConvReference.Float64(g, x, wt, gy);
                double tol = 1e-5 * Math.Sqrt(g.Crs) + 1e-6;
                string where = $"{path}, {threads} threads, {g}";
                OpCheck.AssertClose(ey, ((CpuStorage)ys).F32, tol, "forward " + where);
                OpCheck.AssertClose(egx, ((CpuStorage)gxs).F32, tol * Math.Sqrt(g.K), "backward-data " + where);
                OpCheck.AssertClose(egw, ((CpuStorage)gws).F32, 1e-5 * Math.Sqrt(g.N * g.P * g.Q) + 1e-6,
                                    "weight gradient " + where);
            }
        });
    });

    // the output-channel kernel on one thread, where one thread pads a group of images side by side: eight
    // 49-pixel images in one group, so runs of 8 (the 512-bit path) cross every image's end, the seventh with
    // 6 pixels left in its image (a store that once dropped the 2 past it), at stride 1 and 2; runs of 6 too
    [Theory]
    [MemberData(nameof(VectorPaths))]
    public void OutputChannelRunsAcrossAGroupOfImagesOnOneThread(string path) => OnPath(path, () =>
    {
        var backend = CpuBackend.Instance;
        CpuThreads.With(1, () =>
        {
            foreach (var g in new[]
            {
                new ConvGeometry(8, 16, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1),
                new ConvGeometry(8, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1, 1, 1),
                new ConvGeometry(9, 16, 13, 13, 32, 3, 3, 2, 2, 1, 1, 1, 1),
            })
            {
                Assert.True(CpuBackend.DirectOcApplies(g), $"{path}: the output-channel kernel should take {g}");
                var x = Floats(31, g.N * g.C * g.H * g.W);
                var wt = Floats(32, g.K * g.Crs);
                var gy = Floats(33, g.N * g.K * g.P * g.Q);
                var y = new float[gy.Length];
                Array.Fill(y, float.NaN);
                var ys = backend.FromHost(y);
                backend.Conv2dForward(backend.FromHost(x), backend.FromHost(wt), null, ys, g);
                var (ey, _, _) = ConvReference.Float64(g, x, wt, gy);
                OpCheck.AssertClose(ey, ((CpuStorage)ys).F32, 1e-5 * Math.Sqrt(g.Crs) + 1e-6, $"{path} output-channel forward, one thread, {g}");
            }
        });
    });

    [Fact]
    public void OtherShapesAndTheSwitchKeepTheGemmPath()
    {
        CpuInfo.Select(CpuInfo.Supports(CpuPath.Avx2) ? CpuPath.Avx2 : CpuPath.Portable);
        try
        {
            var sameWidth = new ConvGeometry(2, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1);
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectApplies(sameWidth));
            Assert.False(CpuBackend.DirectApplies(sameWidth with { StrideH = 3, StrideW = 3 }));
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectApplies(sameWidth with { H = 32, W = 32, StrideH = 2, StrideW = 2 }));
            Assert.False(CpuBackend.DirectApplies(sameWidth with { W = 14 }));   // Q = 14: not whole vectors
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectWeightApplies(sameWidth with { C = 8 }));
            Assert.False(CpuBackend.DirectWeightApplies(sameWidth));                       // C*R*S = 27: few channels
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectWeightApplies(sameWidth with { C = 8, K = 256 }));   // K > 128: by rows
            Assert.False(CpuBackend.DirectWeightApplies(sameWidth with { C = 8, K = 256, H = 4, W = 4 }));   // ... not on 4-pixel rows
            Assert.True(CpuBackend.DirectWeightApplies(sameWidth with { C = 8, StrideH = 2, StrideW = 2 }) == (CpuInfo.Path != CpuPath.Portable));
            Assert.False(CpuBackend.DirectWeightApplies(sameWidth with { C = 8, StrideH = 3, StrideW = 3 }));
            Assert.False(CpuBackend.DirectWeightApplies(sameWidth with { C = 8, StrideH = 1, StrideW = 2 }));
            var eightWide = new ConvGeometry(2, 32, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1);
            Assert.False(CpuBackend.DirectOcApplies(eightWide));                             // 256-bit path, Q = 8: the 6x16 pixel kernel
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectOcApplies(eightWide with { H = 7, W = 7 }));   // Q = 7: runs of 6
            Assert.False(CpuBackend.DirectOcApplies(eightWide with { H = 7, W = 7, K = 40 }));   // not whole 16-channel panels
            var mnistConv2 = eightWide with { H = 28, W = 28, StrideH = 2, StrideW = 2 };   // Q = 14 at stride 2
            Assert.Equal(CpuInfo.Path != CpuPath.Portable, CpuBackend.DirectOcApplies(mnistConv2));   // runs across rows: up to 128 channels
            Assert.False(CpuBackend.DirectOcApplies(mnistConv2 with { K = 256 }));   // ... beyond, the GEMM
            if (CpuInfo.Supports(CpuPath.Avx512))
            {
                CpuInfo.Select(CpuPath.Avx512);
                Assert.True(CpuBackend.DirectOcApplies(eightWide));
                Assert.True(CpuBackend.DirectOcApplies(eightWide with { H = 16, W = 16, StrideH = 2, StrideW = 2 }));
                Assert.False(CpuBackend.DirectOcApplies(eightWide with { K = 40 }));         // not whole 32-channel panels
                Assert.False(CpuBackend.DirectOcApplies(eightWide with { W = 16 }));         // Q = 16: the 8x32 pixel kernel
                Assert.True(CpuBackend.DirectOcApplies(eightWide with { H = 7, W = 7 }));     // Q = 7: runs across rows
                Assert.True(CpuBackend.DirectOcApplies(eightWide with { H = 14, W = 14, StrideH = 2, StrideW = 2 }));   // partial runs at stride 2: 64 channels
                Assert.False(CpuBackend.DirectOcApplies(eightWide with { H = 14, W = 14, StrideH = 2, StrideW = 2, K = 256 }));   // ... not 256
                Assert.True(CpuBackend.DirectOcApplies(eightWide with { H = 4, W = 4 }));     // Q = 4: runs of two rows
                Assert.False(CpuBackend.DirectOcApplies(eightWide with { StrideH = 2, StrideW = 2, K = 512 }));   // ... not at stride 2 with 512 channels
                Assert.False(CpuBackend.DirectOcApplies(eightWide with { H = 2, W = 2 }));    // 4 pixels: half of the run wasted
                CpuBackend.DirectOcConvolution = false;
                Assert.False(CpuBackend.DirectOcApplies(eightWide));
                CpuBackend.DirectOcConvolution = true;
                CpuInfo.Select(CpuInfo.Supports(CpuPath.Avx2) ? CpuPath.Avx2 : CpuPath.Portable);
            }
            CpuBackend.DirectConvolution = false;
            Assert.False(CpuBackend.DirectApplies(sameWidth));
            Assert.False(CpuBackend.DirectWeightApplies(sameWidth with { C = 8 }));
        }
        finally
        {
            CpuBackend.DirectConvolution = true;
            CpuBackend.DirectOcConvolution = true;
            CpuInfo.Select(CpuPath.Auto);
        }
    }

    private static float[] Floats(int seed, int n) => Input.Rand(seed, n, -1, 1).Select(v => (float)v).ToArray();
}
