// Where a CPU workload's time goes, primitive by primitive (the CPU's counterpart of the GPU's
// KernelProfile): while a CpuProfile is attached to the CpuBackend, each primitive call the driving
// thread makes is timed. A call made inside another (a convolution's GEMM, its im2col) is booked
// under "outer > inner", and the outer one keeps only its own (exclusive) time, so the rows add up to
// the total and a convolution's layout work shows beside its GEMMs. Entries are keyed by primitive
// and shape, so each layer of a model shows apart. Profiling costs a timestamp per call; the CPU
// backend runs synchronously, so the times are the calls' wall times (a busy host's waits included:
// read shares, and compare totals only with runs under the same load). With the thread-CPU clock
// (Linux), each call is timed by the CPU time of the driving thread instead: on one thread
// (CpuParallel/CpuGemm MaxThreads = 1) that is the work itself, whatever else runs on the host.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NativeCnn.Backends.Cpu;

/// <summary>Per-primitive wall time of the CPU backend's calls while attached (CpuBackend.Profile).</summary>
internal sealed class CpuProfile
{
    private readonly Dictionary<string, (int Calls, double Ms)> _entries = new();
    private readonly Stack<(string Name, double StartMs, double ChildMs)> _open = new();
    private readonly int _thread = Environment.CurrentManagedThreadId;
    private readonly bool _threadCpu;

    /// <param name="threadCpuClock">Time calls by the driving thread's CPU time (Linux only) rather
    /// than by wall time.</param>
    public CpuProfile(bool threadCpuClock = false)
    {
        if (threadCpuClock && !OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("CpuProfile: the thread-CPU clock needs Linux (CLOCK_THREAD_CPUTIME_ID)");
        _threadCpu = threadCpuClock;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern unsafe int ClockGetTime(int clock, TimeSpec* time);

    /// <summary>CPU milliseconds of the calling thread (CLOCK_THREAD_CPUTIME_ID).</summary>
    internal static unsafe double ThreadCpuMs()
    {
        TimeSpec t;
        return ClockGetTime(3, &t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds * 1e-6 : double.NaN;
    }

    private double NowMs() => _threadCpu ? ThreadCpuMs() : Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;

    /// <summary>Accumulated (primitive, calls, exclusive milliseconds), the most expensive first.</summary>
    public IReadOnlyList<(string Op, int Calls, double Ms)> Entries =>
        _entries.Select(e => (e.Key, e.Value.Calls, e.Value.Ms)).OrderByDescending(e => e.Ms).ToList();

    /// <summary>Sum of the entries' exclusive times: the time spent inside the backend.</summary>
    public double TotalMs => _entries.Values.Sum(e => e.Ms);

    /// <summary>Forgets every entry (e.g. after warm-up steps).</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Opens a call's interval; false (and nothing booked) on a thread other than the one
    /// that created the profile, e.g. a helper of a parallel loop.</summary>
    internal bool Begin(string name)
    {
        if (Environment.CurrentManagedThreadId != _thread) return false;
        string key = _open.Count > 0 ? _open.Peek().Name + " > " + name : name;
        _open.Push((key, NowMs(), 0));
        return true;
    }

    /// <summary>Closes the innermost open call: books its time less its inner calls' time.</summary>
    internal void End()
    {
        var (name, start, childMs) = _open.Pop();
        double ms = NowMs() - start;
        _entries.TryGetValue(name, out var e);
        _entries[name] = (e.Calls + 1, e.Ms + Math.Max(0, ms - childMs));
        if (_open.Count > 0)
        {
            var parent = _open.Pop();
            _open.Push((parent.Name, parent.StartMs, parent.ChildMs + ms));
        }
    }

    /// <summary>A markdown table (primitive, calls, ms, share), the most expensive first; at most
    /// <paramref name="top"/> rows, the rest summed in one row. With <paramref name="perSteps"/> above
    /// 1, calls and ms are divided by it (per step of a profiled loop).</summary>
    public string Format(int top = 30, int perSteps = 1)
    {
        double total = TotalMs, div = Math.Max(1, perSteps);
        var entries = Entries;
        var s = new System.Text.StringBuilder();
        string unit = perSteps > 1 ? " per step" : "";
        s.AppendLine($"| primitive | calls{unit} | ms{unit} | share |");
        s.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var (op, calls, ms) in entries.Take(top))
            s.AppendLine(FormattableString.Invariant($"| {op} | {calls / div:0.##} | {ms / div:F3} | {100 * ms / Math.Max(total, 1e-9):F1}% |"));
        if (entries.Count > top)
        {
            var rest = entries.Skip(top).ToList();
            double restMs = rest.Sum(e => e.Ms);
            s.AppendLine(FormattableString.Invariant($"| ({rest.Count} more) | {rest.Sum(e => e.Calls) / div:0.##} | {restMs / div:F3} | {100 * restMs / Math.Max(total, 1e-9):F1}% |"));
        }
        s.AppendLine(FormattableString.Invariant($"| total | {_entries.Values.Sum(e => e.Calls) / div:0.##} | {total / div:F3} | 100% |"));
        return s.ToString();
    }
}

internal sealed partial class CpuBackend
{
    /// <summary>While set, the driving thread's primitive calls are timed into this profile
    /// (CpuProfile.cs); null, nothing is timed. Set and cleared by the thread that runs the work.</summary>
    public CpuProfile? Profile { get; set; }

    /// <summary>Times the enclosing call while a profile is attached; the name is built only then.</summary>
    internal ProfileScope Time<TState>(TState state, Func<TState, string> name)
    {
        var p = Profile;
        return p is not null && p.Begin(name(state)) ? new ProfileScope(p) : default;
    }

    /// <summary>Times the enclosing call under a fixed name while a profile is attached.</summary>
    internal ProfileScope Time(string name)
    {
        var p = Profile;
        return p is not null && p.Begin(name) ? new ProfileScope(p) : default;
    }

    /// <summary>Closes a profiled interval on Dispose; a no-op when nothing was opened.</summary>
    internal readonly struct ProfileScope : IDisposable
    {
        private readonly CpuProfile? _profile;
        public ProfileScope(CpuProfile profile) => _profile = profile;
        public void Dispose() => _profile?.End();
    }
}
