// The 64x64 warp tile of the ldmatrix float16 GEMM (GemmFp16Ldmatrix.cs; the default kernels GemmHalfAsyncW64*):
// a 128x128 tile of C per group of 4 warps (2 x 2), each warp 64 x 64 as 4 (m16) x 8 (n8) mma tiles, 128
// float accumulators per thread. Per k16 step a warp loads 4 ldmatrix.x4 of op(A) and 4 of op(B) for 32
// mma: 8 shared-memory instructions (32 wavefronts) per 32 mma, against 6 (24) per 16 with 64 x 32, so
// 1.5 times fewer shared-memory bytes per mma, the limit of the 64x32 kernels (measured:
// benchmarks/results/fp16-gemm-notes.md). The cost: ~200 registers per thread, so 2 groups of 128
// threads per SM (8 warps), and each thread moves 4 chunks of each operand per slice instead of 2.
// The accumulators are scalar fields (an array would live in local memory), hence the long lists.
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

internal static partial class GemmHalfKernels
{
    public const int GroupThreadsWarp64 = 128;

    /// <summary>Launch bounds of the 64x64-warp kernels: 128 threads, two groups per SM (at most 255 registers).</summary>
    public static ILGPU.Runtime.KernelSpecialization SpecializationWarp64 => new(GroupThreadsWarp64, 2);

    /// <summary>A warp's 64x64 sub-tile: 4 m16 tiles (Tix) by 8 n8 tiles (Tx0..Tx7).</summary>
    internal struct Acc4x8 : ILdmatrixWarpTile
    {
        public Frag4 T00, T01, T02, T03, T04, T05, T06, T07;
        public Frag4 T10, T11, T12, T13, T14, T15, T16, T17;
        public Frag4 T20, T21, T22, T23, T24, T25, T26, T27;
        public Frag4 T30, T31, T32, T33, T34, T35, T36, T37;

        public readonly int Threads => GroupThreadsWarp64;
        /// <summary>4 warps, 2 x 2, each 64 x 64.</summary>
        public readonly int WarpRow(int warp) => (warp >> 1) * 64;
        public readonly int WarpColumn(int warp) => (warp & 1) * 64;

        public void Store(ArrayView<float> c, int cBase, GemmArgs g, int row, int col)
        {
            StoreTile(c, cBase, g, row, col, ref T00, ref T01, ref T02, ref T03);
            StoreTile(c, cBase, g, row, col + 32, ref T04, ref T05, ref T06, ref T07);
            StoreTile(c, cBase, g, row + 16, col, ref T10, ref T11, ref T12, ref T13);
            StoreTile(c, cBase, g, row + 16, col + 32, ref T14, ref T15, ref T16, ref T17);
            StoreTile(c, cBase, g, row + 32, col, ref T20, ref T21, ref T22, ref T23);
            StoreTile(c, cBase, g, row + 32, col + 32, ref T24, ref T25, ref T26, ref T27);
            StoreTile(c, cBase, g, row + 48, col, ref T30, ref T31, ref T32, ref T33);
            StoreTile(c, cBase, g, row + 48, col + 32, ref T34, ref T35, ref T36, ref T37);
        }

        /// <summary>k16 step <paramref name="s"/> of the slice in the buffer at byte <paramref name="buffer"/>:
        /// four ldmatrix.x4 of op(A) (one per m16 tile), four of op(B) (one per pair of n8 tiles), 32 mma.</summary>
        public void StepLdmatrix(ArrayView<U4> slices, int buffer, Staging la, Staging lb, int aLane, int bLane,
                                 int wm, int wn, int lane, int s, bool exact)
        {
            int a = buffer, b = buffer + OperandBytes;
            if (!CudaAsm.IsSupported && !exact)
            {
                var w = new FragmentSource { Slices = slices, La = la, Lb = lb, A = a, B = b, Wm = wm, Wn = wn, S = s };
                EmulateRow(ref T00, ref T01, ref T02, ref T03, ref T04, ref T05, ref T06, ref T07, w, 0, lane);
                EmulateRow(ref T10, ref T11, ref T12, ref T13, ref T14, ref T15, ref T16, ref T17, w, 1, lane);
                EmulateRow(ref T20, ref T21, ref T22, ref T23, ref T24, ref T25, ref T26, ref T27, w, 2, lane);
                EmulateRow(ref T30, ref T31, ref T32, ref T33, ref T34, ref T35, ref T36, ref T37, w, 3, lane);
                return;
            }
            var af = AFragments.Load(slices, la, a, aLane, s);
            ColumnPair(slices, lb, b + lb.At(bLane, 0, s), af, ref T00, ref T10, ref T20, ref T30, ref T01, ref T11, ref T21, ref T31);
            ColumnPair(slices, lb, b + lb.At(bLane, 1, s), af, ref T02, ref T12, ref T22, ref T32, ref T03, ref T13, ref T23, ref T33);
            ColumnPair(slices, lb, b + lb.At(bLane, 2, s), af, ref T04, ref T14, ref T24, ref T34, ref T05, ref T15, ref T25, ref T35);
            ColumnPair(slices, lb, b + lb.At(bLane, 3, s), af, ref T06, ref T16, ref T26, ref T36, ref T07, ref T17, ref T27, ref T37);
        }
    }

    /// <summary>The emulated mma of m16 tile <paramref name="i"/> with all eight n8 tiles (simulator only).</summary>
    internal static void EmulateRow(ref Frag4 f0, ref Frag4 f1, ref Frag4 f2, ref Frag4 f3,
                                   ref Frag4 f4, ref Frag4 f5, ref Frag4 f6, ref Frag4 f7, FragmentSource w, int i, int lane)
    {
        f0 = MmaFromShared(f0, w, i, 0, lane); f1 = MmaFromShared(f1, w, i, 1, lane);
        f2 = MmaFromShared(f2, w, i, 2, lane); f3 = MmaFromShared(f3, w, i, 3, lane);
        f4 = MmaFromShared(f4, w, i, 4, lane); f5 = MmaFromShared(f5, w, i, 5, lane);
        f6 = MmaFromShared(f6, w, i, 6, lane); f7 = MmaFromShared(f7, w, i, 7, lane);
    }
}
