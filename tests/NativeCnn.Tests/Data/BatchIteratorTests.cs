// Batches: counts with and without drop_last, every image once per epoch, seeded shuffling,
// normalisation with MNIST's mean and std, and the epoch's staged buffers: reused by the next epoch,
// and a batch kept past that point fails clearly. (Batches on the GPU simulator: Gpu/BatchStagingTests.)
using NativeCnn.Data;
using Xunit;

namespace NativeCnn.Tests.Data;

public class BatchIteratorTests
{
    // Image i is filled with the byte i, label i % 10: a batch reveals which images it holds.
    private static ImageDataset Numbered(int count) =>
        new(Enumerable.Range(0, count).SelectMany(i => Enumerable.Repeat((byte)i, 4)).ToArray(),
            Enumerable.Range(0, count).Select(i => i % 10).ToArray(), 2, 2, 10, "numbered");

    private static int ImageIndex(float normalised) => (int)Math.Round((normalised * Mnist.Std + Mnist.Mean) * 255);

    [Fact]
    public void OrderedEpochNormalisesAndKeepsOrder()
    {
        var it = new BatchIterator(Numbered(10), 4, shuffle: false);
        Assert.Equal(3, it.BatchCount);
        var batches = it.Epoch().ToList();
        Assert.Equal(new[] { 4, 4, 2 }, batches.Select(b => b.X.Size(0)));
        Assert.Equal(new[] { 4, 1, 2, 2 }, batches[0].X.Shape);
        var x = batches[1].X.ToArray();
        Assert.Equal((5 / 255.0 - 0.1307) / 0.3081, x[4], 5);
        Assert.Equal(new[] { 4, 5, 6, 7 }, batches[1].Y.ToInt32Array());
        Assert.Equal(DType.Int32, batches[1].Y.DType);
    }

    [Fact]
    public void ShuffledEpochsSeeEveryImageOnceInASeededOrder()
    {
        var data = Numbered(100);
        List<int> Order(BatchIterator it) => it.Epoch().SelectMany(b =>
        {
            var x = b.X.ToArray();
            var ys = b.Y.ToInt32Array();
            var ids = Enumerable.Range(0, b.X.Size(0)).Select(i => ImageIndex(x[i * 4])).ToList();
            for (int i = 0; i < ids.Count; i++) Assert.Equal(ids[i] % 10, ys[i]);
            return ids;
        }).ToList();

        var a = new BatchIterator(data, 16, shuffle: true, dropLast: false, rng: new Rng(3));
        var first = Order(a);
        var second = Order(a);
        Assert.Equal(Enumerable.Range(0, 100), first.OrderBy(i => i));
        Assert.NotEqual(Enumerable.Range(0, 100), first);
        Assert.NotEqual(first, second);
        Assert.Equal(first, Order(new BatchIterator(data, 16, shuffle: true, rng: new Rng(3))));
    }

    [Fact]
    public void DropLastDropsTheShortBatch()
    {
        var it = new BatchIterator(Numbered(10), 4, shuffle: true, dropLast: true, rng: new Rng(1));
        Assert.Equal(2, it.BatchCount);
        var batches = it.Epoch().ToList();
        Assert.Equal(new[] { 4, 4 }, batches.Select(b => b.X.Size(0)));
        var e = Assert.Throws<NativeCnnException>(() => new BatchIterator(Numbered(10), 11, shuffle: false, dropLast: true));
        Assert.Contains("batch size 11 is larger than the 10 images", e.Message);
    }

    [Fact]
    public void TheNextEpochReusesTheStagedBuffersAndAnOldBatchFailsClearly()
    {
        static float[] Pixels(Tensor t) => NativeCnn.Backends.Cpu.CpuBackend.F(t.Storage);
        static int[] Labels(Tensor t) => NativeCnn.Backends.Cpu.CpuBackend.I(t.Storage);
        var it = new BatchIterator(Numbered(1009), 4, shuffle: true, rng: new Rng(5));   // an odd size no other test pools
        var batches = it.Epoch().ToList();
        // every batch is a view of the epoch's staged images and labels: no copy per batch
        Assert.All(batches, b => Assert.Same(Pixels(batches[0].X), Pixels(b.X)));
        Assert.All(batches, b => Assert.Same(Labels(batches[0].Y), Labels(b.Y)));
        var last = batches[^1];
        Assert.Single(last.Y.ToInt32Array());   // still valid after its epoch ended

        var first = Pixels(batches[0].X);
        var second = it.Epoch().First();
        Assert.Same(first, Pixels(second.X));   // the pool handed the same array back
        var e = Assert.Throws<InvalidOperationException>(() => last.X.ToArray());
        Assert.Contains("next epoch began", e.Message);
    }
}
