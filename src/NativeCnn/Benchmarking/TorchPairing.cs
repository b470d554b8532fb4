// Which torch_baseline.py record a NativeCnn bench case is compared with. A case's name says its
// precision: no suffix is strict float32, "_tf32" is float32 with NativeCnn.Precision.AllowTf32 on,
// "_amp" is mixed precision (float16). The pairings (issue 18's three):
//   strict float32  "X"       -> PyTorch "X_notf32" (cuDNN with TF32 off) where the script has one, else "X"
//                                (its GEMMs run with TF32 off anyway; its mnist step has no strict record)
//   TF32            "X_tf32"  -> PyTorch "X" (its default: cuDNN's convolutions in TF32)
//   float16         "X_amp"   -> PyTorch "X" with amp = true (autocast)
// The PyTorch records are held in one dictionary by pairing key: float32 records by case name, AMP
// records by case name + "_amp" (BenchReport.ParseTorchAll).
// Must hold: a case pairs only with a record of its own precision class, or with none (never a
// strict float32 case with PyTorch AMP, never TF32 with a `_notf32` record).
namespace NativeCnn.Benchmarking;

/// <summary>The precision a bench case runs in, read from its name.</summary>
internal enum BenchPrecision { Float32, Tf32, Amp }

/// <summary>A PyTorch record paired with a case, and what it is (for the table: "TF32 off", "default", "AMP").</summary>
internal sealed record TorchPair(TorchRecord Record, string Label);

internal static class TorchPairing
{
    public const string Tf32Suffix = "_tf32", AmpSuffix = "_amp", StrictSuffix = "_notf32";

    public static BenchPrecision PrecisionOf(string ourCase) =>
        ourCase.EndsWith(Tf32Suffix, StringComparison.Ordinal) ? BenchPrecision.Tf32
        : ourCase.EndsWith(AmpSuffix, StringComparison.Ordinal) ? BenchPrecision.Amp
        : BenchPrecision.Float32;

    /// <summary>The record <paramref name="ourCase"/> is compared with, or null when the script has none.</summary>
    public static TorchPair? Pair(string ourCase, IReadOnlyDictionary<string, TorchRecord> torch)
    {
        switch (PrecisionOf(ourCase))
        {
            case BenchPrecision.Tf32:
                return torch.TryGetValue(ourCase[..^Tf32Suffix.Length], out var d) && !d.Amp ? new TorchPair(d, "default (TF32)") : null;
            case BenchPrecision.Amp:
                return torch.TryGetValue(ourCase, out var a) && a.Amp ? new TorchPair(a, "AMP") : null;
            default:
                if (torch.TryGetValue(ourCase + StrictSuffix, out var s) && !s.Amp) return new TorchPair(s, "TF32 off");
                return torch.TryGetValue(ourCase, out var f) && !f.Amp ? new TorchPair(f, "default") : null;
        }
    }
}
