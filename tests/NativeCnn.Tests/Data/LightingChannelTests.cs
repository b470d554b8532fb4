// Lighting and a 4th channel: by default the last of 2 or 4 channels is alpha and keeps its values;
// with ExtraChannel.Data (RGB + infrared) it is lit exactly like the colour channels, both when
// Lighting is used alone and through the transform's AugmentOptions.
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using Xunit;

namespace NativeCnn.Tests.Data;

public class LightingChannelTests
{
    private static double Expected(double x, double change, double scale)
    {
        static double Logit(double v) { v = Math.Clamp(v, 1e-7, 1 - 1e-7); return Math.Log(v / (1 - v)); }
        return 1 / (1 + Math.Exp(-(Logit(x) + Logit(change)) * scale));
    }

    [Fact]
    public void TheFourthChannelIsLitOnlyWhenItIsData()
    {
        var orig = Enumerable.Range(0, 4 * 9).Select(i => 0.05f + 0.025f * i).ToArray();
        var alpha = (float[])orig.Clone();
        Lighting.Apply(alpha, 4, 9, 0.65, 1.3);
        var data = (float[])orig.Clone();
        Lighting.Apply(data, 4, 9, 0.65, 1.3, ExtraChannel.Data);
        for (int i = 0; i < 27; i++)
        {
            Assert.Equal(Expected(orig[i], 0.65, 1.3), alpha[i], 1e-5);
            Assert.Equal(alpha[i], data[i]);
        }
        Assert.Equal(orig[27..], alpha[27..]);   // alpha: untouched
        for (int i = 27; i < 36; i++) Assert.Equal(Expected(orig[i], 0.65, 1.3), data[i], 1e-5);
        Assert.NotEqual(orig[27..], data[27..]);

        // Two channels (grey + alpha, or two measurements) follow the same rule; 3 are all colour.
        var two = new float[] { 0.2f, 0.8f };
        Lighting.Apply(two, 2, 1, 0.3, 1, ExtraChannel.Data);
        Assert.Equal(Expected(0.8, 0.3, 1), two[1], 1e-5);
    }

    [Fact]
    public void TheTransformPassesItsOptionToLighting()
    {
        var img = TestImages.Pattern(4, 6, 6).Build();
        var draw = new AugmentDraw(0.5, 0.5, null, false, null, null, null, Brightness: 0.7, Contrast: 1.2);
        var plain = new float[4 * 36];
        new ImageTransform(6, 6, augment: AugmentOptions.None).Apply(img, plain, null);
        var rgba = new float[4 * 36];
        new ImageTransform(6, 6).Apply(img, rgba, draw);
        var rgbi = new float[4 * 36];
        new ImageTransform(6, 6, augment: new AugmentOptions { LightingExtraChannel = ExtraChannel.Data }).Apply(img, rgbi, draw);
        Assert.Equal(plain[108..], rgba[108..]);
        for (int i = 0; i < 36; i++)
        {
            Assert.Equal(Expected(plain[108 + i], 0.7, 1.2), rgbi[108 + i], 1e-5);
            Assert.Equal(rgba[i], rgbi[i]);
        }
        Assert.Equal(ExtraChannel.Alpha, new AugmentOptions().LightingExtraChannel);
    }
}
