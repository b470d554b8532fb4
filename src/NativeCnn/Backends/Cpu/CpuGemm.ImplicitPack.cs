// Implicit operands for the packed SGEMM: a B matrix that is never stored, only described row by row
// (GemmRowSource.FillRow), packed straight into the GEMM's NR-column panels b[p * NR + j]. A
// convolution's im2col matrix is the use (CpuConv.Columns.cs): the forward pass's B and the
// backward-weight pass's B^T are unfolded from the NCHW image block by block as the GEMM needs them,
// so no im2col matrix is written to memory and read back, and no separate packing pass runs.
// Must hold: the panels hold exactly what PackB would make of the stored matrix (same layout, zero
// padding past the block's columns), so the micro-kernels, blocking and threading are unchanged; the
// per-thread row buffers are reused (no allocation per call once warm).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

/// <summary>A matrix (Rows x Cols, row-major as if stored) that the GEMM reads only through FillRow.</summary>
internal abstract unsafe class GemmRowSource
{
    /// <summary>Floats FillRow may write past <c>len</c> (vector tails); buffers leave this much room.</summary>
    public const int Slack = 32;

    public abstract int Rows { get; }
    public abstract int Cols { get; }

    /// <summary>dst[0..len) = M[r, j..j+len) for 0 &lt;= j, j + len &lt;= Cols; may also write
    /// dst[len..len+Slack), which the caller owns and overwrites.</summary>
    public abstract void FillRow(int r, int j, int len, float* dst);
}

internal static unsafe partial class CpuGemm
{
    /// <summary>As PackB, with op(B) = M (transB false) or M^T (transB true) of a row source.</summary>
    private static void PackBFromSource(GemmRowSource src, bool transB, int j0, int nc, int pc, int kc, int nr, float* dst)
    {
        int panels = (nc + nr - 1) / nr, full = nc / nr;
        long panelSize = (long)kc * nr;
        float* row = RowBuffers.ForThisThread().Row;
        if (!transB)
        {
            // op(B)[p, j] = M[pc + p, j0 + j]: unfold one row of the block (L1), deal it to the panels
            for (int p = 0; p < kc; p++)
            {
                src.FillRow(pc + p, j0, nc, row);
                float* d = dst + p * nr;
                for (int q = 0; q < full; q++) CopySmall(row + q * nr, d + q * panelSize, nr);
                if (full < panels)
                {
                    int cols = nc - full * nr;
                    float* ds = d + full * panelSize, ss = row + full * nr;
                    for (int j = 0; j < cols; j++) ds[j] = ss[j];
                    for (int j = cols; j < nr; j++) ds[j] = 0;
                }
            }
            return;
        }

        // op(B)[p, j] = M[j0 + j, pc + p]: unfold a panel's nr rows of M (depth range [pc, pc+kc)),
        // then transpose them into the panel 8x8 at a time
        int ld = RowBuffers.PanelStride;
        float* rows = RowBuffers.ForThisThread().Panel;
        for (int q = 0; q < panels; q++)
        {
            int cols = Math.Min(nr, nc - q * nr);
            float* d = dst + q * panelSize;
            for (int j = 0; j < cols; j++) src.FillRow(j0 + q * nr + j, pc, kc, rows + (long)j * ld);
            for (int j = cols; j < nr; j++) new Span<float>(rows + (long)j * ld, kc).Clear();
            int done = 0;
            if (nr % 8 == 0 && Avx.IsSupported)
            {
                done = kc & ~7;
                for (int cb = 0; cb < nr; cb += 8)
                    for (int p = 0; p < done; p += 8)
                        Transpose8x8(rows + (long)cb * ld + p, ld, d + p * nr + cb, nr);
            }
            for (int j = 0; j < nr; j++)
            {
                float* s = rows + (long)j * ld;
                for (int p = done; p < kc; p++) d[p * nr + j] = s[p];
            }
        }
    }

    /// <summary>One thread's unfolding buffers: a row of a B block (NC + slack floats) and the rows of
    /// one transposed panel (MaxNR rows of KC + slack), 64-byte aligned, pinned for the thread's life.</summary>
    private sealed class RowBuffers
    {
        [ThreadStatic] private static RowBuffers? t_buffers;

        private const int MaxNR = 64;
        public const int PanelStride = KC + GemmRowSource.Slack;
        private readonly float[] _memory;
        public readonly float* Row, Panel;

        private RowBuffers()
        {
            int rowSize = NC + 2 * GemmRowSource.Slack, panelSize = MaxNR * PanelStride;
            _memory = GC.AllocateUninitializedArray<float>(rowSize + panelSize + 16, pinned: true);
            float* start = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
            Row = (float*)(((nint)start + 63) & ~(nint)63);
            Panel = Row + rowSize;
        }

        public static RowBuffers ForThisThread() => t_buffers ??= new RowBuffers();
    }
}
