// The input the direct convolution kernels read (CpuConv.Direct.cs, CpuConv.DirectWeight.cs): each
// image with its zero padding around every channel plane (stride 1), or the four stride-2 phase
// planes of the padded image (stride 2), in which every tap of an output row is again one contiguous
// run; the per-(c, r, s) offsets into them; and one thread's reusable buffers for them.
// Must hold: the planes hold exactly the padded input (zeros outside the image); buffers are grown,
// never shrunk, and belong to one thread (no allocation per call once warm).
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        /// <summary>Whether the planes are the stride-2 phase planes (PhasePlanes) rather than the padded image.</summary>
        public bool Phased { get; private init; }
        /// <summary>Offset steps from one output pixel's top-left tap to the next pixel's: down a row, along a row.</summary>
        public int PixelRow { get; private init; }
        public int PixelColumn { get; private init; }

        // one per layer shape (the batch size does not enter): a train step asks for the same few
        // every step, so the offset tables are built once, not on every call
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, InputPlanes> s_byShape = new();
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeometry, InputPlanes> s_padded = new();

        public static InputPlanes Of(ConvGeometry g) => s_byShape.GetOrAdd(g with { N = 0 }, Build);

        /// <summary>The zero-padded image at any stride, output pixel (p, q) at p*sh*Wp + q*sw: for kernels
        /// that broadcast each pixel's input (CpuConv.DirectOc.cs), which need no contiguous runs, so a
        /// stride-2 layer skips building phase planes.</summary>
        public static InputPlanes PaddedOf(ConvGeometry g) => s_padded.GetOrAdd(g with { N = 0 }, Padded);

        private static InputPlanes Padded(ConvGeometry g)
        {
            int wp = g.W + 2 * g.PadW;
            return new InputPlanes
            {
                Wp = wp, PlaneSize = g.C * (g.H + 2 * g.PadH) * wp, Offsets = DirectOffsets(g),
                PixelRow = g.StrideH * wp, PixelColumn = g.StrideW,
            };
        }

        private static InputPlanes Build(ConvGeometry g)
        {
            if (g.StrideH == 1) return Padded(g);
            int hph = (g.H + 2 * g.PadH + 1) / 2, wph = (g.W + 2 * g.PadW + 1) / 2, phase = hph * wph;
            var offsets = new int[g.Crs + 8];
            for (int c = 0, d = 0; c < g.C; c++)
                for (int r = 0; r < g.R; r++)
                    for (int t = 0; t < g.S; t++, d++)
                    {
                        int dr = r * g.DilationH, ds = t * g.DilationW;
                        offsets[d] = (c * 4 + (dr & 1) * 2 + (ds & 1)) * phase + (dr >> 1) * wph + (ds >> 1);
                    }
            return new InputPlanes { Wp = wph, PlaneSize = g.C * 4 * phase, Offsets = offsets, Phased = true, PixelRow = wph, PixelColumn = 1 };
        }
    }

    /// <summary>phases[(c*4 + a*2 + b), i, j] = xpad[c, 2i + a, 2j + b] for image n: the stride-2 phase
    /// planes of the zero-padded image (zeros past its edge), ceil(Hp/2) x ceil(Wp/2) each. Each input
    /// row is copied into a zero-padded staging row (its padding written once, never touched again), whose
    /// even and odd floats are the row's two phase rows, split 8 at a time in vector registers, the last 8
    /// ending at the row's end (overlapping, never past it). A split with scalar tails and six span calls a
    /// row had taken about 45% of mnist conv2's weight gradient (28-pixel rows); this took that pass from
    /// 68-76 to 81-91 GFLOP/s on one Zen 4 thread.</summary>
    private static unsafe void PhasePlanes(float[] x, int n, ConvGeometry g, float* dst)
    {
        int H = g.H, W = g.W, hph = (H + 2 * g.PadH + 1) / 2, wph = (W + 2 * g.PadW + 1) / 2;
        // the staging row: PadW zeros, the row, zeros to 2 * wph (a whole split block of slack past it)
        int stageLength = 2 * wph + 16;
        float[]? rented = stageLength > 8192 ? System.Buffers.ArrayPool<float>.Shared.Rent(stageLength) : null;   // at most 32 KB of stack
        float* stack = stackalloc float[rented is null ? stageLength : 1];
        bool vector = CpuInfo.Use256 && Avx2.IsSupported && wph >= 8;
        try
        {
            fixed (float* xs = x, heap = rented)
            {
                float* stage = rented is null ? stack : heap;
                new Span<float>(stage, stageLength).Clear();
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
                            Buffer.MemoryCopy(plane + (long)ih * W, stage + g.PadW, (long)W * sizeof(float), (long)W * sizeof(float));
                            if (vector) SplitPhaseRow(stage, d0, d1, wph);
                            else
                                for (int j = 0; j < wph; j++) { d0[j] = stage[2 * j]; d1[j] = stage[2 * j + 1]; }
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

    /// <summary>d0[j] = s[2j], d1[j] = s[2j + 1] for j &lt; wph (wph &gt;= 8; s readable to 2 * wph): 8 at a
    /// time, the last 8 ending at wph.</summary>
    private static unsafe void SplitPhaseRow(float* s, float* d0, float* d1, int wph)
    {
        for (int j = 0; ; j += 8)
        {
            if (j + 8 > wph) j = wph - 8;
            var lo = Avx.LoadVector256(s + 2 * j);
            var hi = Avx.LoadVector256(s + 2 * j + 8);
            Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle().Store(d0 + j);
            Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle().Store(d1 + j);
            if (j + 8 >= wph) return;
        }
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
                if (layout.Phased) PhasePlanes(x, n + i, g, dst);
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
