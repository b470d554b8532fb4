// The CPU backend's parallel loop: [0, n) is cut into chunks that the calling thread and the backend's
// helper threads (CpuWorkers.cs) claim one at a time through an atomic counter (dynamic partitioning, not one fixed share
// per core). The caller starts working at once and never waits for a helper that has not started:
// on a busy host a queued helper may not run for milliseconds, and then the caller simply does every
// chunk itself; it waits only for chunks a helper has already claimed, at most one per helper.
// Nested parallelism runs inline: a loop or GEMM started inside another loop's chunk (a convolution
// that runs its images side by side, one GEMM each) stays on that chunk's thread, so the outer split
// is the only one and the cores are never oversubscribed.
// Must hold: every index in [0, n) is passed to body exactly once; an exception from any chunk is
// rethrown on the caller after every claimed chunk has finished.
namespace NativeCnn.Backends.Cpu;

internal static class CpuParallel
{
    /// <summary>Chunks per core: enough that a core slowed by a neighbour leaves its later chunks to
    /// the others, few enough that claiming stays negligible.</summary>
    private const int ChunksPerCore = 4;

    /// <summary>Most threads a loop uses, the caller included (benchmarks set 1 to measure a single core).</summary>
    internal static int MaxThreads { get; set; } = Environment.ProcessorCount;

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
        new Loop(n, chunks, body).Run(Math.Min(threads, chunks) - 1);
    }

    private sealed class Loop : ICpuJob
    {
        private readonly int _n, _chunks;
        private readonly Action<int, int> _body;
        private int _next, _done;
        private Exception? _error;

        public Loop(int n, int chunks, Action<int, int> body)
        {
            _n = n; _chunks = chunks; _body = body;
        }

        public void Run(int helpers)
        {
            CpuWorkers.Post(this, helpers);
            Work();
            if (Volatile.Read(ref _done) < _chunks)
            {
                // a helper is finishing a claimed chunk: spin a little (chunks are short), then sleep
                var spin = new SpinWait();
                while (Volatile.Read(ref _done) < _chunks && !spin.NextSpinWillYield) spin.SpinOnce();
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
                int start = (int)((long)c * _n / _chunks), end = (int)((long)(c + 1) * _n / _chunks);
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
