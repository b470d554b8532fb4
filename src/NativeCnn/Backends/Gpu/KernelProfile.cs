// Where a GPU workload's time goes, kernel by kernel: while a KernelProfile is attached to a
// GpuBackend, every launch first waits for the device, so the time from one launch to the next is
// the previous kernel's run time (plus the host work between the two, which is small next to a
// kernel unless the host is the bottleneck, and then that shows too). Profiling serialises the
// device with the host, so a profiled step is slower than an unprofiled one: compare the shares,
// not the sum, with an unprofiled timing. Entries are keyed by kernel (the backend's launcher
// field) and, for GEMMs, their shape.
using System.Diagnostics;
using ILGPU.Runtime;

namespace NativeCnn.Backends.Gpu;

internal sealed class KernelProfile
{
    private readonly Dictionary<string, (int Calls, double Ms)> _entries = new();
    private string? _current;
    private long _since;

    /// <summary>Accumulated (kernel, calls, total milliseconds), the most expensive first.</summary>
    public IReadOnlyList<(string Kernel, int Calls, double Ms)> Entries =>
        _entries.Select(e => (e.Key, e.Value.Calls, e.Value.Ms)).OrderByDescending(e => e.Ms).ToList();

    public double TotalMs => _entries.Values.Sum(e => e.Ms);

    /// <summary>Called before each launch: closes the previous kernel's interval and opens one for this.</summary>
    internal void Launching(string kernel, Accelerator acc)
    {
        Close(acc);
        _current = kernel;
        _since = Stopwatch.GetTimestamp();
    }

    /// <summary>Waits for the device and books the time since the last launch to that launch's kernel.</summary>
    internal void Close(Accelerator acc)
    {
        acc.Synchronize();
        if (_current is null) return;
        double ms = Stopwatch.GetElapsedTime(_since).TotalMilliseconds;
        _entries.TryGetValue(_current, out var e);
        _entries[_current] = (e.Calls + 1, e.Ms + ms);
        _current = null;
    }

    /// <summary>A table of the entries (kernel, calls, ms, share), the most expensive first; at most <paramref name="top"/> rows.</summary>
    public string Format(int top = 30)
    {
        double total = TotalMs;
        var s = new System.Text.StringBuilder();
        s.AppendLine("| kernel | calls | ms | share |");
        s.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var (kernel, calls, ms) in Entries.Take(top))
            s.AppendLine(FormattableString.Invariant($"| {kernel} | {calls} | {ms:F3} | {100 * ms / Math.Max(total, 1e-9):F1}% |"));
        s.AppendLine(FormattableString.Invariant($"| total | {_entries.Values.Sum(e => e.Calls)} | {total:F3} | 100% |"));
        return s.ToString();
    }
}
