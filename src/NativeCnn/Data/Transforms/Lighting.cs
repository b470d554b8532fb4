// Brightness and contrast in logit space, as fastai v1: brightness(change) adds logit(change),
// contrast(scale) multiplies the logit; then sigmoid. Must hold: brightness 0.5 and contrast 1 are
// the identity (up to the 1e-7 clamp of logit); alpha channels (2nd of 2, 4th of 4) are untouched.
namespace NativeCnn.Data.Transforms;

public static class Lighting
{
    private const float Eps = 1e-7f;

    public static float Logit(float x)
    {
        x = Math.Clamp(x, Eps, 1 - Eps);
        return MathF.Log(x / (1 - x));
    }

    /// <summary>x = sigmoid((logit(x) + logit(change)) * scale) on the colour channels of a (C, H, W) buffer.</summary>
    public static void Apply(Span<float> chw, int channels, int plane, double change = 0.5, double scale = 1)
    {
        if (!(change > 0 && change < 1)) throw new NativeCnnException($"brightness: change must be in (0, 1), got {change}");
        if (!(scale > 0)) throw new NativeCnnException($"contrast: scale must be > 0, got {scale}");
        int colour = channels is 2 or 4 ? channels - 1 : channels;
        float shift = Logit((float)change), s = (float)scale;
        var span = chw[..(colour * plane)];
        for (int i = 0; i < span.Length; i++)
            span[i] = 1f / (1f + MathF.Exp(-(Logit(span[i]) + shift) * s));
    }
}
