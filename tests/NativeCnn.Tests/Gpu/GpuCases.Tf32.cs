// TF32 (opt-in, GpuBackend.Tf32.cs): the implicit-GEMM conv and the GEMM with operands rounded to TF32
// and mma.sync m16n8k8 .tf32, on the simulator with the rounding done on the bits and each product
// computed from the staged slice (and, for two shapes, each mma emulated from the fragment registers by
// warp shuffles). Two references, both float64:
//   - the same operands rounded to TF32 here (Tf32Reference: its own rounding, by division in double):
//     products of TF32 values are exact in float32, so only float32 summation separates the two: the
//     suite's float32 tolerance, 1e-5 relative;
//   - the unrounded float32 operands: each operand is off by at most 2^-11 of itself, so each product by
//     at most ~2^-10 of itself: |tf32 - f32| <= 2^-10 * sum |products| + 1e-5 (1 + |f32|), the stated
//     looser tolerance; and some element must be off by more than float32 rounding (TF32 really ran).
// Every conv shape of the float32 implicit cases (1x1, 3x3, 7x7; stride 1 and 2; padding 0, 1, 3;
// dilation 2; odd sizes; batch 1), channels not tile multiples, split-k; GEMMs with edges, transposes,
// batches, beta, split-k. Off by default: without the flag the float32 kernels run.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using NativeCnn.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Tf32_ConvEveryShape(GpuBackend gpu)
    {
        if (!CanUseTf32(gpu)) return;
        WithTf32(gpu, () =>
        {
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                foreach (var g in ImplicitShapes) ConvTf32Check(gpu, g);
                ConvTf32Check(gpu, new ConvGeometry(1, 67, 3, 3, 70, 3, 3, 1, 1, 1, 1, 1, 1));   // C, K, C*R*S not tile multiples
            }
            finally { gpu.EndProfile(); }
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convTf32Forward", StringComparison.Ordinal));
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convTf32BackwardData", StringComparison.Ordinal));
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("convTf32BackwardWeight", StringComparison.Ordinal));
            Assert.DoesNotContain(profile.Entries, e => e.Kernel.StartsWith("convImplicit", StringComparison.Ordinal));
        });
    }

    public static void Tf32_ConvSplitK(GpuBackend gpu)
    {
        if (!CanUseTf32(gpu)) return;
        var g = new ConvGeometry(3, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1);   // 126 pixels: 8 slices of 16
        int? saved = gpu.Options.ForcedConvSplitK;
        try
        {
            WithTf32(gpu, () =>
            {
                foreach (int split in new[] { 2, 3 })
                {
                    gpu.Options.ForcedConvSplitK = split;
                    ConvTf32Check(gpu, g);
                }
            });
        }
        finally { gpu.Options.ForcedConvSplitK = saved; }
    }

    /// <summary>The GPU path itself, each mma emulated by warp shuffles from the fragment registers the hardware
    /// would get: bitwise the fast emulation's results (the same exact products, added in the same order). The
    /// conv forward and the GEMM (every TF32 kernel steps its tile with the same ConvAcc.Step; the staging of
    /// the other two is checked by the fast path): warp shuffles are slow on the simulator.</summary>
    public static void Tf32_ExactEmulation(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda) return;   // the emulations exist only on the simulator
        var g = ImplicitShapes[0];   // 1x1: one slice, one tile (the exact emulation is slow)
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.Crs, yl = g.N * g.K * g.P * g.Q;
        float[][] Run(bool exact)
        {
            bool saved = gpu.Options.ExactTensorCoreEmulation;
            gpu.Options.ExactTensorCoreEmulation = exact;
            try
            {
                float[][] r = null!;
                WithTf32(gpu, () =>
                {
                    var y = G.Out(gpu, yl); var c = G.Out(gpu, 5 * 19);
                    gpu.Conv2dForward(G.Up(gpu, G.Rand(91, xl)), G.Up(gpu, G.Rand(92, wl)), null, y, g);
                    gpu.Gemm(false, true, 5, 19, 21, 1f, G.Up(gpu, G.Rand(94, 5 * 21)), 0, 21, G.Up(gpu, G.Rand(95, 19 * 21)), 0, 21, 0f, c, 0, 19);
                    r = new[] { G.Down(gpu, y), G.Down(gpu, c) };
                });
                return r;
            }
            finally { gpu.Options.ExactTensorCoreEmulation = saved; }
        }
        var fast = Run(false);
        var exact = Run(true);
        for (int i = 0; i < fast.Length; i++) G.Same(fast[i], exact[i], $"TF32 exact emulation, output {i}");
    }

    public static void Tf32_GemmShapes(GpuBackend gpu)
    {
        if (!CanUseTf32(gpu)) return;
        int? saved = gpu.Options.ForcedSplitK;
        var profile = gpu.Profile = new KernelProfile();
        try
        {
            WithTf32(gpu, () =>
            {
                // (m, n, k, transA, transB, batch, beta): edges of the 64x128 tile and the 16-deep slice
                GemmTf32Check(gpu, 1, 1, 1, false, false, 1, 0f);
                GemmTf32Check(gpu, 70, 130, 37, false, false, 1, 0f);
                GemmTf32Check(gpu, 65, 33, 40, true, false, 1, 0.5f);
                GemmTf32Check(gpu, 17, 129, 16, false, true, 1, 0f);
                GemmTf32Check(gpu, 64, 128, 33, true, true, 2, 0.25f);
                gpu.Options.ForcedSplitK = 3;
                GemmTf32Check(gpu, 9, 20, 100, false, false, 1, 0f);
            });
        }
        finally { gpu.Options.ForcedSplitK = saved; gpu.EndProfile(); }
        Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("gemmTf32", StringComparison.Ordinal));
    }

    /// <summary>Off by default: no flag, the float32 kernels; the library's flag (Precision.AllowTf32) alone turns
    /// TF32 on, and a backend's Options.Tf32 = false keeps it off under the flag.</summary>
    public static void Tf32_OffByDefaultAndTheLibraryFlag(GpuBackend gpu)
    {
        Assert.False(Precision.AllowTf32, "TF32 is off by default");
        Assert.Null(gpu.Options.Tf32);
        Assert.False(gpu.EffectiveTf32);
        var g = ImplicitShapes[2];
        string Ran()
        {
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                gpu.Conv2dForward(G.Up(gpu, G.Rand(1, g.N * g.C * g.H * g.W)), G.Up(gpu, G.Rand(2, g.K * g.Crs)), null, G.Out(gpu, g.N * g.K * g.P * g.Q), g);
                gpu.Gemm(false, false, 3, 4, 5, 1f, G.Up(gpu, G.Rand(3, 15)), 0, 5, G.Up(gpu, G.Rand(4, 20)), 0, 4, 0f, G.Out(gpu, 12), 0, 4);
            }
            finally { gpu.EndProfile(); }
            return string.Join(",", profile.Entries.Select(e => e.Kernel.Split(' ')[0]).Where(k => k.StartsWith("conv") || k.StartsWith("gemm")).Distinct().Order());
        }
        Assert.Equal("convImplicitForward,gemm", Ran());
        bool tensorCores = CanUseTf32(gpu);
        try
        {
            Precision.AllowTf32 = true;
            Assert.Equal(tensorCores ? "convTf32Forward,gemmTf32" : "convImplicitForward,gemm", Ran());
            gpu.Options.Tf32 = false;
            Assert.Equal("convImplicitForward,gemm", Ran());
        }
        finally
        {
            Precision.AllowTf32 = false;
            gpu.Options.Tf32 = null;
        }
    }

    private static bool CanUseTf32(GpuBackend gpu) => gpu.Device.Kind != DeviceKind.Cuda || CanUseTensorCores(gpu);

    private static void WithTf32(GpuBackend gpu, Action run)
    {
        bool? saved = gpu.Options.Tf32;
        gpu.Options.Tf32 = true;
        try { run(); }
        finally { gpu.Options.Tf32 = saved; }
    }

    private static void ConvTf32Check(GpuBackend gpu, ConvGeometry g)
    {
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.Crs, yl = g.N * g.K * g.P * g.Q;
        var x = G.Rand(61, xl); var w = G.Rand(62, wl); var gy = G.Rand(63, yl); var bias = G.Rand(64, g.K);
        var exact = Conv64(g, x, w, gy);
        var rounded = Conv64(g, Tf32Reference.Round(x), Tf32Reference.Round(w), Tf32Reference.Round(gy));
        string what = $"TF32 conv {g}";
        var y = G.Out(gpu, yl); var gx = G.Out(gpu, xl); var gw = G.Out(gpu, wl); var gb = G.Out(gpu, g.K);
        gpu.Conv2dForward(G.Up(gpu, x), G.Up(gpu, w), G.Up(gpu, bias), y, g);
        gpu.Conv2dBackwardData(G.Up(gpu, gy), G.Up(gpu, w), gx, g);
        gpu.Conv2dBackwardWeight(G.Up(gpu, x), G.Up(gpu, gy), gw, gb, g);
        var yb = G.Down(gpu, y).Select((v, i) => v - bias[i / (g.P * g.Q) % g.K]).ToArray();   // the bias is added in float32
        var outs = new[] { yb, G.Down(gpu, gx), G.Down(gpu, gw) };
        string[] names = { "forward", "backward-data", "backward-weight" };
        bool differs = false;
        for (int i = 0; i < 3; i++)
        {
            G.Close(rounded.Value[i], outs[i], 1e-5, $"{what} {names[i]} vs float64 of TF32 operands");
            differs |= Tf32Reference.WithinTf32Bound(exact.Value[i], exact.AbsSum[i], outs[i], $"{what} {names[i]} vs float64 of float32 operands");
        }
        Assert.True(differs, $"{what}: every element within float32 rounding of the unrounded product: TF32 did not run");
        var gbRef = new double[g.K];
        for (int i = 0; i < yl; i++) gbRef[i / (g.P * g.Q) % g.K] += gy[i];
        G.Close(gbRef, G.Down(gpu, gb), 1e-5, what + " bias gradient (float32)");
    }

    private static void GemmTf32Check(GpuBackend gpu, int m, int n, int k, bool ta, bool tb, int batch, float beta)
    {
        int sa = m * k, sb = k * n, sc = m * n;
        var a = G.Rand(71, batch * sa); var b = G.Rand(72, batch * sb); var c0 = G.Rand(73, batch * sc);
        const float alpha = 0.75f;
        string what = $"TF32 gemm {m}x{n}x{k}{(ta ? " tA" : "")}{(tb ? " tB" : "")} b{batch} beta {beta}";
        var ra = Tf32Reference.Round(a); var rb = Tf32Reference.Round(b);
        var rounded = new double[batch * sc]; var exact = new double[batch * sc]; var abs = new double[batch * sc];
        for (int z = 0; z < batch; z++)
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double r = 0, e = 0, s = 0;
            for (int q = 0; q < k; q++)
            {
                int ai = z * sa + (ta ? q * m + i : i * k + q), bi = z * sb + (tb ? j * k + q : q * n + j);
                r += (double)ra[ai] * rb[bi]; e += (double)a[ai] * b[bi]; s += Math.Abs((double)a[ai] * b[bi]);
            }
            int ci = z * sc + i * n + j;
            rounded[ci] = alpha * r + beta * c0[ci]; exact[ci] = alpha * e + beta * c0[ci]; abs[ci] = alpha * s;
        }
        var sC = beta == 0f ? G.Out(gpu, batch * sc) : G.Up(gpu, c0);   // beta = 0 must not read C (NaN there)
        gpu.Gemm(ta, tb, m, n, k, alpha, G.Up(gpu, a), 0, ta ? m : k, G.Up(gpu, b), 0, tb ? k : n, beta, sC, 0, n, batch, sa, sb, sc);
        var got = G.Down(gpu, sC);
        G.Close(rounded, got, 1e-5, what + " vs float64 of TF32 operands");
        bool differs = Tf32Reference.WithinTf32Bound(exact, abs, got, what + " vs float64 of float32 operands");
        if (k >= 16) Assert.True(differs, $"{what}: TF32 did not run");
    }

    /// <summary>Direct float64 convolution and its adjoints (y without bias, gx, gw) and, per element, the sum
    /// of the absolute products (the scale of the TF32 bound).</summary>
    private static (double[][] Value, double[][] AbsSum) Conv64(ConvGeometry g, float[] x, float[] w, float[] gy)
    {
        int xl = g.N * g.C * g.H * g.W, wl = g.K * g.Crs, yl = g.N * g.K * g.P * g.Q;
        double[][] v = { new double[yl], new double[xl], new double[wl] }, s = { new double[yl], new double[xl], new double[wl] };
        for (int n = 0; n < g.N; n++)
        for (int k = 0; k < g.K; k++)
        for (int p = 0; p < g.P; p++)
        for (int q = 0; q < g.Q; q++)
        {
            int yi = ((n * g.K + k) * g.P + p) * g.Q + q;
            for (int c = 0; c < g.C; c++)
            for (int r = 0; r < g.R; r++)
            for (int t = 0; t < g.S; t++)
            {
                int h = p * g.StrideH - g.PadH + r * g.DilationH, ww = q * g.StrideW - g.PadW + t * g.DilationW;
                if (h < 0 || h >= g.H || ww < 0 || ww >= g.W) continue;
                int xi = ((n * g.C + c) * g.H + h) * g.W + ww, wi = ((k * g.C + c) * g.R + r) * g.S + t;
                double xw = (double)x[xi] * w[wi], gw = (double)gy[yi] * w[wi], gx = (double)gy[yi] * x[xi];
                v[0][yi] += xw; s[0][yi] += Math.Abs(xw);
                v[1][xi] += gw; s[1][xi] += Math.Abs(gw);
                v[2][wi] += gx; s[2][wi] += Math.Abs(gx);
            }
        }
        return (v, s);
    }
}

/// <summary>TF32 rounding for the tests, independent of the kernels' bit trick: to a multiple of 2^(e - 10)
/// (e the value's binary exponent), ties away from zero, computed in double.</summary>
internal static class Tf32Reference
{
    public static float Round(float f)
    {
        if (!float.IsFinite(f) || f == 0f) return f;
        double ulp = Math.ScaleB(1.0, Math.Max(Math.ILogB(f), -126) - 10);
        return (float)(Math.Round(f / ulp, MidpointRounding.AwayFromZero) * ulp);
    }

    public static float[] Round(float[] v) => v.Select(Round).ToArray();

    /// <summary>Asserts |actual - exact| &lt;= 2^-10 * absSum + 1e-5 (1 + |exact|) for every element; returns whether
    /// some element is further from <paramref name="exact"/> than float32 rounding explains (1e-5 relative).</summary>
    public static bool WithinTf32Bound(IReadOnlyList<double> exact, IReadOnlyList<double> absSum, IReadOnlyList<float> actual, string what)
    {
        Assert.Equal(exact.Count, actual.Count);
        bool differs = false;
        for (int i = 0; i < exact.Count; i++)
        {
            double err = Math.Abs(actual[i] - exact[i]), f32 = 1e-5 * (1 + Math.Abs(exact[i]));
            if (!(err <= Math.ScaleB(absSum[i], -10) + f32))
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {actual[i]}, expected {exact[i]} within 2^-10 * {absSum[i]}");
            differs |= err > f32;
        }
        return differs;
    }
}
