// IDX parsing: the embedded MNIST subset, files on disk (gzipped and plain), and malformed files
// rejected with a message naming the file, what was expected and what was found.
using System.IO.Compression;
using NativeCnn.Data;
using Xunit;

namespace NativeCnn.Tests.Data;

public class IdxTests
{
    internal static byte[] IdxBytes(int[] dims, byte[] values, byte type = 0x08)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (var d in dims) bytes.AddRange(new[] { (byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d });
        bytes.AddRange(values);
        return bytes.ToArray();
    }

    internal static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void EmbeddedMnistHas8000TrainAnd2000ValidDigits()
    {
        var data = Mnist.LoadEmbedded();
        Assert.Equal(8000, data.Train.Count);
        Assert.Equal(2000, data.Valid.Count);
        foreach (var set in new[] { data.Train, data.Valid })
        {
            Assert.Equal(28, set.Height);
            Assert.Equal(28, set.Width);
            Assert.Equal(set.Count * 784, set.Pixels.Length);
            Assert.All(set.Labels, l => Assert.InRange(l, 0, 9));
            // Every digit appears, none dominates (MNIST classes are 9-11% each).
            var counts = set.Labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(10, counts.Count);
            Assert.All(counts.Values, c => Assert.InRange(c, set.Count / 20, set.Count / 5));
            // Real digits: mostly black background, mean intensity near MNIST's 0.1307 * 255.
            double mean = set.Pixels.Average(p => (double)p) / 255;
            Assert.InRange(mean, 0.11, 0.15);
            Assert.Equal(255, set.Pixels.Max());
        }
    }

    [Fact]
    public void ParsesPlainAndGzippedFilesFromDisk()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-idx").FullName;
        try
        {
            var raw = IdxBytes(new[] { 2, 2, 3 }, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 });
            File.WriteAllBytes(Path.Combine(dir, "plain"), raw);
            File.WriteAllBytes(Path.Combine(dir, "zipped.gz"), Gzip(raw));
            foreach (var name in new[] { "plain", "zipped.gz" })
            {
                var idx = Idx.ReadFile(Path.Combine(dir, name));
                Assert.Equal(new[] { 2, 2, 3 }, idx.Dimensions);
                Assert.Equal(Enumerable.Range(1, 12).Select(i => (byte)i), idx.Values);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("magic", "bad magic number 0x0801")]
    [InlineData("type", "element type code 0x0D is not supported, expected 0x08")]
    [InlineData("rank", "dimension count must be 1 to 4, got 0")]
    [InlineData("zero", "dimension 1 must be positive, got 0")]
    [InlineData("short", "need 14 bytes, got 13 (truncated)")]
    [InlineData("long", "need 14 bytes, got 15 (trailing data)")]
    [InlineData("header", "expected at least a 4-byte header, got 2 bytes")]
    public void MalformedFilesAreRejectedWithTheReason(string defect, string expected)
    {
        byte[] bytes = defect switch
        {
            "magic" => new byte[] { 8, 1, 8, 1, 0, 0, 0, 1, 0 },
            "type" => IdxBytes(new[] { 2 }, new byte[] { 1, 2 }, type: 0x0D),
            "rank" => new byte[] { 0, 0, 8, 0 },
            "zero" => IdxBytes(new[] { 2, 0 }, Array.Empty<byte>()),
            "short" => IdxBytes(new[] { 1, 2 }, new byte[] { 1 }),
            "long" => IdxBytes(new[] { 1, 2 }, new byte[] { 1, 2, 3 }),
            _ => new byte[] { 0, 0 },
        };
        var e = Assert.Throws<NativeCnnException>(() => Idx.Read(new MemoryStream(bytes), "digits.idx"));
        Assert.Contains("'digits.idx'", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CorruptGzipIsNamed()
    {
        var zipped = Gzip(IdxBytes(new[] { 4 }, new byte[] { 1, 2, 3, 4 }));
        zipped[12] ^= 0xFF;
        zipped[13] ^= 0xFF;
        var e = Assert.Throws<NativeCnnException>(() => Idx.Read(new MemoryStream(zipped[..^6]), "x.gz"));
        Assert.Contains("'x.gz'", e.Message);
    }

    [Fact]
    public void ImagesAndLabelsMustAgree()
    {
        var images = new IdxData(new[] { 3, 2, 2 }, new byte[12]);
        var labels = new IdxData(new[] { 2 }, new byte[] { 1, 2 });
        var e = Assert.Throws<NativeCnnException>(() => ImageDataset.FromIdx(images, labels, 10, "imgs", "lbls"));
        Assert.Contains("'imgs' holds 3 images but 'lbls' holds 2 labels", e.Message);
        e = Assert.Throws<NativeCnnException>(() => ImageDataset.FromIdx(images, new IdxData(new[] { 3 }, new byte[] { 1, 12, 3 }), 10, "imgs", "lbls"));
        Assert.Contains("label 1 is 12, expected 0 to 9", e.Message);
        e = Assert.Throws<NativeCnnException>(() => ImageDataset.FromIdx(labels, labels, 10, "lbls2", "lbls"));
        Assert.Contains("expected 3 dimensions", e.Message);
    }

    [Fact]
    public void MissingDirectoryAndFilesAreNamed()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => Mnist.LoadDirectory("/no/such/dir"));
        Assert.Contains("'/no/such/dir' does not exist", e.Message);
        var dir = Directory.CreateTempSubdirectory("nativecnn-mnist").FullName;
        try
        {
            var missing = Assert.Throws<FileNotFoundException>(() => Mnist.LoadDirectory(dir));
            Assert.Contains("has no 'train-images-idx3-ubyte.gz'", missing.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
