// The one resampling step: each output pixel is placed on a canvas (the source resized to the target
// by squish, crop or pad), its normalised canvas coordinate goes through the composed geometric
// matrices, and the source is read there by bilinear interpolation with reflection padding (fastai
// v1's default padding_mode='reflection', align-corners coordinates). Must hold: with no resize and
// identity matrices every output pixel equals its source pixel exactly; output is fully written.
namespace NativeCnn.Data.Transforms;

/// <summary>How an image reaches the target size (fastai ResizeMethod).</summary>
public enum ResizeMethod
{
    /// <summary>Stretch the whole image to the size (aspect ratio not kept).</summary>
    Squish,
    /// <summary>Scale the shorter side to the size and cut the centre (random position when augmenting); fastai's default.</summary>
    Crop,
    /// <summary>Scale the longer side to the size and pad the rest with reflection.</summary>
    Pad,
}

/// <summary>Where the output window sits on the resized canvas.</summary>
internal readonly record struct Canvas(double Height, double Width, double Top, double Left)
{
    /// <summary>
    /// The canvas for a source of (srcH, srcW) resized to (outH, outW): Squish stretches; Crop scales the
    /// short side to fit and, like fastai's crop_pad, takes the window at the whole-pixel offset
    /// int((slack + 1) * pct); Pad scales the long side to fit and centres it (the rest is reflected).
    /// Canvas sizes are whole pixels, so crops read pixel centres and are not blurred.
    /// </summary>
    public static Canvas For(int srcH, int srcW, int outH, int outW, ResizeMethod method, double rowPct = 0.5, double colPct = 0.5)
    {
        if (method == ResizeMethod.Squish || (srcH == outH && srcW == outW))
            return new Canvas(outH, outW, 0, 0);
        bool crop = method == ResizeMethod.Crop;
        double scale = crop
            ? Math.Max((double)outH / srcH, (double)outW / srcW)
            : Math.Min((double)outH / srcH, (double)outW / srcW);
        int ch = Math.Max(1, (int)Math.Round(srcH * scale)), cw = Math.Max(1, (int)Math.Round(srcW * scale));
        if (crop) { ch = Math.Max(ch, outH); cw = Math.Max(cw, outW); }
        else { ch = Math.Min(ch, outH); cw = Math.Min(cw, outW); }
        static int Offset(int slack, double pct) => (int)((slack + 1) * Math.Min(pct, 1 - 1e-7));
        return crop
            ? new Canvas(ch, cw, Offset(ch - outH, rowPct), Offset(cw - outW, colPct))
            : new Canvas(ch, cw, -((outH - ch) / 2), -((outW - cw) / 2));
    }
}

internal static class Resample
{
    /// <summary>
    /// Writes dst (C, outH, outW) from src: dst(i, j) = src at geometry(canvas(i, j)), where geometry
    /// is affine · warp(·) · pre (pre: flips/dihedral on output coordinates). Channels of src and dst agree.
    /// </summary>
    public static void Run(DecodedImage src, Span<float> dst, int outH, int outW, Canvas canvas, Mat3 pre, Mat3? warp, Mat3 affine)
    {
        int c = src.Channels, h = src.Height, w = src.Width;
        if (dst.Length != c * outH * outW)
            throw new NativeCnnException($"resample: destination holds {dst.Length} values, expected {c}x{outH}x{outW}");
        var px = src.Pixels;
        double sx = canvas.Width > 1 ? 2.0 / (canvas.Width - 1) : 0, sy = canvas.Height > 1 ? 2.0 / (canvas.Height - 1) : 0;
        bool identity = pre.IsIdentity && warp is null && affine.IsIdentity && canvas.Top == 0 && canvas.Left == 0 && canvas.Width == w && canvas.Height == h && outH == h && outW == w;
        if (identity) { px.AsSpan().CopyTo(dst); return; }
        int plane = h * w, outPlane = outH * outW;
        // Without a warp the chain is affine: fold pre, the canvas placement and the pixel scaling into
        // one matrix so each pixel costs two multiply-adds per coordinate.
        Mat3 toPixels = new(0.5 * (w - 1), 0, 0.5 * (w - 1), 0, 0.5 * (h - 1), 0.5 * (h - 1));
        Mat3 fromOut = new(sx, 0, canvas.Left * sx - (canvas.Width > 1 ? 1 : 0), 0, sy, canvas.Top * sy - (canvas.Height > 1 ? 1 : 0));
        Mat3 head = toPixels * affine, tail = pre * fromOut;
        Mat3 all = head * tail;
        // Pass 1: each output pixel's top-left source index, right/down steps and weights, shared by
        // all channels. Pass 2: one tight loop per channel plane.
        var scratch = Scratch.Get(outPlane);
        var idx = scratch.Index; var stepX = scratch.StepX; var stepY = scratch.StepY; var fxs = scratch.Ax; var fys = scratch.Ay;
        for (int i = 0; i < outH; i++)
        {
            for (int j = 0; j < outW; j++)
            {
                double px0, py0;
                if (warp is Mat3 wm)
                {
                    var (x1, y1) = tail.Apply(j, i);
                    (x1, y1) = wm.Apply(x1, y1);
                    (px0, py0) = head.Apply(x1, y1);
                }
                else
                {
                    px0 = all.A * j + all.B * i + all.C;
                    py0 = all.D * j + all.E * i + all.F;
                }
                double fx = Reflect(px0, w - 1), fy = Reflect(py0, h - 1);
                int x0 = (int)fx, y0 = (int)fy;
                int o = i * outW + j;
                idx[o] = y0 * w + x0;
                stepX[o] = x0 < w - 1 ? 1 : 0;
                stepY[o] = y0 < h - 1 ? w : 0;
                fxs[o] = (float)(fx - x0);
                fys[o] = (float)(fy - y0);
            }
        }
        for (int ch = 0; ch < c; ch++)
        {
            var plane0 = px.AsSpan(ch * plane, plane);
            var outp = dst.Slice(ch * outPlane, outPlane);
            for (int o = 0; o < outPlane; o++)
            {
                int k = idx[o], sxo = stepX[o], syo = stepY[o];
                float ax = fxs[o], ay = fys[o];
                float top = plane0[k] + ax * (plane0[k + sxo] - plane0[k]);
                float bottom = plane0[k + syo] + ax * (plane0[k + syo + sxo] - plane0[k + syo]);
                outp[o] = top + ay * (bottom - top);
            }
        }
    }

    // Per-thread buffers of the sampling plan, grown as needed (workers resample concurrently).
    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? _current;
        public int[] Index = Array.Empty<int>(), StepX = Array.Empty<int>(), StepY = Array.Empty<int>();
        public float[] Ax = Array.Empty<float>(), Ay = Array.Empty<float>();

        public static Scratch Get(int n)
        {
            var s = _current ??= new Scratch();
            if (s.Index.Length < n)
            {
                s.Index = new int[n]; s.StepX = new int[n]; s.StepY = new int[n];
                s.Ax = new float[n]; s.Ay = new float[n];
            }
            return s;
        }
    }

    /// <summary>
    /// Box-filter downscale by an integer factor (blocks at the right and bottom edges average the pixels
    /// they have). Used before a large reduction so bilinear sampling does not alias, as fastai v1 first
    /// shrinks with 'area' interpolation when the output is more than 2x smaller.
    /// </summary>
    public static DecodedImage AreaDownscale(DecodedImage src, int factor)
    {
        if (factor <= 1) return src;
        int c = src.Channels, h = src.Height, w = src.Width;
        int oh = (h + factor - 1) / factor, ow = (w + factor - 1) / factor;
        var dst = new float[c * oh * ow];
        var px = src.Pixels;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < oh; y++)
            {
                int y0 = y * factor, y1 = Math.Min(h, y0 + factor);
                for (int x = 0; x < ow; x++)
                {
                    int x0 = x * factor, x1 = Math.Min(w, x0 + factor);
                    float sum = 0;
                    for (int yy = y0; yy < y1; yy++)
                    {
                        int row = (ch * h + yy) * w;
                        for (int xx = x0; xx < x1; xx++) sum += px[row + xx];
                    }
                    dst[(ch * oh + y) * ow + x] = sum / ((y1 - y0) * (x1 - x0));
                }
            }
        return new DecodedImage(dst, c, oh, ow);
    }

    // Reflection about the first and last pixel centres (period 2*max), like grid_sample's
    // reflection padding with align_corners; snaps values within 1e-9 of an integer so exact
    // geometric maps (flips, turns) read pixel centres without interpolation.
    internal static double Reflect(double x, int max)
    {
        if (max <= 0) return 0;
        if (x >= 0 && x <= max) return Snap(x);
        double period = 2.0 * max;
        x = Math.Abs(x) % period;
        if (x > max) x = period - x;
        return Snap(x);
    }

    private static double Snap(double x)
    {
        double r = Math.Round(x);
        return Math.Abs(x - r) < 1e-9 ? r : x;
    }
}
