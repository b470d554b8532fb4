// Channel adaptation between what a file holds and what a model was built for: a 3-channel model
// accepts grey (replicated to RGB) and grey+alpha (third channel zeros or the mean of the two, by
// option); RGBA to RGB drops alpha; anything to 1 channel takes the luma (or the grey plane).
// Must hold: a pair with no defined conversion is an error naming both counts, never a silent crop.
namespace NativeCnn.Data;

/// <summary>What fills the third channel when a 2-channel image feeds a 3-channel model.</summary>
public enum TwoChannelFill
{
    /// <summary>The third channel is zero.</summary>
    Zeros,
    /// <summary>The third channel is the mean of the first two.</summary>
    Mean,
}

/// <summary>Adapts an image to the channel count a model takes: grey to RGB (replicated), grey + alpha to RGB (third channel by <see cref="TwoChannelFill"/>), RGBA to RGB (alpha dropped), anything to grey (BT.601 luma).</summary>
public static class ChannelAdapter
{
    /// <summary><paramref name="img"/> with <paramref name="channels"/> channels (itself when it has them already); <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="ArgumentException">No conversion between the two counts is defined.</exception>
    public static DecodedImage Adapt(DecodedImage img, int channels, TwoChannelFill fill = TwoChannelFill.Zeros, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(img);
        int from = img.Channels;
        if (from == channels) return img;
        int plane = img.Height * img.Width;
        var src = img.Pixels;
        var dst = new float[channels * plane];
        var s = src.AsSpan();
        switch (from, channels)
        {
            case (1, 3):
            case (1, 4):
                for (int c = 0; c < 3; c++) s[..plane].CopyTo(dst.AsSpan(c * plane));
                if (channels == 4) dst.AsSpan(3 * plane, plane).Fill(1f);
                break;
            case (2, 3):
                s[..(2 * plane)].CopyTo(dst);
                if (fill == TwoChannelFill.Mean)
                    for (int p = 0; p < plane; p++) dst[2 * plane + p] = 0.5f * (src[p] + src[plane + p]);
                break;
            case (2, 1):
            case (4, 3):
                s[..(channels * plane)].CopyTo(dst);
                break;
            case (3, 4):
                s.CopyTo(dst);
                dst.AsSpan(3 * plane, plane).Fill(1f);
                break;
            case (3, 1):
            case (4, 1):
                for (int p = 0; p < plane; p++) dst[p] = 0.299f * src[p] + 0.587f * src[plane + p] + 0.114f * src[2 * plane + p];
                break;
            default:
                throw new NativeCnnException($"{(name is null ? "image" : $"image '{name}'")} has {from} channels; no conversion to the model's {channels} channels is defined");
        }
        return new DecodedImage(dst, channels, img.Height, img.Width);
    }
}
