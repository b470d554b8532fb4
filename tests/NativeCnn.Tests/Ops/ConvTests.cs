// Conv2d: forward against a plain float64 convolution, backward by central differences, over kernel
// sizes, strides, paddings, dilations, odd sizes and channel counts; the pointwise fast path and
// the chunked path; which gradients are computed; float16; and the argument errors.
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Tests.Backends;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

[Collection(CpuConvSwitches.Name)]
public class ConvTests
{
    /// <summary>One convolution: sizes and per-axis stride / padding / dilation.</summary>
    public sealed record Case(int N, int C, int H, int W, int K, int R, int S,
                              int Sh = 1, int Sw = 1, int Ph = 0, int Pw = 0, int Dh = 1, int Dw = 1)
    {
        public int P => (H + 2 * Ph - Dh * (R - 1) - 1) / Sh + 1;
        public int Q => (W + 2 * Pw - Dw * (S - 1) - 1) / Sw + 1;
    }

    /// <summary>The textbook definition, in float64: y[n,k,p,q] = b[k] + sum x[n,c,ih,iw] * w[k,c,r,s].</summary>
    private static double[] Reference(Case g, double[] x, double[] w, double[]? b)
    {
        var y = new double[g.N * g.K * g.P * g.Q];
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        for (int p = 0; p < g.P; p++)
        for (int q = 0; q < g.Q; q++)
        {
            double s = b is null ? 0 : b[k];
            for (int c = 0; c < g.C; c++)
            for (int r = 0; r < g.R; r++)
            for (int t = 0; t < g.S; t++)
            {
                int ih = p * g.Sh - g.Ph + r * g.Dh, iw = q * g.Sw - g.Pw + t * g.Dw;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                s += x[((n * g.C + c) * g.H + ih) * g.W + iw] * w[((k * g.C + c) * g.R + r) * g.S + t];
            }
            y[((n * g.K + k) * g.P + p) * g.Q + q] = s;
        }
        return y;
    }

    private static Tensor Conv(Case g, Tensor x, Tensor w, Tensor? b) =>
        F.Conv2d(x, w, b, (g.Sh, g.Sw), (g.Ph, g.Pw), (g.Dh, g.Dw));

    private static void Check(Case g, bool bias, bool xGrad = true, bool wGrad = true, bool bGrad = true)
    {
        var inputs = new List<Input>
        {
            new(new[] { g.N, g.C, g.H, g.W }, Input.Rand(1, g.N * g.C * g.H * g.W, -1, 1), xGrad),
            new(new[] { g.K, g.C, g.R, g.S }, Input.Rand(2, g.K * g.C * g.R * g.S, -1, 1), wGrad),
        };
        if (bias) inputs.Add(new(new[] { g.K }, Input.Rand(3, g.K, -1, 1), bGrad));
        OpCheck.Run(inputs.ToArray(),
            t => Conv(g, t[0], t[1], bias ? t[2] : null),
            v => Reference(g, v[0], v[1], bias ? v[2] : null));
    }

    public static TheoryData<string, Case, bool> Cases => new()
    {
        { "1x1", new Case(2, 3, 4, 5, 2, 1, 1), true },
        { "1x1 stride 2", new Case(1, 3, 5, 7, 2, 1, 1, Sh: 2, Sw: 2), false },
        { "3x3 pad 1", new Case(1, 3, 5, 7, 4, 3, 3, Ph: 1, Pw: 1), true },
        { "3x3 pad 0, batch 3, 5 channels", new Case(3, 5, 5, 7, 3, 3, 3), true },
        { "3x3 stride 2 pad 1, 1 channel", new Case(3, 1, 5, 7, 2, 3, 3, 2, 2, 1, 1), false },
        { "5x5 pad 2", new Case(1, 2, 6, 5, 3, 5, 5, Ph: 2, Pw: 2), true },
        { "2x3 non-square", new Case(2, 3, 5, 7, 2, 2, 3, Ph: 1, Pw: 0), false },
        { "7x7 stride 2 pad 3", new Case(1, 3, 9, 11, 2, 7, 7, 2, 2, 3, 3), false },
        { "3x3 dilation 2 pad 2", new Case(1, 5, 7, 7, 2, 3, 3, Ph: 2, Pw: 2, Dh: 2, Dw: 2), true },
        { "per-axis stride/pad/dilation", new Case(2, 2, 6, 7, 3, 3, 2, 2, 1, 2, 1, 1, 2), true },
        { "stride 3 pad 2", new Case(1, 1, 8, 7, 2, 3, 3, 3, 3, 2, 2), true },
        { "padding larger than kernel reach", new Case(1, 2, 3, 3, 2, 2, 2, Ph: 2, Pw: 2), false },
        { "stride 2 wide rows (vector gather)", new Case(1, 1, 3, 40, 2, 3, 3, 2, 2, 1, 1), true },
        { "stride 2 wide rows, dilation 2", new Case(1, 2, 5, 45, 2, 3, 3, 2, 2, 2, 2, 2, 2), false },
        { "1x1 pointwise fast path (16x16 pixels)", new Case(2, 3, 16, 16, 4, 1, 1), true },
        { "3x3 pad 1, 272 pixels (one GEMM per image)", new Case(2, 1, 16, 17, 2, 3, 3, Ph: 1, Pw: 1), true },
        { "3x3 stride 2, 17x16 output (phase planes, one GEMM per image)", new Case(1, 1, 33, 32, 2, 3, 3, 2, 2, 1, 1), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReferenceAndGradcheck(string name, Case g, bool bias)
    {
        Assert.NotNull(name);
        Check(g, bias);
    }

    [Fact]
    public void OnlyInputGradient()
    {
        Check(new Case(2, 2, 5, 5, 3, 3, 3, Ph: 1, Pw: 1), bias: true, xGrad: true, wGrad: false, bGrad: false);
    }

    [Fact]
    public void OnlyBiasGradient()
    {
        // the weight needs no gradient, so the bias gradient comes from summing gy directly
        Check(new Case(2, 2, 5, 5, 3, 3, 3, Ph: 1, Pw: 1), bias: true, xGrad: false, wGrad: false, bGrad: true);
    }

    [Fact]
    public void InputWithoutGradGetsNone()
    {
        var x = Tensor.Randn(new[] { 1, 2, 4, 4 }, new Rng(1));
        var w = Tensor.Randn(new[] { 3, 2, 3, 3 }, new Rng(2));
        w.RequiresGrad = true;
        F.Conv2d(x, w, padding: 1).Sum().Backward();
        Assert.Null(x.Grad);
        Assert.NotNull(w.Grad);
    }

    [Fact]
    public void StoredIm2ColFallbackMatchesReference()
    {
        // the general path (a stored im2col matrix, then the GEMM) beside the default implicit packing
        Assert.True(CpuBackend.ImplicitColumns);
        try
        {
            CpuBackend.ImplicitColumns = false;
            Check(new Case(3, 5, 5, 7, 3, 3, 3), bias: true);
            Check(new Case(1, 3, 9, 11, 2, 7, 7, 2, 2, 3, 3), bias: false);
            Check(new Case(2, 2, 6, 7, 3, 3, 2, 2, 1, 2, 1, 1, 2), bias: true);
        }
        finally { CpuBackend.ImplicitColumns = true; }
    }

    [Fact]
    public void TransposedBackwardDataMatchesStoredPath()
    {
        // stride-1 backward-data runs as a forward convolution of gy once the input channels fill the
        // GEMM's tiles (24: a multiple of MR on every path); here with per-axis padding and dilation,
        // against the stored path's col2im (itself checked against float64 above)
        var g = new Case(2, 24, 7, 9, 5, 3, 2, Ph: 2, Pw: 1, Dh: 2, Dw: 1);
        var x = Tensor.FromArray(Input.Rand(7, g.N * g.C * g.H * g.W, -1, 1).Select(v => (float)v).ToArray(), new[] { g.N, g.C, g.H, g.W });
        var w = Tensor.FromArray(Input.Rand(8, g.K * g.C * g.R * g.S, -1, 1).Select(v => (float)v).ToArray(), new[] { g.K, g.C, g.R, g.S });
        var gy = Tensor.FromArray(Input.Rand(9, g.N * g.K * g.P * g.Q, -1, 1).Select(v => (float)v).ToArray(), new[] { g.N, g.K, g.P, g.Q });
        float[] InputGradient(bool implicitColumns)
        {
            CpuBackend.ImplicitColumns = implicitColumns;
            var profile = new CpuProfile();
            CpuBackend.Instance.Profile = profile;
            try
            {
                var xi = x.Detach();
                xi.RequiresGrad = true;
                Conv(g, xi, w, null).Backward(gy);
                // the path taken: col2im only on the stored path
                Assert.Equal(!implicitColumns, profile.Entries.Any(e => e.Op.Contains("col2im")));
                return xi.Grad!.ToArray();
            }
            finally
            {
                CpuBackend.Instance.Profile = null;
                CpuBackend.ImplicitColumns = true;
            }
        }
        var stored = InputGradient(false);
        var transposed = InputGradient(true);
        Assert.Contains(stored, v => Math.Abs(v) > 0.1f);
        OpCheck.AssertClose(stored.Select(v => (double)v).ToArray(), transposed, 1e-4, "input gradient, transposed against col2im");
    }

    [Fact]
    public void StridedBackwardDataRunsByPhasesAndFallsBack()
    {
        // stride-2 backward-data runs as one convolution of gy per stride phase, with no col2im
        // (CpuConv.PhaseBackwardData.cs; values checked against float64 in
        // Backends/CpuPhaseBackwardDataTests.cs); with the phases off, or dilated, it goes through col2im
        Assert.True(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(64, 32, 28, 28, 64, 3, 3, 2, 2, 1, 1, 1, 1)));   // mnist conv2
        Assert.True(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(64, 64, 14, 14, 128, 3, 3, 2, 2, 1, 1, 1, 1)));  // mnist conv3
        Assert.False(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(16, 64, 32, 32, 128, 3, 3, 2, 2, 1, 1, 1, 1))); // 16-pixel rows: col2im
        Assert.False(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(16, 64, 32, 32, 128, 1, 1, 2, 2, 0, 0, 1, 1))); // 1x1 shortcut: col2im
        Assert.False(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(16, 3, 64, 64, 64, 7, 7, 2, 2, 3, 3, 1, 1)));   // 3 channels: col2im
        Assert.True(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(16, 128, 16, 16, 256, 3, 3, 2, 2, 1, 1, 1, 1))); // C*R*S = 1152: phases
        Assert.False(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(16, 256, 8, 8, 512, 3, 3, 2, 2, 1, 1, 1, 1)));  // 2304: col2im
        var g = new Case(2, 16, 9, 8, 5, 3, 3, 2, 2, 1, 1);
        var dilated = g with { Ph = 2, Pw = 2, Dh = 2, Dw = 2 };
        Assert.False(CpuBackend.PhasesApplyToBackwardData(new ConvGeometry(2, 16, 9, 8, 5, 3, 3, 2, 2, 2, 2, 2, 2)));
        (float[] Gx, bool Col2Im, bool Phases) InputGradient(Case c, bool phases)
        {
            var x = Tensor.FromArray(Input.Rand(7, c.N * c.C * c.H * c.W, -1, 1).Select(v => (float)v).ToArray(), new[] { c.N, c.C, c.H, c.W });
            var w = Tensor.FromArray(Input.Rand(8, c.K * c.C * c.R * c.S, -1, 1).Select(v => (float)v).ToArray(), new[] { c.K, c.C, c.R, c.S });
            var gy = Tensor.FromArray(Input.Rand(9, c.N * c.K * c.P * c.Q, -1, 1).Select(v => (float)v).ToArray(), new[] { c.N, c.K, c.P, c.Q });
            CpuBackend.PhaseBackwardData = phases;
            var profile = new CpuProfile();
            CpuBackend.Instance.Profile = profile;
            try
            {
                x.RequiresGrad = true;
                Conv(c, x, w, null).Backward(gy);
                return (x.Grad!.ToArray(), profile.Entries.Any(e => e.Op.Contains("col2im")), profile.Entries.Any(e => e.Op.Contains("phase")));
            }
            finally
            {
                CpuBackend.Instance.Profile = null;
                CpuBackend.PhaseBackwardData = true;
            }
        }
        var byPhases = InputGradient(g, true);
        var byCol2Im = InputGradient(g, false);
        Assert.True(byPhases.Phases && !byPhases.Col2Im, "stride 2 should run by phases");
        Assert.True(byCol2Im.Col2Im && !byCol2Im.Phases, "phases off should run col2im");
        Assert.Contains(byCol2Im.Gx, v => Math.Abs(v) > 0.1f);
        OpCheck.AssertClose(byCol2Im.Gx.Select(v => (double)v).ToArray(), byPhases.Gx, 1e-4, "input gradient, phases against col2im");
        var fallback = InputGradient(dilated, true);
        Assert.True(fallback.Col2Im && !fallback.Phases, "dilated stride 2 should fall back to col2im");
        Assert.Contains(fallback.Gx, v => Math.Abs(v) > 0.1f);
    }

    [Fact]
    public void SegmentCopiesMatchReference()
    {
        // the row-segment unfolding (shifted runs, stride-2 phase planes on odd and even widths,
        // strided rows) that wide output rows use, forced on small shapes that would otherwise gather
        // (shifted runs through per-tap masks, and without them through copies plus zeroing)
        Assert.True(CpuBackend.ConvColumns.GatherTables);
        Assert.True(CpuBackend.ConvColumns.MaskedShifts);
        try
        {
            CpuBackend.ConvColumns.GatherTables = false;
            foreach (bool masked in new[] { true, false })
            {
                CpuBackend.ConvColumns.MaskedShifts = masked;
                Check(new Case(3, 5, 5, 7, 3, 3, 3, Ph: 1, Pw: 1), bias: true);
                Check(new Case(3, 2, 5, 7, 2, 3, 3, 2, 2, 1, 1), bias: false);
                Check(new Case(2, 2, 9, 10, 2, 7, 7, 2, 2, 3, 3), bias: false);
                Check(new Case(1, 2, 7, 7, 2, 3, 3, Ph: 2, Pw: 2, Dh: 2, Dw: 2), bias: true);
                Check(new Case(1, 1, 8, 7, 2, 3, 3, 3, 3, 2, 2), bias: false);
            }
        }
        finally
        {
            CpuBackend.ConvColumns.GatherTables = true;
            CpuBackend.ConvColumns.MaskedShifts = true;
        }
    }

    [Fact]
    public void ChunkedBatchMatchesReference()
    {
        // a tiny column budget forces one image per chunk, then two; the last chunk is partial
        var saved = CpuBackend.ColLimitFloats;
        try
        {
            var g = new Case(5, 2, 4, 5, 3, 3, 3, Ph: 1, Pw: 1);
            CpuBackend.ColLimitFloats = 1;
            Check(g, bias: true);
            CpuBackend.ColLimitFloats = 2L * g.C * g.R * g.S * g.P * g.Q;
            Check(g, bias: true);
        }
        finally { CpuBackend.ColLimitFloats = saved; }
    }

    [Fact]
    public void SymmetricOverloadEqualsPerAxisOverload()
    {
        var x = Tensor.Randn(new[] { 2, 3, 7, 6 }, new Rng(4));
        var w = Tensor.Randn(new[] { 4, 3, 3, 3 }, new Rng(5));
        var b = Tensor.Randn(new[] { 4 }, new Rng(6));
        var a = F.Conv2d(x, w, b, stride: 2, padding: 1, dilation: 2).ToArray();
        var c = F.Conv2d(x, w, b, (2, 2), (1, 1), (2, 2));
        Assert.Equal(new[] { 2, 4, 3, 2 }, c.Shape.ToArray());
        Assert.Equal(a, c.ToArray());
    }

    [Fact]
    public void Float16InputsGiveFloat16ResultAndGradients()
    {
        var x32 = Tensor.Randn(new[] { 2, 3, 6, 5 }, new Rng(7));
        var w32 = Tensor.Randn(new[] { 4, 3, 3, 3 }, new Rng(8), std: 0.3f);
        var x = x32.To(DType.Float16); x.RequiresGrad = true;
        var w = w32.To(DType.Float16); w.RequiresGrad = true;
        var y = F.Conv2d(x, w, padding: 1);
        Assert.Equal(DType.Float16, y.DType);
        // the reference sees the same float16-rounded values, computed in float32
        var expected = F.Conv2d(x.Detach().To(DType.Float32), w.Detach().To(DType.Float32), padding: 1).ToArray();
        OpCheck.AssertClose(expected, y.ToArray(), 2e-3, "float16 forward");
        y.Sum().Backward();
        Assert.Equal(DType.Float16, x.Grad!.DType);
        Assert.Equal(DType.Float16, w.Grad!.DType);
        var x2 = x.Detach().To(DType.Float32); x2.RequiresGrad = true;
        F.Conv2d(x2, w.Detach().To(DType.Float32), padding: 1).Sum().Backward();
        OpCheck.AssertClose(x2.Grad!.ToArray(), x.Grad.ToArray(), 2e-3, "float16 input gradient");
    }

    private static NativeCnnException Error(Func<Tensor> f) => Assert.Throws<NativeCnnException>(() => f());

    [Fact]
    public void ErrorsNameGivenAndExpected()
    {
        var x = Tensor.Zeros(1, 3, 5, 5);
        var w = Tensor.Zeros(2, 3, 3, 3);

        var e = Error(() => F.Conv2d(Tensor.Zeros(3, 5, 5), w));
        Assert.Contains("4 dimensions", e.Message); Assert.Contains("(3, 5, 5)", e.Message);

        e = Error(() => F.Conv2d(x, Tensor.Zeros(2, 3, 3)));
        Assert.Contains("weight", e.Message); Assert.Contains("(2, 3, 3)", e.Message);

        e = Error(() => F.Conv2d(x, Tensor.Zeros(2, 4, 3, 3)));
        Assert.Contains("expects 4 input channels", e.Message); Assert.Contains("has 3", e.Message);

        e = Error(() => F.Conv2d(x, Tensor.Zeros(2, 3, 7, 3), padding: 0));
        Assert.Contains("7x3", e.Message); Assert.Contains("padded input 5x5", e.Message);

        e = Error(() => F.Conv2d(x, w, dilation: 3));
        Assert.Contains("7x7", e.Message); Assert.Contains("padded input 5x5", e.Message);

        e = Error(() => F.Conv2d(x, w, stride: 0));
        Assert.Contains("stride must be positive", e.Message); Assert.Contains("(0, 0)", e.Message);

        e = Error(() => F.Conv2d(x, w, null, (1, -2), (0, 0), (1, 1)));
        Assert.Contains("stride", e.Message); Assert.Contains("(1, -2)", e.Message);

        e = Error(() => F.Conv2d(x, w, dilation: 0));
        Assert.Contains("dilation must be positive", e.Message);

        e = Error(() => F.Conv2d(x, w, padding: -1));
        Assert.Contains("padding must be >= 0", e.Message); Assert.Contains("(-1, -1)", e.Message);

        e = Error(() => F.Conv2d(x, w, Tensor.Zeros(3)));
        Assert.Contains("bias must have shape (2)", e.Message); Assert.Contains("(3)", e.Message);

        e = Error(() => F.Conv2d(Tensor.FromArray(new int[75], new[] { 1, 3, 5, 5 }), w));
        Assert.Contains("Int32", e.Message);
    }

    [Fact]
    public void EmptyBatchGivesEmptyOutputAndZeroWeightGradient()
    {
        var x = Tensor.Zeros(0, 2, 5, 5);
        x.RequiresGrad = true;
        var w = Tensor.Randn(new[] { 3, 2, 3, 3 }, new Rng(11));
        w.RequiresGrad = true;
        var b = Tensor.Randn(new[] { 3 }, new Rng(12));
        b.RequiresGrad = true;
        var y = F.Conv2d(x, w, b, padding: 1);
        Assert.Equal(new[] { 0, 3, 5, 5 }, y.Shape.ToArray());
        y.Sum().Backward();
        Assert.Equal(new[] { 0, 2, 5, 5 }, x.Grad!.Shape.ToArray());
        Assert.All(w.Grad!.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(b.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void KernelExactlyAsLargeAsPaddedInputIsAllowed()
    {
        // 3x3 input with padding 1 is 5x5: a 5x5 kernel fits once
        var g = new Case(1, 2, 3, 3, 2, 5, 5, Ph: 1, Pw: 1);
        Assert.Equal(1, g.P);
        Check(g, bias: true);
    }
}
