// fastai v1 get_transforms as one per-item plan: random crop (train) or centre crop (valid), flip
// left-right (p 0.5) or one of 8 dihedral turns (flip_vert), symmetric warp, rotate and zoom (each p
// p_affine), brightness and contrast (each p p_lighting). Must hold: every random draw for an item
// comes from Rng.Uniform(itemSeed, slot) with a fixed slot per parameter, so an item's augmentation
// depends only on its seed (never on thread timing or which other transforms fired); geometric
// parts compose into one resample (Resample.Run), lighting follows it.
namespace NativeCnn.Data.Transforms;

/// <summary>fastai v1 get_transforms arguments, with its defaults.</summary>
public sealed record AugmentOptions
{
    /// <summary>Random horizontal flips (fastai do_flip; with FlipVert, any of the 8 dihedral transforms).</summary>
    public bool DoFlip { get; init; } = true;
    /// <summary>Flips include vertical ones and 90-degree rotations (the 8 dihedral transforms), for images with no "up".</summary>
    public bool FlipVert { get; init; }
    /// <summary>Largest rotation in degrees, either way (drawn uniformly).</summary>
    public double MaxRotate { get; init; } = 10;
    /// <summary>Largest zoom factor (>= 1; drawn uniformly from 1 to it).</summary>
    public double MaxZoom { get; init; } = 1.1;
    /// <summary>Largest brightness and contrast change (fastai max_lighting: brightness 0.5 +- it, contrast in [1 - it, 1 / (1 - it)]).</summary>
    public double MaxLighting { get; init; } = 0.2;
    /// <summary>Largest perspective warp magnitude (fastai max_warp).</summary>
    public double MaxWarp { get; init; } = 0.2;
    /// <summary>Probability of each affine transform (rotate, zoom, warp) firing.</summary>
    public double PAffine { get; init; } = 0.75;
    /// <summary>Probability of each lighting transform (brightness, contrast) firing.</summary>
    public double PLighting { get; init; } = 0.75;

    /// <summary>Whether brightness and contrast change the last channel of a 2- or 4-channel input.
    /// Default Alpha: a decoded grey+alpha or RGBA file carries transparency there, which lighting must
    /// not touch. Set Data for models whose 4th channel is a measurement (RGB plus infrared).</summary>
    public ExtraChannel LightingExtraChannel { get; init; } = ExtraChannel.Alpha;

    /// <summary>No augmentation at all (validation, or a pipeline that only resizes).</summary>
    public static readonly AugmentOptions None = new() { DoFlip = false, MaxRotate = 0, MaxZoom = 1, MaxLighting = 0, MaxWarp = 0 };
}

/// <summary>The parameters drawn for one item; null fields did not fire.</summary>
internal sealed record AugmentDraw(double RowPct, double ColPct, int? Dihedral, bool FlipLr, double[]? Warp, double? Rotate, (double Scale, double Row, double Col)? Zoom, double? Brightness, double? Contrast);

/// <summary>Turns a decoded image into a (C, H, W) training or validation input of a fixed size.</summary>
public sealed class ImageTransform
{
    // Draw slots: fixed per parameter (see header).
    private const int SRow = 0, SCol = 1, SFlip = 2, SDihedral = 3, SWarp = 4, SWarpMag = 5, SRotate = 9, SAngle = 10,
        SZoom = 11, SZoomScale = 12, SZoomRow = 13, SZoomCol = 14, SBright = 15, SBrightV = 16, SContrast = 17, SContrastV = 18;

    /// <summary>A transform to <paramref name="height"/> x <paramref name="width"/> by <paramref name="resize"/>, with <paramref name="augment"/> applied to training items (null or <see cref="AugmentOptions.None"/>: none).</summary>
    /// <exception cref="ArgumentException">A size is not positive.</exception>
    public ImageTransform(int height, int width, ResizeMethod resize = ResizeMethod.Crop, AugmentOptions? augment = null)
    {
        Check.Positive(height, "transform: target height");
        Check.Positive(width, "transform: target width");
        Height = height;
        Width = width;
        Resize = resize;
        Augment = augment ?? new AugmentOptions();
        if (Augment.MaxZoom < 1) throw new NativeCnnException($"transform: max zoom must be >= 1, got {Augment.MaxZoom}");
        if (!(Augment.MaxLighting >= 0 && Augment.MaxLighting < 1)) throw new NativeCnnException($"transform: max lighting must be in [0, 1), got {Augment.MaxLighting}");
        if (!(Augment.PAffine is >= 0 and <= 1) || !(Augment.PLighting is >= 0 and <= 1))
            throw new NativeCnnException($"transform: probabilities must be in [0, 1], got p_affine {Augment.PAffine}, p_lighting {Augment.PLighting}");
    }

    /// <summary>Output height in pixels.</summary>
    public int Height { get; }
    /// <summary>Output width in pixels.</summary>
    public int Width { get; }
    /// <summary>How an image reaches the output size.</summary>
    public ResizeMethod Resize { get; }
    /// <summary>The augmentation drawn for training items.</summary>
    public AugmentOptions Augment { get; }

    /// <summary>The same transform at another size (progressive resizing).</summary>
    public ImageTransform WithSize(int height, int width) => new(height, width, Resize, Augment);

    /// <summary>Draws the random parameters of one training item from its seed.</summary>
    internal AugmentDraw Draw(ulong seed)
    {
        var a = Augment;
        double U(int slot) => Rng.Uniform(seed, slot);
        double lo(double lo, double hi, int slot) => lo + (hi - lo) * U(slot);
        int? dihedral = a.DoFlip && a.FlipVert ? Math.Min(7, (int)(U(SDihedral) * 8)) : null;
        bool flip = a.DoFlip && !a.FlipVert && U(SFlip) < 0.5;
        double[]? warp = a.MaxWarp > 0 && U(SWarp) < a.PAffine
            ? Enumerable.Range(0, 4).Select(k => lo(-a.MaxWarp, a.MaxWarp, SWarpMag + k)).ToArray() : null;
        double? rotate = a.MaxRotate > 0 && U(SRotate) < a.PAffine ? lo(-a.MaxRotate, a.MaxRotate, SAngle) : null;
        (double, double, double)? zoom = a.MaxZoom > 1 && U(SZoom) < a.PAffine ? (lo(1, a.MaxZoom, SZoomScale), U(SZoomRow), U(SZoomCol)) : null;
        double? bright = a.MaxLighting > 0 && U(SBright) < a.PLighting ? lo(0.5 * (1 - a.MaxLighting), 0.5 * (1 + a.MaxLighting), SBrightV) : null;
        // contrast is log-uniform in [1 - m, 1 / (1 - m)], as fastai's log_uniform.
        double? contrast = a.MaxLighting > 0 && U(SContrast) < a.PLighting
            ? Math.Exp(lo(Math.Log(1 - a.MaxLighting), -Math.Log(1 - a.MaxLighting), SContrastV)) : null;
        return new AugmentDraw(U(SRow), U(SCol), dihedral, flip, warp, rotate, zoom, bright, contrast);
    }

    /// <summary>Writes the (C, Height, Width) input for one item into dst; train applies the random draw, valid a centre crop only.</summary>
    public void Apply(DecodedImage src, Span<float> dst, bool train, ulong seed)
    {
        if (!train) { Apply(src, dst, null); return; }
        Apply(src, dst, Draw(seed));
    }

    /// <summary>Applies a given draw (null: validation, centre crop only).</summary>
    internal void Apply(DecodedImage src, Span<float> dst, AugmentDraw? d)
    {
        var canvas = Canvas.For(src.Height, src.Width, Height, Width, Resize, d?.RowPct ?? 0.5, d?.ColPct ?? 0.5);
        // More than 2x smaller: shrink by whole factors first (box filter) so bilinear does not alias.
        // Normalised coordinates do not depend on the size, so the geometry is unchanged.
        int factor = (int)Math.Floor(Math.Min(src.Height / canvas.Height, src.Width / canvas.Width) / 2);
        if (factor > 1) src = Resample.AreaDownscale(src, factor);
        Mat3 pre = Mat3.Identity, affine = Mat3.Identity;
        Mat3? warp = null;
        if (d is not null)
        {
            // As fastai v1: flip_lr is a pixel transform on the result (so it acts first on output
            // coordinates), dihedral_affine is the first affine matrix (src = D R Z warp(p)).
            if (d.Dihedral is int k) affine = Geometry.Dihedral(k);
            else if (d.FlipLr) pre = Geometry.FlipLr();
            if (d.Warp is { } m) warp = Geometry.SymmetricWarp(m[0], m[1], m[2], m[3]);
            if (d.Rotate is double deg) affine = affine * Geometry.Rotate(deg);
            if (d.Zoom is var (s, r, c)) affine = affine * Geometry.Zoom(s, r, c);
        }
        Resample.Run(src, dst, Height, Width, canvas, pre, warp, affine);
        if (d is not null && (d.Brightness is not null || d.Contrast is not null))
            Lighting.Apply(dst, src.Channels, Height * Width, d.Brightness ?? 0.5, d.Contrast ?? 1, Augment.LightingExtraChannel);
    }
}
