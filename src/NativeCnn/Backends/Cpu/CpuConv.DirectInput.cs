// The input the direct convolution kernels read (CpuConv.Direct.cs, CpuConv.DirectWeight.cs): each
// image with its zero padding around every channel plane (stride 1), or the four stride-2 phase
// planes of the padded image (stride 2), in which every tap of an output row is again one contiguous
// run; the per-(c, r, s) offsets into them; and one thread's reusable buffers for them.
// Must hold: the planes hold exactly the padded input (zeros outside the image); buffers are grown,
// never shrunk, and belong to one thread (no allocation per call once warm).
namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>What every direct kernel needs (CpuConv.Direct*.cs): the direct and implicit-column
    /// switches on, stride 1 or 2 on both axes, a non-empty output.</summary>
    private static bool DirectStrideApplies(ConvGeometry g) =>
        DirectConvolution && ImplicitColumns && g.StrideH == g.StrideW && g.StrideH is 1 or 2 && g.P > 0 && g.Q > 0;

    /// <summary>Floats of one image's padded planes with a row and a column of slack, the size the
    /// direct kernels' int offsets must address.</summary>
    private static long PaddedImageFloats(ConvGeometry g) => (long)(g.H + 2 * g.PadH + 1) * (g.W + 2 * g.PadW + 1) * g.C;

    /// <summary>Where the kernels read the input: stride 1 reads the zero-padded image (PadImage);
    /// stride 2 reads the four stride-2 phase planes of the zero-padded image (PhasePlanes), in which
    /// tap (r, s) of output pixel (p, q) is phase ((r*dh) mod 2, (s*dw) mod 2) at (p + floor(r*dh / 2), q +
    /// floor(s*dw / 2)): a contiguous run along q either way. Wp is a plane row's length, PlaneSize one
    /// image's floats, Offsets[(c, r, s)] where row (c, r, s) of col starts relative to a pixel.</summary>
    private sealed class InputPlanes
    {
        public int Wp { get; private init; }
        public int PlaneSize { get; private init; }
        public int[] Offsets { get; private init; } = Array.Empty<int>();

        // one per layer shape (the batch size does not enter): a train step asks for the same few
        // every step, so the offset tables are built once, not on every call
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, InputPlanes> s_byShape = new();

        public static InputPlanes Of(ConvGeometry g) => s_byShape.GetOrAdd(g with { N = 0 }, Build);

        private static InputPlanes Build(ConvGeometry g)
        {
            if (g.StrideH == 1) return new InputPlanes
            {
                Wp = g.W + 2 * g.PadW, PlaneSize = g.C * (g.H + 2 * g.PadH) * (g.W + 2 * g.PadW), Offsets = DirectOffsets(g),
            };
            int hph = (g.H + 2 * g.PadH + 1) / 2, wph = (g.W + 2 * g.PadW + 1) / 2, phase = hph * wph;
            var offsets = new int[g.Crs + 8];
            for (int c = 0, d = 0; c < g.C; c++)
                for (int r = 0; r < g.R; r++)
                    for (int t = 0; t < g.S; t++, d++)
                    {
                        int dr = r * g.DilationH, ds = t * g.DilationW;
                        offsets[d] = (c * 4 + (dr & 1) * 2 + (ds & 1)) * phase + (dr >> 1) * wph + (ds >> 1);
                    }
            return new InputPlanes { Wp = wph, PlaneSize = g.C * 4 * phase, Offsets = offsets };
        }
    }

    /// <summary>phases[(c*4 + a*2 + b), i, j] = xpad[c, 2i + a, 2j + b] for image n: the stride-2 phase
    /// planes of the zero-padded image (zeros past its edge), ceil(Hp/2) x ceil(Wp/2) each. Each input
    /// row is split once into its even and odd pixels (SplitRow, in vector registers), and each phase
    /// row is one of them shifted by the padding.</summary>
    private static unsafe void PhasePlanes(float[] x, int n, ConvGeometry g, float* dst)
    {
        int H = g.H, W = g.W, hph = (H + 2 * g.PadH + 1) / 2, wph = (W + 2 * g.PadW + 1) / 2;
        int half = (W + 1) / 2;
        float[]? rented = W > 8192 ? System.Buffers.ArrayPool<float>.Shared.Rent(2 * half + 64) : null;
        float* stack = stackalloc float[rented is null ? 2 * half + 64 : 1];
        try
        {
            fixed (float* xs = x, heap = rented)
            {
                float* evens = rented is null ? stack : heap, odds = evens + half + 32;
                for (int c = 0; c < g.C; c++)
                {
                    float* plane = xs + ((long)n * g.C + c) * H * W;
                    for (int a = 0; a < 2; a++)
                    {
                        float* d0 = dst + (long)(c * 4 + a * 2) * hph * wph, d1 = d0 + (long)hph * wph;
                        for (int i = 0; i < hph; i++, d0 += wph, d1 += wph)
                        {
                            int ih = 2 * i + a - g.PadH;
                            if ((uint)ih >= (uint)H) { new Span<float>(d0, wph).Clear(); new Span<float>(d1, wph).Clear(); continue; }
                            SplitRow(plane + (long)ih * W, W, evens, odds, half);
                            ShiftedPhaseRow(evens, odds, W, 0 - g.PadW, d0, wph);
                            ShiftedPhaseRow(evens, odds, W, 1 - g.PadW, d1, wph);
                        }
                    }
                }
            }
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>d[j] = row[2j + e] (0 outside [0, W)) for j &lt; wph, from the row's even and odd pixels.</summary>
    private static unsafe void ShiftedPhaseRow(float* evens, float* odds, int W, int e, float* d, int wph)
    {
        // 2j + e = 2(j + m) + parity: pixel j + m of the evens (parity 0) or of the odds (parity 1)
        int m = e >= 0 ? e / 2 : -((-e + 1) / 2), parity = e - 2 * m;
        float* src = parity == 0 ? evens : odds;
        int count = parity == 0 ? (W + 1) / 2 : W / 2;
        int j0 = Math.Clamp(-m, 0, wph), j1 = Math.Clamp(count - m, j0, wph);
        new Span<float>(d, j0).Clear();
        new ReadOnlySpan<float>(src + j0 + m, j1 - j0).CopyTo(new Span<float>(d + j0, j1 - j0));
        new Span<float>(d + j1, wph - j1).Clear();
    }

    /// <summary>Images n .. n+count of x as the kernels read them (InputPlanes), one after the other in
    /// this thread's buffer, each written in place.</summary>
    private static unsafe float[] PadImages(float[] x, int n, int count, ConvGeometry g, InputPlanes layout, DirectBuffers buffers)
    {
        int planeSize = layout.PlaneSize;
        // + 2 * PadW: the last row's right-padding run may reach past a padded image (PadH = 0); it
        // lands in the next image's slot, which is written after it, or in this slack
        long need = (long)count * planeSize + 2 * g.PadW + 32;
        if (need > Array.MaxLength)
            throw new InvalidOperationException($"internal: {count} padded images of {planeSize} floats");
        if (buffers.Planes.Length < need) buffers.Planes = GC.AllocateUninitializedArray<float>((int)need, pinned: true);
        fixed (float* ps = buffers.Planes)
            for (int i = 0; i < count; i++)
            {
                float* dst = ps + (long)i * planeSize;
                if (g.StrideH == 2) PhasePlanes(x, n + i, g, dst);
                else PadImage(x, n + i, g, dst);
            }
        return buffers.Planes;
    }

    /// <summary>offsets[(c, r, s)] = c*Hp*Wp + r*dh*Wp + s*dw: where row (c, r, s) of col starts in
    /// the padded image, relative to an output pixel's top-left tap.</summary>
    private static int[] DirectOffsets(ConvGeometry g)
    {
        int wp = g.W + 2 * g.PadW, hp = g.H + 2 * g.PadH;
        var offsets = new int[g.Crs + 8];
        for (int c = 0, d = 0; c < g.C; c++)
            for (int r = 0; r < g.R; r++)
                for (int s = 0; s < g.S; s++, d++)
                    offsets[d] = c * hp * wp + r * g.DilationH * wp + s * g.DilationW;
        return offsets;
    }

    /// <summary>One thread's padded images, packed output gradient and rows of gW^T (CpuConv.DirectWeight*.cs),
    /// pinned for the thread's life and grown as needed.</summary>
    private sealed class DirectBuffers
    {
        [ThreadStatic] private static DirectBuffers? t_buffers;
        public float[] Gradient = GC.AllocateUninitializedArray<float>(0, pinned: true);
        public float[] Planes = GC.AllocateUninitializedArray<float>(0, pinned: true);
        /// <summary>A chunk of rows of gW^T (CpuConv.DirectWeightRows.cs).</summary>
        public float[] WeightRows = GC.AllocateUninitializedArray<float>(0, pinned: true);
        public static DirectBuffers ForThisThread() => t_buffers ??= new DirectBuffers();
    }

    /// <summary>dst = image n of x with PadH/PadW zero rows and columns around each channel plane (may
    /// also zero up to PadW floats past the padded image).</summary>
    private static unsafe void PadImage(float[] x, int n, ConvGeometry g, float* dst)
    {
        int H = g.H, W = g.W, hp = H + 2 * g.PadH, wp = W + 2 * g.PadW;
        fixed (float* xs = x)
        {
            for (int c = 0; c < g.C; c++)
            {
                float* d = dst + (long)c * hp * wp;
                float* s = xs + ((long)n * g.C + c) * H * W;
                new Span<float>(d, g.PadH * wp + g.PadW).Clear();
                for (int h = 0; h < H; h++)
                {
                    float* row = d + (long)(h + g.PadH) * wp + g.PadW;
                    new ReadOnlySpan<float>(s + (long)h * W, W).CopyTo(new Span<float>(row, W));
                    // right padding of this row and left padding of the next, one run
                    new Span<float>(row + W, 2 * g.PadW).Clear();
                }
                float* tail = d + (long)(H + g.PadH) * wp + g.PadW;
                if (tail < d + (long)hp * wp) new Span<float>(tail, (int)(d + (long)hp * wp - tail)).Clear();
            }
        }
    }
}
