// Direct convolution kernels for layers with few input channels (mnist's 1-channel first layer;
// not the stride-1 direct GEMM tiles of CpuConv.Direct.cs), where the implicit-im2col GEMM's depth C*R*S (9) or its weight-gradient output (K x 9) is too small
// for the packed micro-kernels. A work unit is a band of output rows of one image: its unfolded input
// colBand (T = C*R*S rows, the band's pixels as columns, zeros in the padding, the same values the
// GEMM's packing would read) is built in a per-slot workspace that stays in L1/L2, then
//   forward          y[n, k, band]  = bias[k] + sum_t w[k, t] * colBand[t, :]   (4 k x 32 pixels a step)
//   backward-weight  part[slot][k, t] += dot(gy[n, k, band], colBand[t, :])     (4 k x 3 taps a step)
// Units are cut into a fixed number of slots (FewChannelsSlots, not the thread count) that CpuParallel.For
// hands out dynamically; backward-weight sums each slot's partial in unit order and then the slots
// in slot order, so its result does not depend on scheduling or on the number of threads.
// Must hold: every output is fully written ("="); padding enters as zeros multiplied like any other
// value (NaN/Inf propagate as through the GEMM); no allocation per call once warm (workspaces come
// from the scratch pool). Where it applies is FewChannelsApplies, decided by measurement
// (benchmarks/results/cpu.md, "Few-channel direct kernels").
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeCnn.Backends.Cpu;

/// <summary>When the CPU backend runs convolutions with few input channels through the few-channel kernels.</summary>
internal enum FewChannelsMode { Auto, Off, Always }

internal sealed partial class CpuBackend
{
    /// <summary>Auto: where FewChannelsApplies says (the default); Off: never (the other conv paths); Always: the
    /// few-channel kernels for every geometry (tests, benchmarks). NATIVECNN_CONV_FEW_CHANNELS=0 / 1 selects
    /// Off / Always for the process. Setting it holds for the calling flow only (an AsyncLocal: tests that
    /// force a mode do not change the path of tests running beside them); it is read by the thread that
    /// calls the convolution.</summary>
    internal static FewChannelsMode FewChannelsConv
    {
        get => s_fewChannelsHere.Value ?? s_fewChannelsDefault;
        set => s_fewChannelsHere.Value = value;
    }

    private static readonly FewChannelsMode s_fewChannelsDefault = Environment.GetEnvironmentVariable("NATIVECNN_CONV_FEW_CHANNELS") switch
    {
        "0" => FewChannelsMode.Off,
        "1" => FewChannelsMode.Always,
        _ => FewChannelsMode.Auto,
    };

    private static readonly AsyncLocal<FewChannelsMode?> s_fewChannelsHere = new();

    /// <summary>Most floats of one unit's unfolded band. Forward: 32 KB, so it stays in L1 while it is
    /// re-read once per 4 output channels (a 128 KB band ran the 3->32 layer at half the speed);
    /// weight gradient: 128 KB (L2), so each 4 x 3 block of dot products runs over more pixels before
    /// its horizontal sums (measured, cpu.md).</summary>
    private const int FewChannelsForwardBandFloats = 8192, FewChannelsWeightBandFloats = 32768;

    /// <summary>Work slots per call: enough for two cores to balance dynamically, fixed so that the
    /// weight gradient's summation order never depends on the threads.</summary>
    private const int FewChannelsSlots = 8;

    /// <summary>Whether a convolution runs through the few-channel kernels. Measured on Zen 4 (cpu.md): they
    /// win or tie where the unfolded depth is small (C at most 3, C*R*S at most 27) at stride 1 and 2; with
    /// more taps (the resnet stem's 147) the GEMM is faster.</summary>
    internal static bool FewChannelsApplies(ConvGeometry g) => FewChannelsConv switch
    {
        FewChannelsMode.Off => false,
        FewChannelsMode.Always => true,
        _ => g.C <= 3 && g.Crs <= 27 && g.StrideH <= 2 && g.StrideW <= 2,
    };

    /// <summary>How a call's work is cut: units of bandRows output rows of one image, in slots.</summary>
    private readonly record struct FewChannelsPlan(int T, int BandRows, int Bands, int Units, int Slots, int Ld)
    {
        public static FewChannelsPlan For(ConvGeometry g, int bandFloats)
        {
            int T = g.Crs, P = Math.Max(1, g.P);
            int rows = Math.Clamp(bandFloats / Math.Max(1, T * g.Q), 1, P);
            if (rows < P)
            {
                // a band of a whole number of 16-float vectors where one fits: no scalar edge per band
                int step = 16 / Math.Clamp(g.Q & -g.Q, 1, 16);   // 16 / gcd(Q, 16)
                if (rows >= step) rows -= rows % step;
            }
            int bands = (g.P + rows - 1) / rows, units = g.N * bands;
            return new FewChannelsPlan(T, rows, bands, units, Math.Min(units, FewChannelsSlots), rows * g.Q);
        }

        /// <summary>Units [U0, U1) of slot s.</summary>
        public (int U0, int U1) UnitsOf(int s) => ((int)((long)s * Units / Slots), (int)((long)(s + 1) * Units / Slots));
    }

    /// <summary>y = conv(x, w) (+ bias) through the few-channel kernel.</summary>
    private void ForwardFewChannels(float[] x, float[] w, float[]? bias, float[] y, ConvGeometry g)
    {
        var plan = FewChannelsPlan.For(g, FewChannelsForwardBandFloats);
        if (plan.Units == 0 || g.K == 0) return;
        var col = RentScratch((long)plan.Slots * plan.T * plan.Ld);
        try
        {
            float[] c = col.F32;
            For(plan.Slots, 1, (s0, s1) =>
            {
                for (int s = s0; s < s1; s++) ForwardSlot(x, w, bias, y, c, g, plan, s);
            });
        }
        finally { ReturnScratch(col); }
    }

    /// <summary>gw = sum over images and pixels of gy * unfolded x, through the few-channel kernel (bias
    /// gradient done by the caller).</summary>
    private void BackwardWeightFewChannels(float[] x, float[] gy, float[] gw, ConvGeometry g)
    {
        var plan = FewChannelsPlan.For(g, FewChannelsWeightBandFloats);
        int kt = g.K * plan.T;
        if (plan.Units == 0 || kt == 0) { Array.Clear(gw, 0, kt); return; }
        var col = RentScratch((long)plan.Slots * plan.T * plan.Ld);
        var parts = RentScratch((long)plan.Slots * kt);
        try
        {
            float[] c = col.F32, part = parts.F32;
            For(plan.Slots, 1, (s0, s1) =>
            {
                for (int s = s0; s < s1; s++) BackwardWeightSlot(x, gy, part, c, g, plan, s);
            });
            // slots in a fixed order: the result does not depend on which thread ran which slot
            part.AsSpan(0, kt).CopyTo(gw);
            for (int s = 1; s < plan.Slots; s++) AddInto(gw.AsSpan(0, kt), part.AsSpan(s * kt, kt));
        }
        finally
        {
            ReturnScratch(col);
            ReturnScratch(parts);
        }
    }

    private static unsafe void ForwardSlot(float[] x, float[] w, float[]? bias, float[] y, float[] col, ConvGeometry g, FewChannelsPlan plan, int s)
    {
        var (u0, u1) = plan.UnitsOf(s);
        int T = plan.T, ld = plan.Ld, pq = g.P * g.Q, K = g.K;
        int colOffset = s * T * ld;
        fixed (float* pc = col, pw = w, pb = bias, py = y)
        {
            for (int u = u0; u < u1; u++)
            {
                int n = u / plan.Bands, p0 = u % plan.Bands * plan.BandRows, rows = Math.Min(plan.BandRows, g.P - p0);
                UnfoldBand(x, n, p0, rows, g, col, colOffset, ld);
                float* yb = py + (long)n * K * pq + p0 * g.Q;
                int pix = rows * g.Q;
                if (CpuInfo.Use512) ForwardBand512(pc + colOffset, ld, pix, T, pw, pb, yb, pq, K);
                else if (CpuInfo.Use256) ForwardBand256(pc + colOffset, ld, pix, T, pw, pb, yb, pq, 0, K);
                else ForwardScalar(pc + colOffset, ld, pix, T, pw, pb, yb, pq, 0, K);
            }
        }
    }

    private static unsafe void BackwardWeightSlot(float[] x, float[] gy, float[] part, float[] col, ConvGeometry g, FewChannelsPlan plan, int s)
    {
        var (u0, u1) = plan.UnitsOf(s);
        int T = plan.T, ld = plan.Ld, pq = g.P * g.Q, K = g.K, kt = K * T;
        int colOffset = s * T * ld;
        part.AsSpan(s * kt, kt).Clear();
        fixed (float* pc = col, pg = gy, pp = part)
        {
            for (int u = u0; u < u1; u++)
            {
                int n = u / plan.Bands, p0 = u % plan.Bands * plan.BandRows, rows = Math.Min(plan.BandRows, g.P - p0);
                UnfoldBand(x, n, p0, rows, g, col, colOffset, ld);
                float* gb = pg + (long)n * K * pq + p0 * g.Q;
                int pix = rows * g.Q;
                if (CpuInfo.Use512) WeightBand512(pc + colOffset, ld, pix, T, gb, pq, pp + s * kt, K);
                else if (CpuInfo.Use256) WeightBand256(pc + colOffset, ld, pix, T, gb, pq, pp + s * kt, K);
                else WeightScalar(pc + colOffset, ld, pix, T, gb, pq, pp + s * kt, 0, K, T);
            }
        }
    }

    /// <summary>col[offset + t*ld + p'*Q + q] = x[n, c, (p0+p')*sh - ph + r*dh, q*sw - pw + s*dw] for
    /// tap t = (c, r, s) and output rows p0..p0+rows, zero where that falls in the padding.</summary>
    internal static void UnfoldBand(float[] x, int n, int p0, int rows, ConvGeometry g, float[] col, int offset, int ld)
    {
        int H = g.H, W = g.W, Q = g.Q, R = g.R, S = g.S, hw = H * W;
        bool shifted = IsShiftedCopy(g);
        for (int c = 0; c < g.C; c++)
        {
            var plane = x.AsSpan((n * g.C + c) * hw, hw);
            for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++)
            {
                var dst = col.AsSpan(offset + ((c * R + r) * S + s) * ld, rows * Q);
                int ihOff = r * g.DilationH - g.PadH, iw0 = s * g.DilationW - g.PadW;
                var (qlo, qhi) = ValidRange(iw0, g.StrideW, W, Q);
                // stride 1, Q == W: output row p' reads input row p0 + p' + ihOff, one block copy
                if (shifted) { ShiftedCopy(plane, dst, ihOff + p0, iw0, rows, Q, qlo, qhi); continue; }
                for (int p = 0; p < rows; p++)
                {
                    var d = dst.Slice(p * Q, Q);
                    int ih = (p0 + p) * g.StrideH + ihOff;
                    if ((uint)ih >= (uint)H || qlo >= qhi) { d.Clear(); continue; }
                    int src = ih * W + iw0;
                    for (int q = 0; q < qlo; q++) d[q] = 0;
                    for (int q = qlo; q < qhi; q++) d[q] = plane[src + q * g.StrideW];
                    for (int q = qhi; q < Q; q++) d[q] = 0;
                }
            }
        }
    }

    // ---- forward: y rows (stride ldy) of channels k = bias[k] + sum_t w[k*T + t] * col[t*ld + :pix] ----

    private static unsafe void ForwardBand512(float* col, int ld, int pix, int T, float* w, float* bias, float* y, int ldy, int K)
    {
        int k = 0;
        for (; k + 4 <= K; k += 4)
        {
            float* w0 = w + k * T, w1 = w0 + T, w2 = w1 + T, w3 = w2 + T;
            var b0 = Vector512.Create(bias == null ? 0f : bias[k]);
            var b1 = Vector512.Create(bias == null ? 0f : bias[k + 1]);
            var b2 = Vector512.Create(bias == null ? 0f : bias[k + 2]);
            var b3 = Vector512.Create(bias == null ? 0f : bias[k + 3]);
            float* y0 = y + (long)k * ldy, y1 = y0 + ldy, y2 = y1 + ldy, y3 = y2 + ldy;
            int j = 0;
            for (; j + 32 <= pix; j += 32)
            {
                Vector512<float> a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
                float* cp = col + j;
                for (int t = 0; t < T; t++, cp += ld)
                {
                    var x0 = Vector512.Load(cp);
                    var x1 = Vector512.Load(cp + 16);
                    var v = Vector512.Create(w0[t]); a00 = Vector512.FusedMultiplyAdd(v, x0, a00); a01 = Vector512.FusedMultiplyAdd(v, x1, a01);
                    v = Vector512.Create(w1[t]); a10 = Vector512.FusedMultiplyAdd(v, x0, a10); a11 = Vector512.FusedMultiplyAdd(v, x1, a11);
                    v = Vector512.Create(w2[t]); a20 = Vector512.FusedMultiplyAdd(v, x0, a20); a21 = Vector512.FusedMultiplyAdd(v, x1, a21);
                    v = Vector512.Create(w3[t]); a30 = Vector512.FusedMultiplyAdd(v, x0, a30); a31 = Vector512.FusedMultiplyAdd(v, x1, a31);
                }
                a00.Store(y0 + j); a01.Store(y0 + j + 16);
                a10.Store(y1 + j); a11.Store(y1 + j + 16);
                a20.Store(y2 + j); a21.Store(y2 + j + 16);
                a30.Store(y3 + j); a31.Store(y3 + j + 16);
            }
            for (; j + 16 <= pix; j += 16)
            {
                Vector512<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                float* cp = col + j;
                for (int t = 0; t < T; t++, cp += ld)
                {
                    var x0 = Vector512.Load(cp);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(w0[t]), x0, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(w1[t]), x0, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(w2[t]), x0, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(w3[t]), x0, a3);
                }
                a0.Store(y0 + j); a1.Store(y1 + j); a2.Store(y2 + j); a3.Store(y3 + j);
            }
            if (j < pix) ForwardBand256(col + j, ld, pix - j, T, w, bias, y + j, ldy, k, k + 4);
        }
        if (k < K) ForwardBand256(col, ld, pix, T, w, bias, y, ldy, k, K);
    }

    /// <summary>Channels [k0, k1) (the whole 256-bit path, and the 512-bit path's edges).</summary>
    private static unsafe void ForwardBand256(float* col, int ld, int pix, int T, float* w, float* bias, float* y, int ldy, int k0, int K)
    {
        int k = k0;
        for (; k + 4 <= K; k += 4)
        {
            float* w0 = w + k * T, w1 = w0 + T, w2 = w1 + T, w3 = w2 + T;
            var b0 = Vector256.Create(bias == null ? 0f : bias[k]);
            var b1 = Vector256.Create(bias == null ? 0f : bias[k + 1]);
            var b2 = Vector256.Create(bias == null ? 0f : bias[k + 2]);
            var b3 = Vector256.Create(bias == null ? 0f : bias[k + 3]);
            float* y0 = y + (long)k * ldy, y1 = y0 + ldy, y2 = y1 + ldy, y3 = y2 + ldy;
            int j = 0;
            for (; j + 16 <= pix; j += 16)
            {
                Vector256<float> a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
                float* cp = col + j;
                for (int t = 0; t < T; t++, cp += ld)
                {
                    var x0 = Vector256.Load(cp);
                    var x1 = Vector256.Load(cp + 8);
                    var v = Vector256.Create(w0[t]); a00 = Vector256.FusedMultiplyAdd(v, x0, a00); a01 = Vector256.FusedMultiplyAdd(v, x1, a01);
                    v = Vector256.Create(w1[t]); a10 = Vector256.FusedMultiplyAdd(v, x0, a10); a11 = Vector256.FusedMultiplyAdd(v, x1, a11);
                    v = Vector256.Create(w2[t]); a20 = Vector256.FusedMultiplyAdd(v, x0, a20); a21 = Vector256.FusedMultiplyAdd(v, x1, a21);
                    v = Vector256.Create(w3[t]); a30 = Vector256.FusedMultiplyAdd(v, x0, a30); a31 = Vector256.FusedMultiplyAdd(v, x1, a31);
                }
                a00.Store(y0 + j); a01.Store(y0 + j + 8);
                a10.Store(y1 + j); a11.Store(y1 + j + 8);
                a20.Store(y2 + j); a21.Store(y2 + j + 8);
                a30.Store(y3 + j); a31.Store(y3 + j + 8);
            }
            for (; j + 8 <= pix; j += 8)
            {
                Vector256<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                float* cp = col + j;
                for (int t = 0; t < T; t++, cp += ld)
                {
                    var x0 = Vector256.Load(cp);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(w0[t]), x0, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.Create(w1[t]), x0, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Create(w2[t]), x0, a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.Create(w3[t]), x0, a3);
                }
                a0.Store(y0 + j); a1.Store(y1 + j); a2.Store(y2 + j); a3.Store(y3 + j);
            }
            if (j < pix) ForwardScalar(col + j, ld, pix - j, T, w, bias, y + j, ldy, k, k + 4);
        }
        if (k < K) ForwardScalar(col, ld, pix, T, w, bias, y, ldy, k, K);
    }

    /// <summary>The portable path, and the vector paths' edges: channels [k0, k1), pix pixels.</summary>
    private static unsafe void ForwardScalar(float* col, int ld, int pix, int T, float* w, float* bias, float* y, int ldy, int k0, int k1)
    {
        for (int k = k0; k < k1; k++)
        {
            float* wk = w + k * T, yk = y + (long)k * ldy;
            float b = bias == null ? 0f : bias[k];
            for (int j = 0; j < pix; j++)
            {
                float a = b;
                float* cp = col + j;
                for (int t = 0; t < T; t++, cp += ld) a = MathF.FusedMultiplyAdd(wk[t], *cp, a);
                yk[j] = a;
            }
        }
    }

    // ---- backward-weight: part[k*T + t] += dot(gy row k (stride ldg), col row t), pix pixels ----

    private static unsafe void WeightBand512(float* col, int ld, int pix, int T, float* gy, int ldg, float* part, int K)
    {
        int k = 0;
        for (; k + 4 <= K; k += 4)
        {
            float* g0 = gy + (long)k * ldg, g1 = g0 + ldg, g2 = g1 + ldg, g3 = g2 + ldg;
            float* p0 = part + k * T, p1 = p0 + T, p2 = p1 + T, p3 = p2 + T;
            int t = 0;
            for (; t + 3 <= T; t += 3)
            {
                float* c0 = col + t * ld, c1 = c0 + ld, c2 = c1 + ld;
                Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
                Vector512<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
                int j = 0;
                for (; j + 16 <= pix; j += 16)
                {
                    var x0 = Vector512.Load(c0 + j);
                    var x1 = Vector512.Load(c1 + j);
                    var x2 = Vector512.Load(c2 + j);
                    var v = Vector512.Load(g0 + j);
                    a00 = Vector512.FusedMultiplyAdd(v, x0, a00); a01 = Vector512.FusedMultiplyAdd(v, x1, a01); a02 = Vector512.FusedMultiplyAdd(v, x2, a02);
                    v = Vector512.Load(g1 + j);
                    a10 = Vector512.FusedMultiplyAdd(v, x0, a10); a11 = Vector512.FusedMultiplyAdd(v, x1, a11); a12 = Vector512.FusedMultiplyAdd(v, x2, a12);
                    v = Vector512.Load(g2 + j);
                    a20 = Vector512.FusedMultiplyAdd(v, x0, a20); a21 = Vector512.FusedMultiplyAdd(v, x1, a21); a22 = Vector512.FusedMultiplyAdd(v, x2, a22);
                    v = Vector512.Load(g3 + j);
                    a30 = Vector512.FusedMultiplyAdd(v, x0, a30); a31 = Vector512.FusedMultiplyAdd(v, x1, a31); a32 = Vector512.FusedMultiplyAdd(v, x2, a32);
                }
                p0[t] += Vector512.Sum(a00); p0[t + 1] += Vector512.Sum(a01); p0[t + 2] += Vector512.Sum(a02);
                p1[t] += Vector512.Sum(a10); p1[t + 1] += Vector512.Sum(a11); p1[t + 2] += Vector512.Sum(a12);
                p2[t] += Vector512.Sum(a20); p2[t + 1] += Vector512.Sum(a21); p2[t + 2] += Vector512.Sum(a22);
                p3[t] += Vector512.Sum(a30); p3[t + 1] += Vector512.Sum(a31); p3[t + 2] += Vector512.Sum(a32);
                // the last pixels (fewer than 16), out of line so the loop above keeps its registers
                if (j < pix) WeightScalar(c0 + j, ld, pix - j, 3, g0 + j, ldg, p0 + t, 0, 4, T);
            }
            if (t < T) WeightScalar(col + t * ld, ld, pix, T - t, gy + (long)k * ldg, ldg, part + k * T + t, 0, 4, T);
        }
        if (k < K) WeightScalar(col, ld, pix, T, gy, ldg, part, k, K, T);
    }

    private static unsafe void WeightBand256(float* col, int ld, int pix, int T, float* gy, int ldg, float* part, int K)
    {
        int k = 0;
        for (; k + 2 <= K; k += 2)
        {
            float* g0 = gy + (long)k * ldg, g1 = g0 + ldg;
            float* p0 = part + k * T, p1 = p0 + T;
            int t = 0;
            for (; t + 3 <= T; t += 3)
            {
                float* c0 = col + t * ld, c1 = c0 + ld, c2 = c1 + ld;
                Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
                int j = 0;
                for (; j + 8 <= pix; j += 8)
                {
                    var x0 = Vector256.Load(c0 + j);
                    var x1 = Vector256.Load(c1 + j);
                    var x2 = Vector256.Load(c2 + j);
                    var v = Vector256.Load(g0 + j);
                    a00 = Vector256.FusedMultiplyAdd(v, x0, a00); a01 = Vector256.FusedMultiplyAdd(v, x1, a01); a02 = Vector256.FusedMultiplyAdd(v, x2, a02);
                    v = Vector256.Load(g1 + j);
                    a10 = Vector256.FusedMultiplyAdd(v, x0, a10); a11 = Vector256.FusedMultiplyAdd(v, x1, a11); a12 = Vector256.FusedMultiplyAdd(v, x2, a12);
                }
                p0[t] += Vector256.Sum(a00); p0[t + 1] += Vector256.Sum(a01); p0[t + 2] += Vector256.Sum(a02);
                p1[t] += Vector256.Sum(a10); p1[t + 1] += Vector256.Sum(a11); p1[t + 2] += Vector256.Sum(a12);
                if (j < pix) WeightScalar(c0 + j, ld, pix - j, 3, g0 + j, ldg, p0 + t, 0, 2, T);
            }
            if (t < T) WeightScalar(col + t * ld, ld, pix, T - t, gy + (long)k * ldg, ldg, part + k * T + t, 0, 2, T);
        }
        if (k < K) WeightScalar(col, ld, pix, T, gy, ldg, part, k, K, T);
    }

    /// <summary>part[k*ldp + t] += dot(gy row k, col row t) for channels [k0, k1) and taps [0, T)
    /// (the portable path, and the vector paths' edges).</summary>
    private static unsafe void WeightScalar(float* col, int ld, int pix, int T, float* gy, int ldg, float* part, int k0, int k1, int ldp)
    {
        for (int k = k0; k < k1; k++)
            for (int t = 0; t < T; t++)
                part[k * ldp + t] += Dot(gy + (long)k * ldg, col + t * ld, pix);
    }

    /// <summary>sum of a[i] * b[i] over n floats (256-bit steps on the vector paths: the edges of
    /// the blocked loops, and the taps left over from groups of three).</summary>
    private static unsafe float Dot(float* a, float* b, int n)
    {
        float s = 0;
        int i = 0;
        if (n >= 8 && CpuInfo.Use256)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], b[i], s);
        return s;
    }
}
