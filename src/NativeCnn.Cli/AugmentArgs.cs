// The get_transforms part of the shared data/model options (train, finetune, lr-find, show-batch,
// interpret): --no-flip, --flip-vert, --max-rotate, --max-zoom, --max-lighting, --max-warp, --p-affine,
// --p-lighting as fastai v1's get_transforms arguments, and --extra-channel (what a 2nd or 4th channel
// is: alpha, which lighting leaves alone, or data such as infrared, lit like the others). Must hold:
// only the flags given change the baseline (fastai's defaults, or a model's recorded transforms when
// fine-tuning); every value is checked and in range, or a UsageException names flag, value and range.
using System.Globalization;
using NativeCnn.Data.Transforms;

namespace NativeCnn.Cli;

public sealed class AugmentArgs
{
    /// <summary>The flags, in the order the help lists them.</summary>
    public static readonly string[] Flags =
        { "--no-flip", "--flip-vert", "--max-rotate", "--max-zoom", "--max-lighting", "--max-warp", "--p-affine", "--p-lighting", "--extra-channel" };

    /// <summary>The help lines of the flags (each command's usage includes them).</summary>
    public const string Usage =
        "Transforms (image files: fastai's get_transforms, recorded in the exported model):\n" +
        "  --no-flip        image files: no random flips (fastai do_flip=False; digits, text)\n" +
        "  --flip-vert      image files: flips include vertical ones and 90-degree turns, the 8 dihedral\n" +
        "                   transforms (fastai flip_vert=True; satellite, microscope images)\n" +
        "  --max-rotate D   largest random rotation in degrees, either way, 0 to 180 (default 10)\n" +
        "  --max-zoom Z     largest random zoom, 1 (none) to 10 (default 1.1)\n" +
        "  --max-lighting L largest brightness and contrast change, 0 (none) to below 1 (default 0.2)\n" +
        "  --max-warp W     largest perspective warp, 0 (none; a camera that never changes angle) to 1 (default 0.2)\n" +
        "  --p-affine P     probability of each of rotate, zoom and warp, 0 to 1 (default 0.75)\n" +
        "  --p-lighting P   probability of each of brightness and contrast, 0 to 1 (default 0.75)\n" +
        "  --extra-channel alpha|data  what a 2nd or 4th channel is: alpha (default: transparency, left alone\n" +
        "                   by lighting) or data (a measurement such as infrared, lit like the others)";

    private bool? _doFlip, _flipVert;
    private double? _maxRotate, _maxZoom, _maxLighting, _maxWarp, _pAffine, _pLighting;
    private ExtraChannel? _extra;

    /// <summary>True when any flag was given.</summary>
    public bool Any => _doFlip is not null || _flipVert is not null || _maxRotate is not null || _maxZoom is not null || _maxLighting is not null
                       || _maxWarp is not null || _pAffine is not null || _pLighting is not null || _extra is not null;

    /// <summary>--extra-channel as given; null when not given.</summary>
    public ExtraChannel? ExtraChannel => _extra;

    /// <summary>Reads <paramref name="flag"/> when it is one of <see cref="Flags"/>; false otherwise.</summary>
    internal bool TryParse(string command, string flag, ArgReader r)
    {
        switch (flag)
        {
            case "--no-flip": r.NoValue(); _doFlip = false; break;
            case "--flip-vert": r.NoValue(); _flipVert = true; break;
            case "--max-rotate": _maxRotate = Number(command, flag, r.Value(), 0, 180, "degrees from 0 to 180"); break;
            case "--max-zoom": _maxZoom = Number(command, flag, r.Value(), 1, 10, "a zoom factor from 1 to 10"); break;
            case "--max-lighting": _maxLighting = Number(command, flag, r.Value(), 0, 0.999999, "a number from 0 to below 1"); break;
            case "--max-warp": _maxWarp = Number(command, flag, r.Value(), 0, 1, "a number from 0 to 1"); break;
            case "--p-affine": _pAffine = Number(command, flag, r.Value(), 0, 1, "a probability from 0 to 1"); break;
            case "--p-lighting": _pLighting = Number(command, flag, r.Value(), 0, 1, "a probability from 0 to 1"); break;
            case "--extra-channel":
            {
                var v = r.Value();
                _extra = v switch
                {
                    "alpha" => Data.Transforms.ExtraChannel.Alpha,
                    "data" => Data.Transforms.ExtraChannel.Data,
                    _ => throw new UsageException($"{command}: --extra-channel expects alpha or data, got '{v}'"),
                };
                break;
            }
            default: return false;
        }
        if (_doFlip == false && _flipVert == true)
            throw new UsageException($"{command}: --flip-vert adds to the flips that --no-flip turns off; give one of them");
        return true;
    }

    /// <summary>The transforms: <paramref name="baseline"/> (fastai's defaults when null) with the flags given applied.</summary>
    public AugmentOptions Apply(AugmentOptions? baseline = null)
    {
        var a = baseline ?? new AugmentOptions();
        return a with
        {
            DoFlip = _doFlip ?? a.DoFlip,
            FlipVert = _flipVert ?? a.FlipVert,
            MaxRotate = _maxRotate ?? a.MaxRotate,
            MaxZoom = _maxZoom ?? a.MaxZoom,
            MaxLighting = _maxLighting ?? a.MaxLighting,
            MaxWarp = _maxWarp ?? a.MaxWarp,
            PAffine = _pAffine ?? a.PAffine,
            PLighting = _pLighting ?? a.PLighting,
            LightingExtraChannel = _extra ?? a.LightingExtraChannel,
        };
    }

    private static double Number(string command, string flag, string value, double min, double max, string expected)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v >= min && v <= max))
            throw new UsageException($"{command}: {flag} expects {expected}, got '{value}'");
        return v;
    }
}
