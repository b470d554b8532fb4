// The training transforms as export-bundle metadata: "augment" holds fastai get_transforms' arguments as
// one JSON object (do_flip, flip_vert, max_rotate, max_zoom, max_lighting, max_warp, p_affine,
// p_lighting) and "input.extra_channel" what the last of 2 or 4 channels means (alpha or data). Must
// hold: ToMetadata then FromMetadata gives the same options; a bundle without the keys (written before
// they existed) reads as null / alpha; a malformed or out-of-range value is an error naming the key.
using System.Globalization;
using System.Text.Json;

namespace NativeCnn.Data.Transforms;

/// <summary>Reads and writes <see cref="AugmentOptions"/> as export-bundle metadata entries.</summary>
public static class AugmentMetadata
{
    /// <summary>The metadata keys: the get_transforms arguments (JSON) and the extra channel's meaning.</summary>
    public const string AugmentKey = "augment", ExtraChannelKey = "input.extra_channel";

    /// <summary>Adds the keys for <paramref name="augment"/> (nothing when null) to <paramref name="d"/>.</summary>
    public static void Write(AugmentOptions? augment, IDictionary<string, string> d)
    {
        if (augment is null) return;
        d[AugmentKey] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["do_flip"] = augment.DoFlip, ["flip_vert"] = augment.FlipVert, ["max_rotate"] = augment.MaxRotate, ["max_zoom"] = augment.MaxZoom,
            ["max_lighting"] = augment.MaxLighting, ["max_warp"] = augment.MaxWarp, ["p_affine"] = augment.PAffine, ["p_lighting"] = augment.PLighting,
        });
        d[ExtraChannelKey] = augment.LightingExtraChannel.ToString().ToLowerInvariant();
    }

    /// <summary>The options <see cref="Write"/> recorded, or null when <paramref name="d"/> has none.</summary>
    public static AugmentOptions? Read(IReadOnlyDictionary<string, string> d, string source)
    {
        var extra = ExtraChannel.Alpha;
        if (d.TryGetValue(ExtraChannelKey, out var e) && !Enum.TryParse(e, ignoreCase: true, out extra))
            throw new NativeCnnException($"model '{source}': metadata '{ExtraChannelKey}' holds '{e}', expected alpha or data");
        if (!d.TryGetValue(AugmentKey, out var json)) return d.ContainsKey(ExtraChannelKey) ? new AugmentOptions { LightingExtraChannel = extra } : null;
        NativeCnnException Bad() => new($"model '{source}': metadata '{AugmentKey}' holds '{json}', expected a JSON object of get_transforms' arguments (do_flip, flip_vert, max_rotate, max_zoom, max_lighting, max_warp, p_affine, p_lighting) in range");
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            double Num(string k, double lo, double hi)
            {
                double v = r.GetProperty(k).GetDouble();
                return v >= lo && v <= hi ? v : throw Bad();
            }
            return new AugmentOptions
            {
                DoFlip = r.GetProperty("do_flip").GetBoolean(),
                FlipVert = r.GetProperty("flip_vert").GetBoolean(),
                MaxRotate = Num("max_rotate", 0, 180),
                MaxZoom = Num("max_zoom", 1, 10),
                MaxLighting = Num("max_lighting", 0, 0.999999),
                MaxWarp = Num("max_warp", 0, 1),
                PAffine = Num("p_affine", 0, 1),
                PLighting = Num("p_lighting", 0, 1),
                LightingExtraChannel = extra,
            };
        }
        catch (Exception x) when (x is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Bad();
        }
    }

    /// <summary>One line for people: "flip (left-right), rotate 10, zoom 1.1, lighting 0.2, warp 0.2, p_affine 0.75, p_lighting 0.75, extra channel alpha".</summary>
    public static string Describe(AugmentOptions a)
    {
        string flip = !a.DoFlip ? "no flip" : a.FlipVert ? "flip (dihedral: vertical and 90-degree turns)" : "flip (left-right)";
        return string.Create(CultureInfo.InvariantCulture,
            $"{flip}, max_rotate {a.MaxRotate:G4}, max_zoom {a.MaxZoom:G4}, max_lighting {a.MaxLighting:G4}, max_warp {a.MaxWarp:G4}, p_affine {a.PAffine:G4}, p_lighting {a.PLighting:G4}, extra channel {a.LightingExtraChannel.ToString().ToLowerInvariant()}");
    }
}
