// The CPU backend's helper threads: one dedicated background thread per extra core, which run the
// helper share of CpuParallel's loops and CpuGemm's blocks. After a job a worker keeps polling for
// the next one for a short while (SpinWindow, 2 ms by default) before it sleeps, as OpenMP's threads
// do (and so oneDNN's): a train step starts some sixty parallel regions, and in a VM a sleeping
// vCPU halts, so every wake-up waits for the host to schedule it again, which on a busy host takes
// from tens of microseconds to milliseconds (measured: the mnist step's two-thread time ranged
// 39-83 ms from step to step with the .NET thread pool's sleeping workers on the Zen 4 machine).
// Must hold: posting never blocks and never waits for a worker; a job's Work may run on any number
// of workers, late or never (the poster does every unclaimed part itself, CpuParallel.cs), so a
// descheduled worker can only slow a loop, not stall it; workers never throw (jobs keep their own
// errors). NATIVECNN_CPU_SPIN_US sets the window (0: sleep at once, as the thread pool did).
using System.Collections.Concurrent;
using System.Diagnostics;

namespace NativeCnn.Backends.Cpu;

/// <summary>A piece of parallel work that helpers join by calling Work (it claims parts until none
/// are left, and records its own exceptions).</summary>
internal interface ICpuJob
{
    void Work();
}

internal static class CpuWorkers
{
    /// <summary>How long an idle worker polls for the next job before it sleeps.</summary>
    internal static readonly long SpinTicks = Stopwatch.Frequency * SpinMicroseconds() / 1_000_000;

    private static readonly ConcurrentQueue<ICpuJob> s_queue = new();
    private static readonly SemaphoreSlim s_wake = new(0);
    private static readonly object s_start = new();
    private static int s_sleeping, s_workers;

    private static long SpinMicroseconds()
    {
        var text = Environment.GetEnvironmentVariable("NATIVECNN_CPU_SPIN_US");
        return long.TryParse(text, out long us) && us >= 0 ? Math.Min(us, 1_000_000) : 2_000;
    }

    /// <summary>Workers started so far (one per extra core a loop has asked for).</summary>
    internal static int Count => Volatile.Read(ref s_workers);

    /// <summary>Offers <paramref name="job"/> to <paramref name="helpers"/> workers: wakes sleeping ones,
    /// returns at once.</summary>
    public static void Post(ICpuJob job, int helpers)
    {
        if (helpers <= 0) return;
        if (Volatile.Read(ref s_workers) < helpers) Start(helpers);
        for (int i = 0; i < helpers; i++) s_queue.Enqueue(job);
        // a worker counts itself as sleeping before it looks at the queue a last time, so either it
        // sees this job or this sees it sleeping
        int sleeping = Volatile.Read(ref s_sleeping);
        if (sleeping > 0) s_wake.Release(Math.Min(sleeping, helpers));
    }

    private static void Start(int wanted)
    {
        lock (s_start)
        {
            for (int i = s_workers; i < Math.Min(wanted, 256); i++)
            {
                var thread = new Thread(WorkerLoop) { IsBackground = true, Name = $"NativeCnn CPU worker {i + 1}" };
                thread.Start();
                Volatile.Write(ref s_workers, i + 1);
            }
        }
    }

    private static void WorkerLoop()
    {
        long idleSince = Stopwatch.GetTimestamp();
        while (true)
        {
            if (s_queue.TryDequeue(out var job))
            {
                try { job.Work(); }
                catch { /* jobs record their own errors; a worker must not die */ }
                idleSince = Stopwatch.GetTimestamp();
                continue;
            }
            if (Stopwatch.GetTimestamp() - idleSince < SpinTicks)
            {
                Thread.SpinWait(20);
                continue;
            }
            Interlocked.Increment(ref s_sleeping);
            if (s_queue.IsEmpty) s_wake.Wait();
            Interlocked.Decrement(ref s_sleeping);
            idleSince = Stopwatch.GetTimestamp();
        }
    }
}
