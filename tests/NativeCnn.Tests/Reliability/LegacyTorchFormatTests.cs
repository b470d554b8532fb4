// Issue #19 point 5: torch.save's legacy (pre-1.6, non-zip) format, in which older torchvision and
// fastai v1 weights were saved, is read by the same restricted unpickler (it used to be taken for
// safetensors: "header length 5088219219985302144 is above the limit"); a file that is neither zip,
// legacy pickle nor safetensors is named as such. Goldens: tests/goldens/make_legacy_golden.py re-saves
// cases_p2.pth and checkpoint_p4.pth with _use_new_zipfile_serialization=False.
using NativeCnn.IO;
using NativeCnn.Tests.Data;
using NativeCnn.Tests.Models;
using Xunit;

namespace NativeCnn.Tests.Reliability;

public class LegacyTorchFormatTests
{
    private static void AssertSame(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys, b.Keys);
        foreach (var (k, v) in a)
        {
            Assert.Equal(v.DType, b[k].DType);
            Assert.Equal(v.ShapeArray, b[k].ShapeArray);
            if (v.DType == DType.Int32) Assert.Equal(v.ToInt32Array(), b[k].ToInt32Array());
            else Assert.Equal(v.ToArray(), b[k].ToArray());
        }
    }

    [Fact]
    public void LegacyFilesReadToTheSameTensorsAsTheirZipTwins()
    {
        // every dtype and view of the cases (float64, float16, bfloat16, int64, bool, transposed, sliced, expanded)
        var legacy = TorchCheckpoint.LoadAny(ResNetGoldenTests.PathOf("cases_legacy.pth"));
        Assert.Equal(15, legacy.Count);
        AssertSame(TorchCheckpoint.Load(ResNetGoldenTests.PathOf("cases_p2.pth")), legacy);
        // a checkpoint dict with non-tensor entries around its state_dict
        AssertSame(TorchCheckpoint.Load(ResNetGoldenTests.PathOf("checkpoint_p4.pth")), TorchCheckpoint.Load(ResNetGoldenTests.PathOf("checkpoint_legacy.pth")));
    }

    [Fact]
    public void TruncatedOrPaddedLegacyFilesAreRefusedNamingTheFile()
    {
        var bytes = File.ReadAllBytes(ResNetGoldenTests.PathOf("cases_legacy.pth"));
        foreach (int keep in new[] { 10, 200, bytes.Length / 2, bytes.Length - 1 })
        {
            var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(bytes[..keep], "cut.pth"));
            Assert.Contains("PyTorch file 'cut.pth'", e.Message);
        }
        var padded = bytes.Concat(new byte[3]).ToArray();
        Assert.Contains("3 bytes follow the last storage", Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(padded, "pad.pth")).Message);
    }

    [Fact]
    public void AFileOfNoKnownWeightFormatIsNamedAsSuch()
    {
        using var dir = new TempDir();
        var file = dir.File("weights.pth");
        File.WriteAllBytes(file, System.Text.Encoding.ASCII.GetBytes("GIF89a not weights at all"));
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.LoadAny(file));
        Assert.Contains($"weights '{file}': neither a PyTorch zip archive (torch.save), a legacy torch.save pickle nor a safetensors file", e.Message);
    }
}
