// The tiled transpose the GPU lab's wgmma GEMM copies its operands K-major with (LabHalfGemm.Wgmma.cs): a
// lab kernel, not on the engine's default path.
// What must hold: dst is the exact transpose of src for any rows, columns and batches (edges guarded).
using ILGPU;

namespace NativeCnn.GpuLab.Kernels;

internal static class TransposeKernels
{
    /// <summary>Rows and columns of the matrices TransposeKernel transposes, with both sides' strides.</summary>
    public struct TransposeShape
    {
        public int Rows, Cols, Batch;
        public int SrcLd, SrcStride, DstLd, DstStride;
    }

    public const int TransposeTile = 32, TransposeGroupRows = 8;

    // dst[b][c][r] = src[b][r][c]: src (Rows x Cols) at b SrcStride + r SrcLd + c, dst (Cols x Rows) at
    // b DstStride + c DstLd + r. Through a 32 x 33 shared tile, so that both the reads (along c) and the
    // writes (along r) are coalesced; a strided copy reads one side 2 bytes per 32-byte sector.
    // grid: (ceil(Cols/32), ceil(Rows/32), min(Batch, 65535)), group: (32, 8)
    public static void TransposeKernel<T>(ArrayView<T> src, ArrayView<T> dst, TransposeShape s) where T : unmanaged
    {
        var tile = SharedMemory.Allocate<T>(TransposeTile * (TransposeTile + 1));
        int tx = Group.IdxX, ty = Group.IdxY;
        int r0 = Grid.IdxY * TransposeTile, c0 = Grid.IdxX * TransposeTile;
        for (int b = Grid.IdxZ; b < s.Batch; b += Grid.DimZ)
        {
            for (int i = ty; i < TransposeTile; i += TransposeGroupRows)
                if (r0 + i < s.Rows && c0 + tx < s.Cols)
                    tile[i * (TransposeTile + 1) + tx] = src[b * s.SrcStride + (r0 + i) * s.SrcLd + c0 + tx];
            Group.Barrier();
            for (int i = ty; i < TransposeTile; i += TransposeGroupRows)
                if (c0 + i < s.Cols && r0 + tx < s.Rows)
                    dst[b * s.DstStride + (c0 + i) * s.DstLd + r0 + tx] = tile[tx * (TransposeTile + 1) + i];
            Group.Barrier();
        }
    }
}
