// The CPU backend's parallel loop: [0, n) is cut into chunks that the calling thread and the backend's
// helper threads (CpuWorkers.cs) claim one at a time through an atomic counter (dynamic partitioning, not one fixed share
// per core). The caller starts working at once and never waits for a helper that has not started:
// on a busy host a queued helper may not run for milliseconds, and then the caller simply does every
// chunk itself; it waits only for chunks a helper has already claimed, at most one per helper.
// Guided loops (ForGuided) cut their chunks smaller as the loop goes, so the last piece a core
// finishes is small: with equal chunks the cores end up to one whole chunk apart (conv3x3_256to256's
// eight images: an eighth of a pass), and one waits. Their chunk boundaries depend only on n, the
// grain and the thread count, never on timing, so results do not vary from run to run.
// When the caller has done every chunk it could claim, it waits for the helpers' last ones by polling
// for up to JoinSpinTicks (200 us by default) before it sleeps: a sleeping thread's wake-up costs tens
// of microseconds in a VM, and a train step joins some sixty loops. While a CpuProfile is attached, the
// caller's wait is booked as "wait_for_helpers" under the loop's primitive.
// Nested parallelism runs inline: a loop or GEMM started inside another loop's chunk (a convolution
// that runs its images side by side, one GEMM each) stays on that chunk's thread, so the outer split
// is the only one and the cores are never oversubscribed.
// Must hold: every index in [0, n) is passed to body exactly once; an exception from any chunk is
// rethrown on the caller after every claimed chunk has finished.
using System.Diagnostics;

namespace NativeCnn.Backends.Cpu;

internal static class CpuParallel
{
    /// <summary>Chunks per core: enough that a core slowed by a neighbour leaves its later chunks to
    /// the others, few enough that claiming stays negligible.</summary>
    private const int ChunksPerCore = 4;

    /// <summary>Most threads a loop uses, the caller included (benchmarks set 1 to measure a single core).</summary>
    internal static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>How long the caller polls for the helpers' last chunks before it sleeps
    /// (NATIVECNN_CPU_JOIN_SPIN_US; 0: sleep at once).</summary>
    internal static long JoinSpinTicks { get; set; } = Stopwatch.Frequency * EnvMicroseconds("NATIVECNN_CPU_JOIN_SPIN_US", 200) / 1_000_000;

    /// <summary>Whether ForGuided shrinks its chunks (NATIVECNN_CPU_GUIDED=0: equal chunks as For's, not
    /// on the grain).</summary>
    internal static bool Guided { get; set; } = Environment.GetEnvironmentVariable("NATIVECNN_CPU_GUIDED") is not "0";

    private static long EnvMicroseconds(string name, long fallback) =>
        long.TryParse(Environment.GetEnvironmentVariable(name), out long us) && us >= 0 ? Math.Min(us, 1_000_000) : fallback;

    [ThreadStatic] private static bool t_inside;

    /// <summary>True on a thread running a chunk of a parallel loop (the caller's share included):
    /// work started there runs on that thread alone.</summary>
    internal static bool Inside => t_inside;

    /// <summary>Threads that work started on this thread may use: 1 inside a parallel loop's chunk.</summary>
    internal static int ThreadsHere => t_inside ? 1 : MaxThreads;

    /// <summary>Runs body(start, end) over chunks of [0, n) of at least <paramref name="minChunk"/>
    /// elements; inline when there is only one chunk or one thread, or inside another loop's chunk.</summary>
    public static void For(int n, int minChunk, Action<int, int> body)
    {
        if (n <= 0) return;
        int threads = ThreadsHere;
        int chunks = Math.Min(threads * ChunksPerCore, Math.Max(1, n / Math.Max(1, minChunk)));
        if (chunks <= 1 || threads <= 1) { body(0, n); return; }
        new Loop(n, chunks, null, body).Run(Math.Min(threads, chunks) - 1);
    }

    /// <summary>As For, with chunks that shrink as the loop goes (guided self-scheduling): each is about
    /// 1/(2 x threads) of what is left, down to 1/(32 x threads) of n, and every boundary but n is a
    /// multiple of <paramref name="grain"/>. For loops of unequal-sized or few costly indices (images,
    /// panels of a layer) where an equal split leaves one core waiting at the end.</summary>
    public static void ForGuided(int n, int grain, Action<int, int> body)
    {
        if (n <= 0) return;
        int threads = ThreadsHere;
        grain = Math.Max(1, grain);
        if (threads <= 1 || n <= grain) { body(0, n); return; }
        if (!Guided) { For(n, grain, body); return; }
        int[] bounds = GuidedBounds(n, grain, threads);
        int chunks = bounds.Length - 1;
        if (chunks <= 1) { body(0, n); return; }
        new Loop(n, chunks, bounds, body).Run(Math.Min(threads, chunks) - 1);
    }

    /// <summary>ForGuided's chunk boundaries: 0, then each chunk about (n - start) / (2 x threads)
    /// rounded up to the grain, at least n / (32 x threads), the last one ending at n.</summary>
    internal static int[] GuidedBounds(int n, int grain, int threads)
    {
        // in long: n may be near int.MaxValue
        long least = Math.Max(grain, RoundUp(((long)n + 32L * threads - 1) / (32L * threads), grain));
        var bounds = new List<int>(4 * threads + 8) { 0 };
        for (long start = 0; start < n;)
        {
            long size = Math.Max(least, RoundUp((n - start + 2L * threads - 1) / (2L * threads), grain));
            start = Math.Min(n, start + size);
            bounds.Add((int)start);
        }
        return bounds.ToArray();
    }

    private static long RoundUp(long value, int grain) => (value + grain - 1) / grain * grain;

    private sealed class Loop : ICpuJob
    {
        private readonly int _n, _chunks;
        private readonly int[]? _bounds;   // chunk c is [_bounds[c], _bounds[c + 1]); null: equal chunks
        private readonly Action<int, int> _body;
        private int _next, _done;
        private Exception? _error;

        public Loop(int n, int chunks, int[]? bounds, Action<int, int> body)
        {
            _n = n; _chunks = chunks; _bounds = bounds; _body = body;
        }

        public void Run(int helpers)
        {
            CpuWorkers.Post(this, helpers);
            Work();
            if (Volatile.Read(ref _done) < _chunks)
            {
                using var waiting = CpuBackend.Instance.Time("wait_for_helpers");
                // a helper is finishing a claimed chunk: poll a while (chunks are short), then sleep
                long until = Stopwatch.GetTimestamp() + JoinSpinTicks;
                var spin = new SpinWait();
                while (Volatile.Read(ref _done) < _chunks)
                {
                    if (!spin.NextSpinWillYield) spin.SpinOnce();
                    else if (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
                    else break;
                }
                if (Volatile.Read(ref _done) < _chunks)
                    lock (this)
                        while (_done < _chunks) Monitor.Wait(this);
            }
            if (_error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_error);
        }

        public void Work()
        {
            int c;
            while ((c = Interlocked.Increment(ref _next) - 1) < _chunks)
            {
                int start = _bounds is null ? (int)((long)c * _n / _chunks) : _bounds[c];
                int end = _bounds is null ? (int)((long)(c + 1) * _n / _chunks) : _bounds[c + 1];
                bool outer = t_inside;
                t_inside = true;
                try { if (start < end) _body(start, end); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
                finally { t_inside = outer; }
                if (Interlocked.Increment(ref _done) == _chunks)
                    lock (this) Monitor.PulseAll(this);
            }
        }
    }
}
