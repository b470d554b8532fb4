// `--tf32` (train, finetune, lr-find, bench): NativeCnn.Precision.AllowTf32 on for the command's work and
// back to what it was after, so a command run in-process (tests, the GPU lab) leaves the flag as found.
// Must hold: without --tf32 the flag is left alone (off by default: strict float32).
namespace NativeCnn.Cli;

internal sealed class Tf32Scope : IDisposable
{
    private readonly bool _saved;
    private readonly bool _set;

    private Tf32Scope(bool on)
    {
        _saved = Precision.AllowTf32;
        _set = on;
        if (on) Precision.AllowTf32 = true;
    }

    /// <summary>AllowTf32 on until disposed when <paramref name="on"/>; nothing otherwise.</summary>
    public static Tf32Scope For(bool on) => new(on);

    public void Dispose()
    {
        if (_set) Precision.AllowTf32 = _saved;
    }
}
