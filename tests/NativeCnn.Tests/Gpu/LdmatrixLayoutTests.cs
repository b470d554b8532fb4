// The ldmatrix kernels' shared-memory layout (GemmFp16Ldmatrix.cs) as plain arithmetic: the swizzle the
// simulator cannot judge, because bank conflicts cost time, not correctness. A shared-memory access is
// served 128 bytes (one wavefront) at a time; 16-byte accesses of 8 lanes (one 8x8 matrix of
// ldmatrix.x4, a quarter warp of STS.128) are conflict-free when their addresses fall in 8 different
// 16-byte slots of a 128-byte line. Also: the chunks of a slice cover the tile exactly once.
using NativeCnn.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

public class LdmatrixLayoutTests
{
    private const int TileBytes = 128 * 32 * 2;

    private static int Slot(int address) => (address & 127) >> 4;

    /// <summary>(layout, operand, warp sub-tile origins, tiles or pairs per step) of both kernels: A's m16
    /// tiles at wm = 0 or 64; B's n16 pairs at wn = 0, 32, 64, 96 (64x32 warps, 2 pairs) or 0, 64 (64x64, 4 pairs).</summary>
    public static IEnumerable<object[]> Walks()
    {
        foreach (bool kMajor in new[] { true, false })
        {
            yield return new object[] { kMajor, true, new[] { 0, 64 }, 4 };
            yield return new object[] { kMajor, false, new[] { 0, 32, 64, 96 }, 2 };
            yield return new object[] { kMajor, false, new[] { 0, 64 }, 4 };
        }
    }

    [Theory]
    [MemberData(nameof(Walks))]
    public void EveryLdmatrixPhaseReadsEightDifferentSlots(bool kMajor, bool isA, int[] origins, int count)
    {
        int phases = 0;
        foreach (int w in origins)
        for (int i = 0; i < count; i++)
        for (int s = 0; s < 2; s++)
        for (int j = 0; j < 4; j++)
        {
            var rows = Enumerable.Range(8 * j, 8).Select(lane => GemmHalfKernels.LdmatrixRowAddress(kMajor, isA, lane, w, i, s)).ToList();
            Assert.All(rows, r => Assert.True(r >= 0 && r < TileBytes && r % 16 == 0, $"row address {r}"));
            Assert.True(rows.Select(Slot).Distinct().Count() == 8,
                        $"kMajor={kMajor} isA={isA} w={w} i={i} s={s} matrix {j}: slots {string.Join(",", rows.Select(Slot))}");
            phases++;
        }
        Assert.Equal(origins.Length * count * 2 * 4, phases);
    }

    [Theory]
    [InlineData(true, 256)]
    [InlineData(false, 256)]
    [InlineData(true, 128)]
    [InlineData(false, 128)]
    public void TheChunksCoverTheTileOnceAndEachQuarterWarpStoresConflictFree(bool kMajor, int threads)
    {
        int perThread = 512 / threads;
        var all = new List<int>();
        for (int i = 0; i < perThread; i++)
        for (int t = 0; t < threads; t++)
            all.Add(GemmHalfKernels.LdmatrixChunkDestination(kMajor, t, threads, i));
        Assert.Equal(Enumerable.Range(0, TileBytes / 16).Select(c => 16 * c), all.OrderBy(a => a));
        for (int i = 0; i < perThread; i++)
        for (int quarter = 0; quarter < threads / 8; quarter++)
        {
            var slots = Enumerable.Range(8 * quarter, 8).Select(t => Slot(GemmHalfKernels.LdmatrixChunkDestination(kMajor, t, threads, i)));
            Assert.Equal(8, slots.Distinct().Count());
        }
    }
}
