// GPU float32 convolution as implicit GEMM (kernels/NativeCnn.Kernels/ConvImplicit.cs): the default
// float32 conv path. Each pass is one launch on x, w, gy as stored (backward-weight: one launch of k
// segments, then the split-k sum when there is more than one), plus the bias kernels of
// GpuBackend.Conv.cs. The tap tables the kernels decode their reduction rows with depend only on the
// geometry less the batch; they are built on first use and kept on the device (a few KB each), so a
// training step allocates nothing for them after its first call.
// What must hold: the same contract as the im2col path (y, gx, gw written, never accumulated).
using ILGPU;
using ILGPU.Runtime;
using NativeCnn.Kernels;

namespace NativeCnn.Backends.Gpu;

internal sealed partial class GpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape>? _convImplicitForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape>? _convImplicitBackwardData;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>? _convImplicitBackwardWeight;
    private readonly Dictionary<(ConvGeometry, bool), MemoryBuffer1D<ConvTap, Stride1D.Dense>> _convTaps = new();

    private static KernelConfig ImplicitConfig(long columns, int rows, int segments) =>
        new(new Index3D((int)((columns + ConvImplicitKernels.TileN - 1) / ConvImplicitKernels.TileN),
                        (rows + ConvImplicitKernels.TileM - 1) / ConvImplicitKernels.TileM, segments),
            new Index3D(ConvImplicitKernels.GroupThreads, 1, 1));

    /// <summary>The tap table of <paramref name="g"/> (any batch): forward/backward-weight (data = false)
    /// or backward-data, padded to a multiple of 128 rows.</summary>
    private ArrayView<ConvTap> ConvTaps(ConvGeometry g, bool data)
    {
        var key = (g with { N = 0 }, data);
        lock (_convTaps)
        {
            if (!_convTaps.TryGetValue(key, out var buffer))
            {
                int rows = data ? g.K * g.R * g.S : g.Crs;
                int length = (Math.Max(rows, 1) + 127) / 128 * 128;
                var taps = data ? ConvImplicitKernels.DataTaps(Shape(g), length) : ConvImplicitKernels.ForwardTaps(Shape(g), length);
                buffer = _acc.Allocate1D<ConvTap>(length);
                Upload<ConvTap>(taps, buffer.View);
                _convTaps[key] = buffer;
            }
            return buffer.View;
        }
    }

    private void DisposeConvTaps()
    {
        lock (_convTaps)
        {
            foreach (var b in _convTaps.Values) b.Dispose();
            _convTaps.Clear();
        }
    }

    private static string ConvName(ConvGeometry g) => $"{g.C}to{g.K} {g.R}x{g.S} s{g.StrideH} {g.H}px n{g.N}";

    /// <summary>x, w -> y (=), then the bias.</summary>
    private void ConvImplicitForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g)
    {
        long columns = (long)g.N * g.P * g.Q;
        if (columns == 0 || g.K == 0) return;
        CheckImplicitSize(g);
        if (g.Crs == 0) { Fill(y, 0f); }
        else
        {
            Load(ref _convImplicitForward, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape>(
                    ConvImplicitKernels.ConvImplicitForwardKernel, ConvImplicitKernels.Specialization), Profile is null ? null : ConvName(g))
                (ImplicitConfig(columns, g.K, 1), F(x), F(w), ConvTaps(g, false), F(y), Shape(g));
        }
        if (bias is not null)
        {
            long total = columns * g.K;
            Load(ref _convBias, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ConvKernels.ConvBiasForwardKernel))
                (Flat(total), F(y), F(bias), g.N, g.K, g.P * g.Q);
        }
    }

    /// <summary>gy, w -> gx (=).</summary>
    private void ConvImplicitBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g)
    {
        long columns = (long)g.N * g.H * g.W;
        if (columns == 0 || g.C == 0) return;
        CheckImplicitSize(g);
        if (g.K == 0 || g.P * g.Q == 0) { Fill(gx, 0f); return; }
        Load(ref _convImplicitBackwardData, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape>(
                ConvImplicitKernels.ConvImplicitBackwardDataKernel, ConvImplicitKernels.Specialization), Profile is null ? null : ConvName(g))
            (ImplicitConfig(columns, g.C, 1), F(gy), F(w), ConvTaps(g, true), F(gx), Shape(g));
    }

    /// <summary>x, gy -> gw (=) in k segments; the bias gradient as in the im2col path.</summary>
    private void ConvImplicitBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g)
    {
        int pq = g.P * g.Q;
        long pixels = (long)g.N * pq;
        if (pixels == 0)
        {
            Fill(gw, 0f);
            if (gbias is not null) Fill(gbias, 0f);
            return;
        }
        CheckImplicitSize(g);
        int crs = g.Crs;
        if (crs > 0 && g.K > 0)
        {
            var (segment, segments) = SplitKSegments(g.K, crs, pixels, ConvImplicitKernels.TileK);
            int mn = g.K * crs;
            var parts = segments > 1 ? Scratch((long)segments * mn) : null;
            Load(ref _convImplicitBackwardWeight, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ConvTap>, ArrayView<float>, ConvShape, int>(
                    ConvImplicitKernels.ConvImplicitBackwardWeightKernel, ConvImplicitKernels.Specialization), Profile is null ? null : $"{ConvName(g)} split{segments}")
                (ImplicitConfig(crs, g.K, segments), F(gy), F(x), ConvTaps(g, false), parts?.F32 ?? F(gw), Shape(g), segment);
            if (parts is not null) SumSplitKParts(parts, gw, segments, mn);
        }
        else Fill(gw, 0f);
        if (gbias is not null) ConvBiasBackward(gy, gbias, g);
    }

    /// <summary>The k segments of an implicit backward-weight over <paramref name="pixels"/> (N*P*Q) in slices of
    /// <paramref name="sliceDepth"/>: the split (forced by the options, else <see cref="ConvSplitK"/>) clamped to the
    /// slice count; every segment holds whole slices and all but the last are full. Shared by the float32, float16
    /// and TF32 kernels, which differ only in their slice depth.</summary>
    private (int Segment, int Segments) SplitKSegments(int k, int crs, long pixels, int sliceDepth)
    {
        long slices = (pixels + sliceDepth - 1) / sliceDepth;
        int split = (int)Math.Clamp(Options.ForcedConvSplitK ?? ConvSplitK(k, crs, pixels, _acc.NumMultiprocessors), 1, slices);
        int segment = (int)((slices + split - 1) / split) * sliceDepth;
        return (segment, (int)((pixels + segment - 1) / segment));
    }

    /// <summary>gw (=) the sum of the <paramref name="segments"/> partial products in <paramref name="parts"/> (each
    /// <paramref name="mn"/> long); returns <paramref name="parts"/> to the pool.</summary>
    private void SumSplitKParts(GpuStorage parts, Storage gw, int segments, int mn)
    {
        Load(ref _splitKSum, acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, float>(GemmKernels.GemmSplitKSumKernel))
            (Flat(mn), parts.F32, F(gw), segments, mn, 1f, 0f);
        ReturnToPool(parts);
    }

    /// <summary>How many k segments the implicit backward-weight gets: enough groups for about four per
    /// SM over the product's (K/64) x (CRS/128) tiles, each segment at least 1024 pixels long, at most 256.</summary>
    internal static int ConvSplitK(int k, int crs, long pixels, int multiprocessors)
    {
        long tiles = (long)((k + ConvImplicitKernels.TileM - 1) / ConvImplicitKernels.TileM) *
                     ((crs + ConvImplicitKernels.TileN - 1) / ConvImplicitKernels.TileN);
        long byOccupancy = (4L * multiprocessors + tiles - 1) / tiles;
        long most = Math.Clamp(pixels / 1024, 1, 256);
        return (int)Math.Clamp(byOccupancy, 1, most);
    }

    /// <summary>The kernels index with 32-bit ints: every tensor of the conv must have fewer than 2^31 elements.</summary>
    private static void CheckImplicitSize(ConvGeometry g)
    {
        long x = (long)g.N * g.C * g.H * g.W, y = (long)g.N * g.K * g.P * g.Q;
        if (Math.Max(x, y) >= int.MaxValue)
            throw new NativeCnnException($"GPU backend: a conv tensor of {Math.Max(x, y)} elements exceeds 2^31; use a smaller batch");
    }
}
