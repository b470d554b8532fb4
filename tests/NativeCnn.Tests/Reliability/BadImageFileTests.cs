// Issue #19 points 2 and 4: an image is decoded completely or refused, and only regular files are
// read. Every format is written whole (it decodes), then cut at several points (each must be refused
// naming the file: ImageSharp 2.1 decodes a JPEG cut after its scan header, or at a third, without a
// word); a FIFO and a link to /dev/zero named .png are refused before they are opened (they used to
// hang `predict` forever, or read 4 GB and end in an internal error).
using System.Runtime.InteropServices;
using NativeCnn.Data;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Training;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class BadImageFileTests
{
    public static IEnumerable<object[]> Formats() => new[]
    {
        new object[] { "jpeg-rgb.jpg", 3 }, new object[] { "jpeg-grey.jpg", 1 }, new object[] { "png-rgb.png", 3 },
        new object[] { "gif-rgb.gif", 3 }, new object[] { "webp-rgba.webp", 4 }, new object[] { "tiff-rgb.tiff", 3 },
        new object[] { "bmp-rgb.bmp", 3 }, new object[] { "tga-rgb.tga", 3 },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void ATruncatedFileOfEveryFormatIsRefusedNamingIt(string name, int channels)
    {
        using var dir = new TempDir();
        string whole = dir.File(name);
        TestImages.Write(whole, 64, 48, channels, ImageDecoderTests.Encoder(name, channels), seed: 3);
        var bytes = File.ReadAllBytes(whole);
        Assert.Equal((channels, 48, 64), (ImageDecoder.Decode(whole).Channels, 48, 64));
        var cuts = new List<int> { bytes.Length / 3, bytes.Length / 2, 2 * bytes.Length / 3 };
        if (name.StartsWith("jpeg", StringComparison.Ordinal))
        {
            cuts.Add(AfterScanHeader(bytes));   // the case: cut just after the SOS header
            cuts.Add(bytes.Length - 2);        // the end-of-image marker missing
        }
        if (name.StartsWith("png", StringComparison.Ordinal)) cuts.Add(bytes.Length - 4);   // IEND's CRC cut
        if (name.StartsWith("webp", StringComparison.Ordinal)) cuts.Add(bytes.Length - 1);
        foreach (int cut in cuts)
        {
            string path = dir.File($"cut{cut}-{name}");
            File.WriteAllBytes(path, bytes[..cut]);
            var e = Assert.Throws<NativeCnnException>(() => ImageDecoder.Decode(path));
            Assert.Contains($"'{path}'", e.Message);
        }
    }

    private static int AfterScanHeader(byte[] b)
    {
        int i = 2;
        while (!(b[i] == 0xFF && b[i + 1] == 0xDA)) i += 2 + (b[i + 2] << 8 | b[i + 3]);
        return i + 2 + (b[i + 2] << 8 | b[i + 3]);
    }

    [Fact]
    public void PredictRefusesATruncatedJpegWithExit1()
    {
        using var dir = new TempDir();
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "train", 4, 1);
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "valid", 2, 2);
        var run = Path.Combine(dir.Path, "run");
        var (code, _, err) = Support.CliRunner.Run("train", "--data", dir.Path, "--size", "16", "--epochs", "1", "--bs", "4", "--device", "cpu", "--out", run);
        Assert.True(code == 0, err);
        string jpeg = dir.File("cat.jpg");
        TestImages.Write(jpeg, 64, 64, 3, ImageDecoderTests.Encoder("jpeg", 3), seed: 1);
        var bytes = File.ReadAllBytes(jpeg);
        File.WriteAllBytes(jpeg, bytes[..AfterScanHeader(bytes)]);
        (code, var output, err) = Support.CliRunner.Run("predict", "--model", run, "--device", "cpu", jpeg);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains($"image file '{jpeg}' is truncated", err);
        Assert.Contains("no end-of-image marker", err);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    // Runs a call that must not wait on the file; a guard (not a timing assertion) keeps a regression from hanging the suite.
    private static Exception? Bounded(Action a)
    {
        var task = Task.Run(() => { try { a(); return null; } catch (Exception e) { return e; } });
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "the call waited on the file instead of refusing it");
        return task.Result;
    }

    [Fact]
    public void AFifoAndALinkToDevZeroAreRefusedBeforeTheyAreOpened()
    {
        if (!OperatingSystem.IsLinux()) return;   // FIFOs and /dev/zero are Linux's
        using var dir = new TempDir();
        string fifo = dir.File("fifo.png"), zero = dir.File("zero.png"), empty = dir.File("empty.png");
        Assert.Equal(0, mkfifo(fifo, Convert.ToUInt32("644", 8)));
        File.CreateSymbolicLink(zero, "/dev/zero");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        foreach (var path in new[] { fifo, zero, empty })
        {
            var e = Bounded(() => ImageDecoder.Decode(path));
            Assert.IsType<NativeCnnException>(e);
            Assert.Contains($"'{path}'", e!.Message);
            Assert.Contains("empty or not a regular file", e.Message);
            e = Bounded(() => ImageDecoder.IdentifyFile(path));
            Assert.IsType<NativeCnnException>(e);
        }
        Assert.Contains("a link to '/dev/zero'", Bounded(() => ImageDecoder.Decode(zero))!.Message);

        // the CLI: one line, exit 1, for predict; a class folder holding a FIFO is refused naming it
        ExportBundleTests.WriteTwoClassFolder(dir.Path, "data", 4, 1);
        var run = Path.Combine(dir.Path, "run");
        var (code, _, err) = Support.CliRunner.Run("train", "--data", Path.Combine(dir.Path, "data"), "--size", "16", "--epochs", "1", "--bs", "4", "--device", "cpu", "--out", run);
        Assert.True(code == 0, err);
        (code, _, err) = Support.CliRunner.Run("predict", "--model", run, "--device", "cpu", fifo);
        Assert.Equal(1, code);
        Assert.Contains($"image file '{fifo}' is empty or not a regular file", err);
        string inData = Path.Combine(dir.Path, "data", "bright", "pipe.png");
        Assert.Equal(0, mkfifo(inData, Convert.ToUInt32("644", 8)));
        Exception? trainError = Bounded(() =>
        {
            var r = Support.CliRunner.Run("train", "--data", Path.Combine(dir.Path, "data"), "--size", "16", "--epochs", "1", "--bs", "4", "--device", "cpu");
            (code, err) = (r.Code, r.Err);
        });
        Assert.Null(trainError);
        Assert.Equal(1, code);
        Assert.Contains($"'{inData}' is empty or not a regular file", err);

        // CSV and weight files go through the same check
        string csv = dir.File("labels.csv"), weights = dir.File("w.pth");
        Assert.Equal(0, mkfifo(csv, Convert.ToUInt32("644", 8)));
        File.CreateSymbolicLink(weights, "/dev/zero");
        Assert.Contains("CSV file", Bounded(() => CsvDataset.Load(csv))!.Message);
        Assert.Contains("not a regular file", Bounded(() => NativeCnn.IO.TorchCheckpoint.LoadAny(weights))!.Message);
    }
}
