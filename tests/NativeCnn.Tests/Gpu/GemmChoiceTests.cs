// The GPU GEMM's choices, as pure functions of the product and the SM count (no device needed):
// Auto's tile (GpuBackend.ChooseTile) and the split in k (GpuBackend.ChooseSplitK).
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

public class GemmChoiceTests
{
    /// <summary>Auto's tile: the 128x128 kernel once its tiles cover 4/9 of the SMs (132 on an H100 or H200).</summary>
    [Fact]
    public void Tile128OnceThereIsATilePerSm()
    {
        Assert.Equal(GemmTile.Tile128, GpuBackend.ChooseTile(4096, 4096, 1, 132));
        Assert.Equal(GemmTile.Tile128, GpuBackend.ChooseTile(1024, 1024, 1, 132));     // 64 tiles: 48% of the SMs
        Assert.Equal(GemmTile.Tile64, GpuBackend.ChooseTile(1024, 896, 1, 132));       // 56 tiles: 42%
        Assert.Equal(GemmTile.Tile128, GpuBackend.ChooseTile(512, 4096, 1, 132));      // resnet18 layer4 forward at batch 256: 128 tiles
        Assert.Equal(GemmTile.Tile128, GpuBackend.ChooseTile(1024, 1024, 3, 132));     // 192 with batches
        Assert.Equal(GemmTile.Tile64, GpuBackend.ChooseTile(64, 100_000, 1, 132));     // narrower than a tile
        Assert.Equal(GemmTile.Tile64, GpuBackend.ChooseTile(100_000, 127, 1, 132));
    }

    /// <summary>Auto's split: only a lone product whose tiles leave SMs idle, with at least 512 of k a segment, preferring a count that divides k.</summary>
    [Fact]
    public void SplitKGoesToLoneLongNarrowProducts()
    {
        Assert.Equal(64, GpuBackend.ChooseSplitK(64, 576, 262_144, 1, 132));   // resnet18 layer1 backward-weight, all 256 images: 9 tiles, 59 wanted, 64 divides k
        Assert.Equal(56, GpuBackend.ChooseSplitK(64, 576, 57_344, 1, 132));    // one 56-image chunk of it: 56 divides k
        Assert.Equal(59, GpuBackend.ChooseSplitK(64, 576, 60_013, 1, 132));    // a prime k: no divisor near, an uneven last segment
        Assert.Equal(32, GpuBackend.ChooseSplitK(64, 576, 20_000, 1, 132));    // at most 39 (512 of k each); 32 is the nearest divisor
        Assert.Equal(4, GpuBackend.ChooseSplitK(256, 2304, 14_528, 1, 132));   // resnet18 layer3 backward-weight chunk: 144 tiles, one group per SM unsplit
        Assert.Equal(256, GpuBackend.ChooseSplitK(32, 9, 200_704, 1, 132));   // mnist_cnn's first conv, backward-weight: one tile, capped
        Assert.Equal(8, GpuBackend.ChooseSplitK(512, 576, 14_528, 1, 132));     // 72 tiles: eight segments
        Assert.Equal(1, GpuBackend.ChooseSplitK(1024, 1088, 100_000, 1, 132));  // 16 x 17 = 272 tiles: two per SM already
        Assert.Equal(1, GpuBackend.ChooseSplitK(4096, 4096, 4096, 1, 132));     // 4,096 tiles
        Assert.Equal(1, GpuBackend.ChooseSplitK(64, 576, 1000, 1, 132));        // k too short to split
        Assert.Equal(1, GpuBackend.ChooseSplitK(64, 576, 262_144, 2, 132));     // batched: the batch fills the SMs
        Assert.Equal(256, GpuBackend.ChooseSplitK(64, 64, 1 << 20, 1, 132));    // capped
    }
}
