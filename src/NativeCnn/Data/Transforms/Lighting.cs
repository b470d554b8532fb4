// Brightness and contrast in logit space, as fastai v1: brightness(change) adds logit(change),
// contrast(scale) multiplies the logit; then sigmoid. Must hold: brightness 0.5 and contrast 1 are
// the identity (up to the 1e-7 clamp of logit); the last channel of a 2- or 4-channel image is left
// untouched when it is alpha (the default), and changed like the others when it is data (infrared).
using System.Runtime.Intrinsics;

namespace NativeCnn.Data.Transforms;

/// <summary>What the last channel of a 2- or 4-channel image holds, for lighting: Alpha (transparency,
/// left as it is) or Data (a real channel such as infrared in RGB+IR, lit like the colour channels).</summary>
public enum ExtraChannel
{
    /// <summary>Transparency: left as it is.</summary>
    Alpha,
    /// <summary>A measured channel (e.g. infrared): lit like the colour channels.</summary>
    Data,
}

internal static class Lighting
{
    private const float Eps = 1e-7f;

    public static float Logit(float x)
    {
        x = Math.Clamp(x, Eps, 1 - Eps);
        return MathF.Log(x / (1 - x));
    }

    /// <summary>x = sigmoid((logit(x) + logit(change)) * scale) on the colour channels of a (C, H, W) buffer;
    /// the last of 2 or 4 channels too when <paramref name="extra"/> is Data (default Alpha: left as it is).</summary>
    public static void Apply(Span<float> chw, int channels, int plane, double change = 0.5, double scale = 1, ExtraChannel extra = ExtraChannel.Alpha)
    {
        if (!(change > 0 && change < 1)) throw new NativeCnnException($"brightness: change must be in (0, 1), got {change}");
        if (!(scale > 0)) throw new NativeCnnException($"contrast: scale must be > 0, got {scale}");
        int colour = extra == ExtraChannel.Alpha && (channels is 2 or 4) ? channels - 1 : channels;
        float s = (float)scale;
        // sigmoid((L + b) * s) = 1 / (1 + e^(-b s) * ((1 - x) / x)^s): one log and one exp per value,
        // vectorised; the clamp keeps logit's 1e-7 bounds.
        float k = MathF.Exp(-Logit((float)change) * s);
        var span = chw[..(colour * plane)];
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var lo = Vector256.Create(Eps);
            var hi = Vector256.Create(1 - Eps);
            var one = Vector256<float>.One;
            var vs = Vector256.Create(s);
            var vk = Vector256.Create(k);
            for (; i <= span.Length - 8; i += 8)
            {
                var x = Vector256.Min(Vector256.Max(Vector256.Create<float>(span.Slice(i, 8)), lo), hi);
                var r = Vector256.Exp(Vector256.Log((one - x) / x) * vs);
                (one / (one + vk * r)).CopyTo(span.Slice(i, 8));
            }
        }
        for (; i < span.Length; i++)
        {
            float x = Math.Clamp(span[i], Eps, 1 - Eps);
            span[i] = 1f / (1f + k * MathF.Exp(MathF.Log((1 - x) / x) * s));
        }
    }
}
