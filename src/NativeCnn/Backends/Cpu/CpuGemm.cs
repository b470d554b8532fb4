// Packed, register-blocked SGEMM for the CPU backend (the Goto/BLIS scheme): C is cut into blocks,
// each block packs op(B) into kc x nc panels that stay in L2 and op(A) one MR-row panel at a time
// (stays in L1), and a micro-kernel keeps an MR x NR tile of C in vector registers over kc steps.
// Invariants: packed panels are zero-padded to whole MR/NR tiles, so the kernels never branch on
// edges; partial tiles go through a scratch tile and a scalar merge (but for the 256-bit path's
// last panel of 1-4 rows, run in place by a narrower kernel). beta == 0 never reads C (it may
// hold NaN garbage). Pack buffers are per thread and reused: no allocation per call after warm-up.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

/// <summary>Which micro-kernel runs. The best one the hardware accelerates is the default; tests
/// pick the others explicitly so every path is checked on one machine.</summary>
internal enum GemmKernel { Vector512, Vector256, Vector128 }

internal static unsafe partial class CpuGemm
{
    /// <summary>The widest micro-kernel this hardware runs (tests run it and every narrower one).</summary>
    public static readonly GemmKernel Best =
        CpuInfo.Supports(CpuPath.Avx512) ? GemmKernel.Vector512
        : CpuInfo.Supports(CpuPath.Avx2) ? GemmKernel.Vector256
        : GemmKernel.Vector128;

    /// <summary>The micro-kernel of a CPU path (CpuInfo.Path: detected, or forced for benchmarks).</summary>
    public static GemmKernel ForPath(CpuPath path) => path switch
    {
        CpuPath.Avx512 => GemmKernel.Vector512,
        CpuPath.Avx2 => GemmKernel.Vector256,
        _ => GemmKernel.Vector128,
    };

    /// <summary>Depth of one packed block: an 8 x 256 A panel is 8 KiB, a quarter of the smallest L1d
    /// of the CPUs in view (32 KiB), so it stays in L1 beside the B panel streaming through.</summary>
    internal const int KC = 256;

    /// <summary>Most columns of one packed B block (a multiple of every NR): the kc x nc block takes
    /// half of this CPU's per-core L2 (512 at 1 MiB: Zen 4/5; 128 at 256 KiB: older AVX2 cores), so it
    /// stays in L2 while every A panel sweeps it.</summary>
    internal static readonly int NC = BlockColumns(CpuInfo.Current.L2Bytes);

    internal static int BlockColumns(long l2Bytes) =>
        (int)Math.Clamp(l2Bytes / 2 / (KC * sizeof(float)) / 32 * 32, 128, 1024);

    /// <summary>Below this many flops the whole call runs on the calling thread: a fork costs
    /// microseconds, as much as the work itself.</summary>
    internal const double ParallelFlops = 1 << 23;

    /// <summary>Most threads one call uses (benchmarks set 1 to measure a single core).</summary>
    internal static int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Whether the 256-bit path's last panel of 1-4 rows (M not a multiple of 6) runs a 4- or 2-row
    /// kernel in place (true) or a whole 6-row tile through the scratch tile; here and in the direct
    /// convolution (CpuConv.Direct.cs). Settable by tests and benchmarks; NATIVECNN_REMAINDER_ROWS=0 turns it off.</summary>
    internal static bool RemainderRowKernels { get; set; } =
        Environment.GetEnvironmentVariable("NATIVECNN_REMAINDER_ROWS") is not "0";

    /// <summary>(MR, NR): rows of A and columns of B that one micro-kernel call covers.</summary>
    internal static (int MR, int NR) TileOf(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Vector512 => (8, 32),
        GemmKernel.Vector256 => (6, 16),
        _ => (6, 8),
    };

    /// <summary>One GEMM call's arguments, passed by reference to the per-block workers.</summary>
    private readonly struct Problem
    {
        public readonly GemmKernel Kernel;
        public readonly int MR, NR;
        public readonly bool TransA, TransB;
        public readonly int M, N, K, Lda, Ldb, Ldc;
        public readonly float Alpha, Beta;
        public readonly float[] A, B, C;
        public readonly int AOffset, BOffset, COffset, StrideA, StrideB, StrideC;
        public readonly GemmRowSource? BSource;

        public Problem(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha,
                       float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb,
                       float beta, float[] c, int cOffset, int ldc, int strideA, int strideB, int strideC,
                       GemmRowSource? bSource = null)
        {
            Kernel = kernel;
            (MR, NR) = TileOf(kernel);
            TransA = transA; TransB = transB;
            M = m; N = n; K = k; Lda = lda; Ldb = ldb; Ldc = ldc;
            Alpha = alpha; Beta = beta;
            A = a; B = b; C = c;
            AOffset = aOffset; BOffset = bOffset; COffset = cOffset;
            StrideA = strideA; StrideB = strideB; StrideC = strideC;
            BSource = bSource;
        }
    }

    /// <summary>C = alpha * op(A) * op(B) + beta * C for each of <paramref name="batch"/> matrices
    /// (row-major, element offsets and leading dimensions). Arguments are trusted: the backend
    /// adapter checks them against the buffers first. C must not overlap A or B.</summary>
    public static void Run(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha,
                           float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb,
                           float beta, float[] c, int cOffset, int ldc,
                           int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0)
        => Run(kernel, transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc,
               batch, strideA, strideB, strideC, bSource: null);

    /// <summary>As Run, with B given by a row source (CpuGemm.ImplicitPack.cs) instead of a stored
    /// matrix when <paramref name="bSource"/> is set (then b is unused and batch must be 1).</summary>
    public static void Run(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha,
                           float[] a, int aOffset, int lda, float[]? b, int bOffset, int ldb,
                           float beta, float[] c, int cOffset, int ldc,
                           int batch, int strideA, int strideB, int strideC, GemmRowSource? bSource)
    {
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0 || alpha == 0)
        {
            // BLAS semantics: op(A) op(B) contributes nothing and A, B are not read.
            for (int bt = 0; bt < batch; bt++) ScaleC(c, cOffset + bt * strideC, ldc, m, n, beta);
            return;
        }

        var p = new Problem(kernel, transA, transB, m, n, k, alpha, a, aOffset, lda, b!, bOffset, ldb,
                            beta, c, cOffset, ldc, strideA, strideB, strideC, bSource);
        int mPanels = (m + p.MR - 1) / p.MR, nPanels = (n + p.NR - 1) / p.NR;
        int panelsPerBlock = NC / p.NR;
        int nItems = (nPanels + panelsPerBlock - 1) / panelsPerBlock, mItems = 1;

        double flops = 2.0 * m * n * k * batch;
        // inside a parallel loop's chunk (images side by side) the GEMM stays on its thread
        int threads = flops < ParallelFlops || CpuParallel.Inside ? 1 : Math.Max(1, MaxThreads);
        if (threads > 1) (mItems, nItems) = Split(m, n, k, batch, mPanels, nPanels, nItems, threads);

        int items = batch * mItems * nItems;
        if (threads > 1 && items < threads && batch == 1)
        {
            int parts = DepthParts(m, n, k, threads);
            if (parts > 1) { RunSplitDepth(in p, parts); return; }
        }
        if (threads == 1 || items == 1)
        {
            for (int it = 0; it < items; it++) RunItem(in p, it, mItems, nItems, mPanels, nPanels);
            return;
        }
        new SharedRun(p, items, mItems, nItems, mPanels, nPanels).Run(threads - 1);
    }

    /// <summary>One call's blocks shared between the calling thread and the backend's helper threads (CpuWorkers), each
    /// claiming the next unclaimed block. Unlike a fork-join loop, the caller never waits for a
    /// helper that has not started: on a busy machine a queued helper may not run for many
    /// milliseconds, and then the caller simply does every block itself. It waits only for blocks
    /// a helper has already claimed.</summary>
    private sealed class SharedRun : ICpuJob
    {
        private readonly Problem _p;
        private readonly int _items, _mItems, _nItems, _mPanels, _nPanels;
        private int _next, _done;
        private Exception? _error;

        public SharedRun(in Problem p, int items, int mItems, int nItems, int mPanels, int nPanels)
        {
            _p = p;
            _items = items; _mItems = mItems; _nItems = nItems; _mPanels = mPanels; _nPanels = nPanels;
        }

        public void Run(int helpers)
        {
            CpuWorkers.Post(this, Math.Min(helpers, _items - 1));
            Work();
            if (Volatile.Read(ref _done) < _items)
            {
                lock (this)
                    while (_done < _items) Monitor.Wait(this);
            }
            if (_error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_error);
        }

        public void Work()
        {
            int item;
            while ((item = Interlocked.Increment(ref _next) - 1) < _items)
            {
                try { RunItem(in _p, item, _mItems, _nItems, _mPanels, _nPanels); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
                if (Interlocked.Increment(ref _done) == _items)
                    lock (this) Monitor.PulseAll(this);
            }
        }
    }

    /// <summary>Depth parts for a product too small in m and n to give each thread a block (the
    /// weight gradient of a first conv layer: 32 x 9 outputs over k = 50,176): each part multiplies
    /// a slice of the depth into its own small result, and the parts are summed. 1 where the result
    /// is too large to keep one copy per part or the depth too short to share.</summary>
    internal static int DepthParts(int m, int n, int k, int threads)
    {
        if ((long)m * n > SplitDepthMaxOutputs || k < 2 * KC) return 1;
        return Math.Min(ItemsPerThread * threads, k / KC);
    }

    /// <summary>Most outputs (m * n) for which the depth is split: one partial result per part
    /// (up to 8 x 256 KiB) must stay cheap to sum next to the multiply.</summary>
    internal const int SplitDepthMaxOutputs = 1 << 16;

    /// <summary>C = alpha * sum over depth parts of op(A)[:, part] op(B)[part, :] + beta * C: parts
    /// are claimed dynamically (CpuParallel), each into its own slice of a pooled buffer, then the
    /// caller sums them in a fixed order (the result does not depend on which thread ran what).</summary>
    private static void RunSplitDepth(in Problem p, int parts)
    {
        int m = p.M, n = p.N, k = p.K, mn = m * n;
        var partial = System.Buffers.ArrayPool<float>.Shared.Rent(parts * mn);
        var whole = p;
        CpuParallel.For(parts, 1, (start, end) =>
        {
            var buffers = PackBuffers.ForThisThread();
            fixed (float* aBase = whole.A, bBase = whole.B, pBase = partial)
            {
                for (int part = start; part < end; part++)
                {
                    // Whole multiple-of-8 slices (the packing transposes) but for the last.
                    int k0 = (int)((long)k * part / parts) & ~7;
                    int k1 = part == parts - 1 ? k : (int)((long)k * (part + 1) / parts) & ~7;
                    RunBlock(in whole, aBase + whole.AOffset, bBase + whole.BOffset, pBase + (long)part * mn, n, 0f,
                             k0, k1, 0, m, 0, n, buffers);
                }
            }
        });
        for (int i = 0; i < m; i++)
        {
            var row = p.C.AsSpan(p.COffset + i * p.Ldc, n);
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int part = 0; part < parts; part++) sum += partial[part * mn + i * n + j];
                row[j] = p.Beta == 0 ? sum : sum + p.Beta * row[j];
            }
        }
        System.Buffers.ArrayPool<float>.Shared.Return(partial);
    }

    /// <summary>Blocks per thread the split aims for: with blocks claimed dynamically, the thread
    /// that finishes last waits at most one block, so 4 per thread bounds the wait at an eighth of the
    /// work on two cores (2 per thread, as before, left up to a quarter: 7 blocks shared 4 + 3).</summary>
    internal const int ItemsPerThread = 4;

    /// <summary>How many row and column blocks to cut each matrix into. Blocks are claimed
    /// dynamically (SharedRun), so several blocks per thread let a thread that other work slows
    /// leave its later blocks to the others and keep the last wait short. But each extra row block
    /// re-packs B (k x n floats) and each extra column block re-packs A (m x k), and that work is
    /// wasted when the helpers never arrive (a busy machine): so split the way that re-packs less,
    /// and only while one split's re-packing costs under 15% of the multiply (to get a block per
    /// thread) or under 3% (beyond that). Packing costs about 0.5 cycle per float, as much as 32
    /// flops of kernel time (measured).</summary>
    internal static (int MItems, int NItems) Split(int m, int n, int k, int batch, int mPanels, int nPanels, int nItems, int threads)
    {
        int mItems = 1;
        double work = 2.0 * m * n * k;
        while (batch * mItems * nItems < ItemsPerThread * threads)
        {
            bool canM = mPanels / (mItems + 1) >= 4, canN = nPanels / (nItems + 1) >= 1;
            if (!canM && !canN) break;
            bool splitM = canM && (!canN || (long)k * n <= (long)m * k);
            double cost = 32.0 * (splitM ? (double)k * n : (double)m * k);
            if (cost > work * (batch * mItems * nItems < threads ? 0.15 : 0.03)) break;
            if (splitM) mItems++; else nItems++;
        }
        return (mItems, nItems);
    }

    /// <summary>Block <paramref name="item"/> of the (batch, row block, column block) grid; rows and
    /// columns are shared out in whole panels, as evenly as they divide.</summary>
    private static void RunItem(in Problem p, int item, int mItems, int nItems, int mPanels, int nPanels)
    {
        int perBatch = mItems * nItems;
        int bt = item / perBatch, rest = item % perBatch;
        int mi = rest / nItems, ni = rest % nItems;
        int i0 = (int)((long)mi * mPanels / mItems) * p.MR;
        int i1 = Math.Min(p.M, (int)((long)(mi + 1) * mPanels / mItems) * p.MR);
        int j0 = (int)((long)ni * nPanels / nItems) * p.NR;
        int j1 = Math.Min(p.N, (int)((long)(ni + 1) * nPanels / nItems) * p.NR);
        if (i0 >= i1 || j0 >= j1) return;

        var buffers = PackBuffers.ForThisThread();
        fixed (float* aBase = p.A, bBase = p.B, cBase = p.C)
        {
            float* a = aBase + p.AOffset + (long)bt * p.StrideA;
            float* b = bBase + p.BOffset + (long)bt * p.StrideB;
            float* c = cBase + p.COffset + (long)bt * p.StrideC;
            RunBlock(in p, a, b, c, p.Ldc, p.Beta, 0, p.K, i0, i1, j0, j1, buffers);
        }
    }

    /// <summary>c[i0..i1, j0..j1] (leading dimension ldc) = alpha * op(A)[i, k0..k1] op(B)[k0..k1, j]
    /// + beta * c, for one matrix: loop over nc column blocks and kc depth blocks, pack, then sweep
    /// every B panel with each A panel (the A panel stays in L1, the B block in L2). Depth indices
    /// are absolute (packing reads op(A) and op(B) at pc), so a depth part needs no shifted operands.</summary>
    private static void RunBlock(in Problem p, float* a, float* b, float* c, int ldc, float beta0, int k0, int k1,
                                 int i0, int i1, int j0, int j1, PackBuffers buffers)
    {
        int mr = p.MR, nr = p.NR;
        float* bPack = buffers.B, aPack = buffers.A, scratch = buffers.Scratch;
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            int panels = (nc + nr - 1) / nr;
            // Equal depth blocks of at most KC (a multiple of 8 for the packing transposes): k = 257
            // runs as 2 x 136, not 256 + 1, since a shallow block pays the C update for little work.
            int depthBlocks = (k1 - k0 + KC - 1) / KC;
            int kcStep = Math.Min(KC, ((k1 - k0 + depthBlocks - 1) / depthBlocks + 7) & ~7);
            for (int pc = k0; pc < k1; pc += kcStep)
            {
                int kc = Math.Min(kcStep, k1 - pc);
                // The first depth block applies beta; the later ones accumulate onto it.
                float beta = pc == k0 ? beta0 : 1f;
                if (p.BSource is { } source) PackBFromSource(source, p.TransB, jc, nc, pc, kc, nr, bPack);
                else PackB(p.TransB, b, p.Ldb, jc, nc, pc, kc, nr, bPack);
                for (int i = i0; i < i1; i += mr)
                {
                    int rows = Math.Min(mr, i1 - i);
                    PackA(p.TransA, a, p.Lda, i, rows, pc, kc, mr, aPack);
                    float* cRow = c + (long)i * ldc + jc;
                    for (int q = 0; q < panels; q++)
                    {
                        int cols = Math.Min(nr, nc - q * nr);
                        float* bPanel = bPack + (long)q * kc * nr;
                        float* cTile = cRow + q * nr;
                        if (rows == mr && cols == nr)
                            Kernel(p.Kernel, kc, aPack, bPanel, cTile, ldc, p.Alpha, beta);
                        else if (cols == nr && rows <= 4 && p.Kernel == GemmKernel.Vector256 && RemainderRowKernels)
                            KernelRows6x16(rows, kc, aPack, bPanel, cTile, ldc, p.Alpha, beta);
                        else
                        {
                            // Edge tile: compute the whole padded tile aside, merge the valid part.
                            Kernel(p.Kernel, kc, aPack, bPanel, scratch, nr, 1f, 0f);
                            MergeEdge(scratch, nr, cTile, ldc, rows, cols, p.Alpha, beta);
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(GemmKernel kernel, int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        switch (kernel)
        {
            case GemmKernel.Vector512: Kernel8x32(kc, a, b, c, ldc, alpha, beta); break;
            case GemmKernel.Vector256: Kernel6x16(kc, a, b, c, ldc, alpha, beta); break;
            default: Kernel6x8(kc, a, b, c, ldc, alpha, beta); break;
        }
    }

    /// <summary>c[rows x cols] = alpha * tile + beta * c (c not read when beta == 0).</summary>
    private static void MergeEdge(float* tile, int ldt, float* c, int ldc, int rows, int cols, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * ldt;
            float* d = c + (long)r * ldc;
            if (beta == 0) for (int j = 0; j < cols; j++) d[j] = alpha * t[j];
            else for (int j = 0; j < cols; j++) d[j] = alpha * t[j] + beta * d[j];
        }
    }

    /// <summary>C = beta * C over m x n (zeros when beta == 0, without reading C).</summary>
    private static void ScaleC(float[] c, int offset, int ldc, int m, int n, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.AsSpan(offset + i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>One thread's pack buffers: a kc x NC block of B, a kc x MR panel of A and an MR x NR
    /// scratch tile, each 64-byte aligned, in one pinned array that lives as long as the thread.</summary>
    private sealed class PackBuffers
    {
        [ThreadStatic] private static PackBuffers? t_buffers;

        private const int MaxMR = 8, MaxNR = 32;
        private readonly float[] _memory;
        public readonly float* B, A, Scratch;

        private PackBuffers()
        {
            // A gets 8 floats of slack: packing mr = 6 or 12 stores 8 wide and spills past the last step.
            int bSize = KC * NC, aSize = KC * MaxMR + 8, sSize = MaxMR * MaxNR;
            _memory = GC.AllocateUninitializedArray<float>(bSize + aSize + sSize + 16, pinned: true);
            float* start = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
            float* aligned = (float*)(((nint)start + 63) & ~(nint)63);
            B = aligned;
            A = B + bSize;
            Scratch = A + aSize;
        }

        public static PackBuffers ForThisThread() => t_buffers ??= new PackBuffers();
    }
}
