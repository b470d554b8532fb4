// Per-channel normalisation statistics: x = (x - mean[c]) / std[c]. Presets (ImageNet, CIFAR, MNIST)
// or computed from training images. The statistics belong to the trained model and are saved with it
// (ToMetadata / FromMetadata, with the class vocabulary), so a model is always fed with its own statistics.
// Must hold: Mean and Std have one entry per channel and every std is > 0.
using System.Globalization;
using System.Text.Json;

namespace NativeCnn.Data;

/// <summary>Per-channel normalisation statistics: x = (x - Mean[c]) / Std[c] on values in [0, 1]. They belong to a trained model and are saved with it.</summary>
public sealed record NormStats
{
    /// <summary>Statistics with one <paramref name="mean"/> and one <paramref name="std"/> per channel (of values in [0, 1]).</summary>
    /// <exception cref="ArgumentException">The arrays are empty or differ in length, a mean is not finite, or a std is not positive.</exception>
    public NormStats(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new NativeCnnException($"normalisation: mean and std need one value per channel, got {mean.Length} means and {std.Length} stds");
        for (int c = 0; c < std.Length; c++)
            if (!(std[c] > 0) || !float.IsFinite(mean[c]))
                throw new NativeCnnException($"normalisation: channel {c} has mean {mean[c]} and std {std[c]}; expected a finite mean and std > 0");
        Mean = mean;
        Std = std;
    }

    /// <summary>Mean per channel.</summary>
    public float[] Mean { get; }
    /// <summary>Standard deviation per channel (> 0).</summary>
    public float[] Std { get; }
    /// <summary>Number of channels.</summary>
    public int Channels => Mean.Length;

    /// <summary>ImageNet's RGB statistics (torchvision's), for pretrained ResNets.</summary>
    public static readonly NormStats ImageNet = new(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });
    /// <summary>CIFAR-10's RGB statistics.</summary>
    public static readonly NormStats Cifar = new(new[] { 0.491f, 0.482f, 0.447f }, new[] { 0.247f, 0.243f, 0.261f });
    /// <summary>MNIST's grey statistics (torchvision's 0.1307, 0.3081).</summary>
    public static readonly NormStats Mnist = new(new[] { 0.1307f }, new[] { 0.3081f });

    /// <summary>Normalises a (C, H, W) buffer in place.</summary>
    public void Apply(Span<float> chw, int plane)
    {
        int c = chw.Length / plane;
        if (c != Channels)
            throw new NativeCnnException($"normalisation: the image has {c} channels but the statistics have {Channels}");
        for (int k = 0; k < c; k++)
        {
            float m = Mean[k], inv = 1f / Std[k];
            var s = chw.Slice(k * plane, plane);
            for (int i = 0; i < s.Length; i++) s[i] = (s[i] - m) * inv;
        }
    }

    /// <summary>Mean and std per channel over (up to <paramref name="maxImages"/>) images of a dataset, each adapted to <paramref name="channels"/>.</summary>
    public static NormStats Compute(IImageSource data, int channels, int maxImages = 1000)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new NativeCnnException($"normalisation: dataset '{data.Name}' is empty; cannot compute statistics");
        var sum = new double[channels];
        var sq = new double[channels];
        long n = 0;
        int step = Math.Max(1, data.Count / Math.Max(1, maxImages));
        for (int i = 0; i < data.Count; i += step)
        {
            var img = ChannelAdapter.Adapt(data.Load(i), channels, TwoChannelFill.Zeros);
            int plane = img.Height * img.Width;
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < plane; p++) { double v = img.Pixels[c * plane + p]; sum[c] += v; sq[c] += v * v; }
            n += plane;
        }
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double m = sum[c] / n;
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(Math.Max(0, sq[c] / n - m * m)), 1e-6);
        }
        return new NormStats(mean, std);
    }

    /// <summary>
    /// The statistics and the class vocabulary as string entries for a model file's metadata (the
    /// safetensors "__metadata__" map), so a saved model carries what it must be fed with.
    /// </summary>
    public Dictionary<string, string> ToMetadata(IReadOnlyList<string>? classes = null)
    {
        var d = new Dictionary<string, string>
        {
            ["norm.mean"] = string.Join(",", Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
            ["norm.std"] = string.Join(",", Std.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
        };
        if (classes is not null) d["classes"] = JsonSerializer.Serialize(classes);
        return d;
    }

    /// <summary>Reads back <see cref="ToMetadata"/>; <paramref name="source"/> names the model file in errors.</summary>
    public static NormStats FromMetadata(IReadOnlyDictionary<string, string> d, string source)
    {
        if (!d.TryGetValue("norm.mean", out var m) || !d.TryGetValue("norm.std", out var s))
            throw new NativeCnnException($"model '{source}' has no 'norm.mean'/'norm.std' metadata (found: {string.Join(", ", d.Keys)}); it was saved without its normalisation statistics");
        float[] Parse(string text, string key) => text.Split(',').Select(t =>
            float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new NativeCnnException($"model '{source}': metadata '{key}' holds '{text}', expected comma-separated numbers")).ToArray();
        return new NormStats(Parse(m, "norm.mean"), Parse(s, "norm.std"));
    }

    /// <summary>The class vocabulary saved by <see cref="ToMetadata"/>.</summary>
    public static string[] ClassesFromMetadata(IReadOnlyDictionary<string, string> d, string source)
    {
        if (!d.TryGetValue("classes", out var json))
            throw new NativeCnnException($"model '{source}' has no 'classes' metadata; it was saved without its label vocabulary");
        try { return JsonSerializer.Deserialize<string[]>(json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new NativeCnnException($"model '{source}': metadata 'classes' is not a JSON list of strings ({e.Message})"); }
    }
}
