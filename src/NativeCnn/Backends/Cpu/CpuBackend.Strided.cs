// The strided row moves of im2col and col2im: one output row of a strided convolution gathers every
// stride-th input pixel, and col2im adds it back. Rows are short in the late layers (7 or 14 pixels
// at stride 2 in mnist_cnn), so the vector forms also cover a row's tail: the gather may write up to
// one vector past the row inside the caller's block (the caller overwrites or zeroes it), and the
// scatter adds zero lanes past the row inside the caller's plane. Stride 2 runs in AVX-512 or AVX2
// registers (the CPU path in use); other strides are plain pointer loops (no bounds checks: callers
// pass ranges they have checked against the plane).
// Must hold: reads stay inside the source array and writes inside the span / plane given.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    /// <summary>dst[j] = x[src + j*stride] for j &lt; n (n &lt;= dst.Length); may also write dst[n..n+16)
    /// where dst is that long: the caller overwrites or zeroes what lies past n.</summary>
    private static unsafe void GatherRow(float[] x, int src, int stride, Span<float> dst, int n)
    {
        if (stride == 1) { x.AsSpan(src, n).CopyTo(dst); return; }
        long readable = (long)x.Length - src;
        int room = dst.Length;
        fixed (float* xb = x, db = dst)
        {
            float* s = xb + src, d = db;
            int j = 0;
            if (stride == 2 && CpuInfo.Use512)
            {
                // vpermt2ps with indices 0,2,..,30 takes the even elements of two 16-float loads
                var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                for (; j < n && 2L * j + 32 <= readable && j + 16 <= room; j += 16)
                    Avx512F.PermuteVar16x32x2(Vector512.Load(s + 2 * j), evens, Vector512.Load(s + 2 * j + 16)).Store(d + j);
            }
            else if (stride == 2 && CpuInfo.Use256)
            {
                for (; j < n && 2L * j + 16 <= readable && j + 8 <= room; j += 8)
                {
                    // per 128-bit lane [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs in order
                    var pairs = Avx.Shuffle(Avx.LoadVector256(s + 2 * j), Avx.LoadVector256(s + 2 * j + 8), 0b10_00_10_00);
                    Avx2.Permute4x64(pairs.AsDouble(), 0b11_01_10_00).AsSingle().Store(d + j);
                }
            }
            for (; j < n; j++) d[j] = s[(long)j * stride];
        }
    }

    /// <summary>gx[dst + j*stride] += gcol[src + j] for j &lt; n. The vector forms read gcol up to one
    /// vector past n (inside the array) and add zeros to gx up to two vectors from dst, which must
    /// stay below planeEnd (the caller's plane: one writer).</summary>
    private static unsafe void ScatterRow(float[] gcol, int src, int n, float[] gx, int dst, int stride, int planeEnd)
    {
        if (stride == 1) { AddInto(gx.AsSpan(dst, n), gcol.AsSpan(src, n)); return; }
        fixed (float* gb = gcol, xb = gx)
        {
            float* s = gb + src, g = xb + dst;
            int j = 0;
            if (stride == 2 && CpuInfo.Use512)
            {
                var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                var lowHalf = Vector512.Create(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
                var highHalf = Vector512.Create(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
                for (; j < n && dst + 2 * j + 32 <= planeEnd && src + j + 16 <= gcol.Length; j += 16)
                {
                    var v = Vector512.Load(s + j);
                    if (n - j < 16) v = Vector512.ConditionalSelect(Vector512.LessThan(lanes, Vector512.Create(n - j)).AsSingle(), v, Vector512<float>.Zero);
                    float* at = g + 2 * j;
                    (Vector512.Load(at) + Avx512F.PermuteVar16x32x2(v, lowHalf, Vector512<float>.Zero)).Store(at);
                    (Vector512.Load(at + 16) + Avx512F.PermuteVar16x32x2(v, highHalf, Vector512<float>.Zero)).Store(at + 16);
                }
            }
            else if (stride == 2 && CpuInfo.Use256)
            {
                var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
                for (; j < n && dst + 2 * j + 16 <= planeEnd && src + j + 8 <= gcol.Length; j += 8)
                {
                    var v = Vector256.Load(s + j);
                    if (n - j < 8) v = Vector256.ConditionalSelect(Vector256.LessThan(lanes, Vector256.Create(n - j)).AsSingle(), v, Vector256<float>.Zero);
                    // [v0 0 v1 0 | v4 0 v5 0] and [v2 0 v3 0 | v6 0 v7 0], then the lanes in order
                    var lo = Avx.UnpackLow(v, Vector256<float>.Zero);
                    var hi = Avx.UnpackHigh(v, Vector256<float>.Zero);
                    float* at = g + 2 * j;
                    (Vector256.Load(at) + Avx.Permute2x128(lo, hi, 0x20)).Store(at);
                    (Vector256.Load(at + 8) + Avx.Permute2x128(lo, hi, 0x31)).Store(at + 8);
                }
            }
            for (; j < n; j++) g[(long)j * stride] += s[j];
        }
    }
}
