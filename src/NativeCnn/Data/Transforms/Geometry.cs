// Geometric transforms as matrices in fastai v1's normalised coordinates ((-1,-1) is the centre of
// the top-left pixel, (1,1) of the bottom-right: align-corners). A matrix maps an OUTPUT coordinate
// to the SOURCE coordinate it samples, so composing transforms multiplies matrices and the whole
// chain costs one bilinear resample. Must hold: flips, dihedral turns, rotate(0), zoom(1) and a warp of
// magnitude 0 sample exactly the source pixel centres (identity where they should be).
namespace NativeCnn.Data.Transforms;

/// <summary>A 3x3 projective matrix, row-major; [x', y', w'] = M [x, y, 1], source = (x'/w', y'/w').</summary>
internal readonly struct Mat3
{
    public readonly double A, B, C, D, E, F, G, H, I;

    public Mat3(double a, double b, double c, double d, double e, double f, double g = 0, double h = 0, double i = 1)
    {
        A = a; B = b; C = c; D = d; E = e; F = f; G = g; H = h; I = i;
    }

    public static readonly Mat3 Identity = new(1, 0, 0, 0, 1, 0);

    public static Mat3 operator *(Mat3 m, Mat3 n) => new(
        m.A * n.A + m.B * n.D + m.C * n.G, m.A * n.B + m.B * n.E + m.C * n.H, m.A * n.C + m.B * n.F + m.C * n.I,
        m.D * n.A + m.E * n.D + m.F * n.G, m.D * n.B + m.E * n.E + m.F * n.H, m.D * n.C + m.E * n.F + m.F * n.I,
        m.G * n.A + m.H * n.D + m.I * n.G, m.G * n.B + m.H * n.E + m.I * n.H, m.G * n.C + m.H * n.F + m.I * n.I);

    public (double X, double Y) Apply(double x, double y)
    {
        double w = G * x + H * y + I;
        return ((A * x + B * y + C) / w, (D * x + E * y + F) / w);
    }

    public bool IsIdentity => A == 1 && B == 0 && C == 0 && D == 0 && E == 1 && F == 0 && G == 0 && H == 0 && I == 1;
}

internal static class Geometry
{
    /// <summary>fastai rotate: degrees, counter-clockwise as displayed.</summary>
    public static Mat3 Rotate(double degrees)
    {
        double a = degrees * Math.PI / 180, c = Math.Cos(a), s = Math.Sin(a);
        if (degrees == 0) { c = 1; s = 0; }
        return new Mat3(c, -s, 0, s, c, 0);
    }

    /// <summary>fastai zoom: scale >= 1 magnifies; the kept window's centre sits at (colPct, rowPct) in [0,1].</summary>
    public static Mat3 Zoom(double scale, double rowPct = 0.5, double colPct = 0.5)
    {
        if (!(scale > 0)) throw new NativeCnnException($"zoom: scale must be > 0, got {scale}");
        double s = 1 - 1 / scale;
        return new Mat3(1 / scale, 0, s * (2 * colPct - 1), 0, 1 / scale, s * (2 * rowPct - 1));
    }

    /// <summary>Left-right flip.</summary>
    public static Mat3 FlipLr() => new(-1, 0, 0, 0, 1, 0);

    /// <summary>One of the 8 dihedral transforms: bit 0 flips left-right, bit 1 flips up-down, bit 2 transposes (then bits 0/1 act on the transposed axes).</summary>
    public static Mat3 Dihedral(int k)
    {
        if (k < 0 || k > 7) throw new NativeCnnException($"dihedral: k must be 0..7, got {k}");
        double fx = (k & 1) != 0 ? -1 : 1, fy = (k & 2) != 0 ? -1 : 1;
        return (k & 4) != 0 ? new Mat3(0, fx, 0, fy, 0, 0) : new Mat3(fx, 0, 0, 0, fy, 0);
    }

    /// <summary>
    /// fastai symmetric_warp: the homography that sends the moved corners
    /// (-1-m3,-1-m1), (-1-m2,1+m1), (1+m3,-1-m0), (1+m2,1+m0) to the corners (-1,-1), (-1,1), (1,-1), (1,1).
    /// </summary>
    public static Mat3 SymmetricWarp(double m0, double m1, double m2, double m3)
    {
        var targ = new (double X, double Y)[] { (-1 - m3, -1 - m1), (-1 - m2, 1 + m1), (1 + m3, -1 - m0), (1 + m2, 1 + m0) };
        var orig = new (double X, double Y)[] { (-1, -1), (-1, 1), (1, -1), (1, 1) };
        return Homography(targ, orig);
    }

    /// <summary>The projective map sending each from[k] to to[k] (4 points, no three collinear).</summary>
    public static Mat3 Homography((double X, double Y)[] from, (double X, double Y)[] to)
    {
        var a = new double[8, 9];
        for (int k = 0; k < 4; k++)
        {
            var (x, y) = from[k];
            var (u, v) = to[k];
            double[] r0 = { x, y, 1, 0, 0, 0, -u * x, -u * y, u };
            double[] r1 = { 0, 0, 0, x, y, 1, -v * x, -v * y, v };
            for (int j = 0; j < 9; j++) { a[2 * k, j] = r0[j]; a[2 * k + 1, j] = r1[j]; }
        }
        // Gauss-Jordan with partial pivoting on the 8x8 system.
        for (int col = 0; col < 8; col++)
        {
            int piv = col;
            for (int r = col + 1; r < 8; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[piv, col])) piv = r;
            if (Math.Abs(a[piv, col]) < 1e-12) throw new NativeCnnException("warp: the corner points are degenerate (three are collinear)");
            for (int j = 0; j < 9; j++) (a[col, j], a[piv, j]) = (a[piv, j], a[col, j]);
            for (int r = 0; r < 8; r++)
            {
                if (r == col) continue;
                double f = a[r, col] / a[col, col];
                for (int j = col; j < 9; j++) a[r, j] -= f * a[col, j];
            }
        }
        double c(int i) => a[i, 8] / a[i, i];
        return new Mat3(c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), 1);
    }
}
