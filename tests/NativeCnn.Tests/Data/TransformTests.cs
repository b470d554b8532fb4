// Transforms: exact geometry (flip, the 8 dihedral turns, identities, warp corners, crop/pad/squish
// placement), lighting in logit space, and each random transform firing with fastai's probability.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using Xunit;

namespace NativeCnn.Tests.Data;

public class TransformTests
{
    private static float[] Run(DecodedImage img, Mat3 pre, Mat3? warp, Mat3 affine, int? outH = null, int? outW = null, ResizeMethod m = ResizeMethod.Squish, double row = 0.5, double col = 0.5)
    {
        int h = outH ?? img.Height, w = outW ?? img.Width;
        var dst = new float[img.Channels * h * w];
        Resample.Run(img, dst, h, w, Canvas.For(img.Height, img.Width, h, w, m, row, col), pre, warp, affine);
        return dst;
    }

    [Fact]
    public void FlipLrMirrorsExactly()
    {
        var img = TestImages.Pattern(3, 5, 6).Build();
        var o = Run(img, Geometry.FlipLr(), null, Mat3.Identity);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 6; x++)
                    Assert.Equal(img.At(c, y, 5 - x), o[(c * 5 + y) * 6 + x]);
    }

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)] [InlineData(7)]
    public void EachDihedralTransformIsExact(int k)
    {
        const int n = 5;
        var img = TestImages.Pattern(2, n, n).Build();
        var o = Run(img, Geometry.Dihedral(k), null, Mat3.Identity);
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                {
                    // Source pixel of output (y, x): transpose (bit 2) swaps axes, then bits 0 and 1 mirror.
                    int sx = (k & 4) != 0 ? y : x, sy = (k & 4) != 0 ? x : y;
                    if ((k & 1) != 0) sx = n - 1 - sx;
                    if ((k & 2) != 0) sy = n - 1 - sy;
                    Assert.Equal(img.At(c, sy, sx), o[(c * n + y) * n + x]);
                }
        // The 8 transforms are distinct.
        var all = Enumerable.Range(0, 8).Select(j => string.Join(",", Run(img, Geometry.Dihedral(j), null, Mat3.Identity))).Distinct().Count();
        Assert.Equal(8, all);
    }

    [Fact]
    public void Rotate0Zoom1AndWarp0AreIdentity()
    {
        var img = TestImages.Pattern(3, 7, 9).Build();
        var o = Run(img, Mat3.Identity, Geometry.SymmetricWarp(0, 0, 0, 0), Geometry.Rotate(0) * Geometry.Zoom(1, 0.3, 0.8));
        for (int i = 0; i < o.Length; i++) Assert.Equal(img.Pixels[i], o[i], 5);
    }

    [Fact]
    public void Rotate180IsBothFlips()
    {
        var img = TestImages.Pattern(1, 5, 5).Build();
        var o = Run(img, Mat3.Identity, null, Geometry.Rotate(180));
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++) Assert.Equal(img.At(0, 4 - y, 4 - x), o[y * 5 + x], 5);
    }

    [Fact]
    public void WarpSendsTheMovedCornersToTheCorners()
    {
        double m0 = 0.1, m1 = -0.15, m2 = 0.2, m3 = -0.05;
        var hm = Geometry.SymmetricWarp(m0, m1, m2, m3);
        var targ = new[] { (-1 - m3, -1 - m1), (-1 - m2, 1 + m1), (1 + m3, -1 - m0), (1 + m2, 1 + m0) };
        var orig = new[] { (-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0) };
        for (int k = 0; k < 4; k++)
        {
            var (x, y) = hm.Apply(targ[k].Item1, targ[k].Item2);
            Assert.Equal(orig[k].Item1, x, 9);
            Assert.Equal(orig[k].Item2, y, 9);
        }
        // The centre is fixed for a symmetric warp with equal magnitudes.
        var (cx, cy) = Geometry.SymmetricWarp(0.2, 0.2, 0.2, 0.2).Apply(0, 0);
        Assert.Equal(0, cx, 9);
        Assert.Equal(0, cy, 9);
    }

    [Fact]
    public void ZoomMagnifiesAboutTheChosenCentre()
    {
        // zoom 2 about the centre of a 5x5: output corner (-1,-1) reads source (-0.5,-0.5) = pixel (1,1).
        var img = TestImages.Pattern(1, 5, 5).Build();
        var o = Run(img, Mat3.Identity, null, Geometry.Zoom(2));
        Assert.Equal(img.At(0, 1, 1), o[0], 5);
        Assert.Equal(img.At(0, 2, 2), o[2 * 5 + 2], 5);
        Assert.Equal(img.At(0, 3, 3), o[24], 5);
    }

    [Fact]
    public void CropPadAndSquishPlaceTheImage()
    {
        var img = TestImages.Pattern(1, 4, 8).Build();
        // Crop 4x8 to 4x4: no scaling; the window's left edge is (8-4)*colPct.
        var left = Run(img, Mat3.Identity, null, Mat3.Identity, 4, 4, ResizeMethod.Crop, 0.5, 0.0);
        var right = Run(img, Mat3.Identity, null, Mat3.Identity, 4, 4, ResizeMethod.Crop, 0.5, 1.0);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
            {
                Assert.Equal(img.At(0, y, x), left[y * 4 + x], 5);
                Assert.Equal(img.At(0, y, x + 4), right[y * 4 + x], 5);
            }
        // Squish 4x8 -> 4x8 is the identity; to 2x2 reads the four corners.
        var sq = Run(img, Mat3.Identity, null, Mat3.Identity, 2, 2, ResizeMethod.Squish);
        Assert.Equal(new[] { img.At(0, 0, 0), img.At(0, 0, 7), img.At(0, 3, 0), img.At(0, 3, 7) }, sq);
        // Pad 4x4 into 4x8 keeps the image in the middle and reflects it outside.
        var sqimg = TestImages.Pattern(1, 4, 4).Build();
        var pad = Run(sqimg, Mat3.Identity, null, Mat3.Identity, 4, 8, ResizeMethod.Pad);
        for (int y = 0; y < 4; y++)
        {
            for (int x = 0; x < 4; x++) Assert.Equal(sqimg.At(0, y, x), pad[y * 8 + x + 2], 5);
            Assert.Equal(sqimg.At(0, y, 1), pad[y * 8 + 1], 5); // reflection about the first pixel centre
            Assert.Equal(sqimg.At(0, y, 2), pad[y * 8 + 6], 5); // x = 4 reflects about the last centre (3) to 2
            Assert.Equal(sqimg.At(0, y, 1), pad[y * 8 + 7], 5);
        }
    }

    [Fact]
    public void ReflectionPadding()
    {
        Assert.Equal(1, Resample.Reflect(-1, 4));
        Assert.Equal(3, Resample.Reflect(5, 4));
        Assert.Equal(2, Resample.Reflect(10, 4));
        Assert.Equal(0, Resample.Reflect(7.5, 0));
    }

    [Fact]
    public void BrightnessHalfAndContrastOneAreIdentity()
    {
        var img = TestImages.Pattern(3, 4, 4).Build();
        var x = (float[])img.Pixels.Clone();
        Lighting.Apply(x, 3, 16, 0.5, 1);
        for (int i = 0; i < x.Length; i++) Assert.InRange(Math.Abs(img.Pixels[i] - x[i]), 0, 1e-6);
    }

    [Fact]
    public void LightingWorksInLogitSpaceAndSparesAlpha()
    {
        var px = new float[] { 0.25f, 0.5f, 0.9f, 0.3f };
        Lighting.Apply(px, 2, 2, 0.7, 1.5); // channel 0: colour, channel 1: alpha
        static double Sig(double v) => 1 / (1 + Math.Exp(-v));
        static double Logit(double v) => Math.Log(v / (1 - v));
        Assert.Equal(Sig((Logit(0.25) + Logit(0.7)) * 1.5), px[0], 5);
        Assert.Equal(Sig((Logit(0.5) + Logit(0.7)) * 1.5), px[1], 5);
        Assert.Equal(0.9f, px[2]);
        Assert.Equal(0.3f, px[3]);
        Assert.Throws<NativeCnnException>(() => Lighting.Apply(px, 2, 2, 1.2, 1));
    }

    [Fact]
    public void EachRandomTransformFiresWithItsProbabilityAndRange()
    {
        var tf = new ImageTransform(8, 8);
        const int n = 20000;
        int flip = 0, warp = 0, rot = 0, zoom = 0, bright = 0, contrast = 0;
        for (int i = 0; i < n; i++)
        {
            var d = tf.Draw(Rng.Mix((ulong)i + 12345));
            Assert.Null(d.Dihedral);
            if (d.FlipLr) flip++;
            if (d.Warp is { } m) { warp++; Assert.All(m, v => Assert.InRange(v, -0.2, 0.2)); }
            if (d.Rotate is double r) { rot++; Assert.InRange(r, -10, 10); }
            if (d.Zoom is var (s, zr, zc)) { zoom++; Assert.InRange(s, 1, 1.1); Assert.InRange(zr, 0, 1); Assert.InRange(zc, 0, 1); }
            if (d.Brightness is double b) { bright++; Assert.InRange(b, 0.4, 0.6); }
            if (d.Contrast is double c) { contrast++; Assert.InRange(c, 0.8, 1.25); }
        }
        // 4 standard deviations of a binomial(20000, p) is < 0.013 for any p.
        Assert.InRange(flip / (double)n, 0.487, 0.513);
        foreach (var k in new[] { warp, rot, zoom, bright, contrast }) Assert.InRange(k / (double)n, 0.737, 0.763);

        var dih = new ImageTransform(8, 8, augment: new AugmentOptions { FlipVert = true });
        var counts = new int[8];
        for (int i = 0; i < 16000; i++) counts[dih.Draw(Rng.Mix((ulong)i)).Dihedral!.Value]++;
        Assert.All(counts, cnt => Assert.InRange(cnt, 2000 - 180, 2000 + 180));
    }

    [Fact]
    public void ValidationIsACentreCropAndTrainingDependsOnlyOnTheSeed()
    {
        var img = TestImages.Pattern(3, 10, 12).Build();
        var tf = new ImageTransform(10, 10);
        var v = new float[300];
        tf.Apply(img, v, train: false, seed: 99);
        for (int y = 0; y < 10; y++) Assert.Equal(img.At(1, y, 1 + 3), v[100 + y * 10 + 3], 5);
        var a = new float[300];
        var b = new float[300];
        tf.Apply(img, a, true, 7);
        tf.Apply(img, b, true, 7);
        Assert.Equal(a, b);
        tf.Apply(img, b, true, 8);
        Assert.NotEqual(a, b);
        Assert.All(a, x => Assert.InRange(x, 0f, 1f));
    }

    [Fact]
    public void VectorAndScalarLightingAgreeWithTheFloat64Formula()
    {
        // 2 channels of 11 values: 11 colour values (8 vectorised + 3 scalar), alpha untouched.
        var rng = new Random(3);
        var px = Enumerable.Range(0, 22).Select(i => i == 0 ? 0f : i == 1 ? 1f : (float)rng.NextDouble()).ToArray();
        var orig = (float[])px.Clone();
        Lighting.Apply(px, 2, 11, 0.42, 0.83);
        static double Logit(double v) { v = Math.Clamp(v, 1e-7, 1 - 1e-7); return Math.Log(v / (1 - v)); }
        for (int i = 0; i < 11; i++)
            Assert.Equal(1 / (1 + Math.Exp(-(Logit(orig[i]) + Logit(0.42)) * 0.83)), px[i], 5);
        Assert.Equal(orig[11..], px[11..]);
    }

    [Fact]
    public void AFullDrawOfNeutralParametersIsTheIdentityAndFlipsAreExact()
    {
        var img = TestImages.Pattern(3, 6, 6).Build();
        var tf = new ImageTransform(6, 6);
        var o = new float[108];
        tf.Apply(img, o, new AugmentDraw(0.3, 0.9, null, false, new double[4], 0.0, (1.0, 0.2, 0.7), 0.5, 1.0));
        for (int i = 0; i < o.Length; i++) Assert.InRange(Math.Abs(o[i] - img.Pixels[i]), 0, 1e-6);

        tf.Apply(img, o, new AugmentDraw(0.5, 0.5, null, true, null, null, null, null, null));
        Assert.Equal(Run(img, Geometry.FlipLr(), null, Mat3.Identity), o);
        // Dihedral 5 with a 90-degree turn: both exact, composed into one resample.
        tf.Apply(img, o, new AugmentDraw(0.5, 0.5, 5, false, null, 90.0, null, null, null));
        Assert.Equal(Run(img, Mat3.Identity, null, Geometry.Dihedral(5) * Geometry.Rotate(90)), o);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
                Assert.Contains(o[y * 6 + x], img.Pixels.Take(36));
    }

    [Fact]
    public void LargeReductionsAreAntiAliased()
    {
        // A one-pixel checkerboard squished 64 -> 8: a box pre-filter gives grey, plain bilinear at
        // pixel centres would give pure black or white.
        var px = new float[64 * 64];
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) px[y * 64 + x] = (x + y) % 2;
        var img = new DecodedImage(px, 1, 64, 64);
        var o = new float[64];
        new ImageTransform(8, 8, ResizeMethod.Squish).Apply(img, o, train: false, seed: 0);
        Assert.All(o, v => Assert.InRange(v, 0.4f, 0.6f));
        var small = Resample.AreaDownscale(new DecodedImage(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 1, 3, 3), 2);
        Assert.Equal(new float[] { 3, 4.5f, 7.5f, 9 }, small.Pixels);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<NativeCnnException>(() => new ImageTransform(0, 4));
        Assert.Throws<NativeCnnException>(() => new ImageTransform(4, 4, augment: new AugmentOptions { MaxZoom = 0.5 }));
        Assert.Throws<NativeCnnException>(() => Geometry.Dihedral(8));
        Assert.Throws<NativeCnnException>(() => Geometry.Zoom(0));
    }
}
