// TorchCheckpoint (.pth/.pt) and LoadStateDict against files torch.save wrote (Goldens/resnet, made by
// tests/goldens/make_resnet_goldens.py: dtypes, views and a protocol-4 checkpoint dict) and against bad
// files built here byte by byte: forbidden globals, missing storages, out-of-bounds views, truncated
// archives, a PNG renamed .pth; and wrong shapes, missing and unexpected keys, strict and not.
using System.IO.Compression;
using System.Text;
using NativeCnn.IO;
using NativeCnn.Nn;
using NativeCnn.Tests.Models;
using Xunit;

namespace NativeCnn.Tests.IO;

public class TorchCheckpointTests
{
    private static Dictionary<string, Tensor> Expected() => SafeTensors.Load(ResNetGoldenTests.PathOf("cases_expected.safetensors"));

    [Fact]
    public void DTypesAndViewsReadAsTorchHasThem()
    {
        var cases = TorchCheckpoint.Load(ResNetGoldenTests.PathOf("cases_p2.pth"));
        var expected = Expected();
        var names = new[] { "f32_slice", "f32_transposed", "f32_column", "f32_whole", "f64", "f16", "bf16", "i64", "i32", "u8", "bool", "scalar", "num_batches_tracked", "empty", "expanded" };
        Assert.Equal(names, cases.Keys.ToArray());
        foreach (var name in names)
        {
            var t = cases[name];
            var e = expected[name];
            Assert.True(e.Shape.SequenceEqual(t.Shape), $"{name}: shape {Shape.Format(t.ShapeArray)}, expected {Shape.Format(e.ShapeArray)}");
            if (e.DType == DType.Int32)
            {
                Assert.Equal(DType.Int32, t.DType);
                Assert.Equal(e.ToInt32Array(), t.ToInt32Array());
            }
            else
            {
                Assert.Equal(name == "f16" ? DType.Float16 : DType.Float32, t.DType);
                Assert.Equal(e.ToArray(), t.ToArray());
            }
        }
        // Spot values that pin the view arithmetic: the transposed view's (0, 1) is the base's (1, 0).
        var whole = cases["f32_whole"].ToArray();
        Assert.Equal(whole[5], cases["f32_transposed"].ToArray()[1]);
        Assert.Equal(whole[2 * 5], cases["f32_slice"].ToArray()[0]);
        Assert.Equal(new[] { -3, 0, int.MaxValue, 4, 5, int.MinValue }, cases["i64"].ToInt32Array());
        Assert.Equal(new[] { 12345 }, cases["num_batches_tracked"].ToInt32Array());
        Assert.Equal(2.5f, cases["scalar"].Item());
    }

    [Fact]
    public void CheckpointDictGivesItsStateDict()
    {
        // Protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL); the dict also holds ints, a 2^70 long, floats, a
        // list, a tuple, a set, None and a bool, which the reader must walk past.
        var state = TorchCheckpoint.Load(ResNetGoldenTests.PathOf("checkpoint_p4.pth"));
        var expected = Expected().Where(p => p.Key.StartsWith("ckpt.", StringComparison.Ordinal)).ToDictionary(p => p.Key[5..], p => p.Value);
        Assert.Equal(expected.Keys.OrderBy(k => k), state.Keys.OrderBy(k => k));
        var model = SmallModel(2);
        model.LoadStateDict(state, strict: true);
        foreach (var (name, t) in model.StateDict())
            if (t.DType == DType.Int32) Assert.Equal(expected[name].ToInt32Array(), t.ToInt32Array());
            else Assert.Equal(expected[name].ToArray(), t.ToArray());
    }

    /// <summary>The small Sequential of make_resnet_goldens.py's checkpoint, with <paramref name="classes"/> outputs.</summary>
    private static Sequential SmallModel(int classes) =>
        new(new Conv2d(1, 4, 3, bias: false), new BatchNorm2d(4), new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, classes));

    private static Dictionary<string, Tensor> SmallState() => TorchCheckpoint.Load(ResNetGoldenTests.PathOf("checkpoint_p4.pth"));

    [Fact]
    public void WrongShapeNamesTheKeyAndBothShapes()
    {
        var model = SmallModel(3);
        var before = model.StateDict()["5.weight"].ToArray();
        var e = Assert.Throws<NativeCnnException>(() => model.LoadStateDict(SmallState(), strict: false));
        Assert.Contains("5.weight: expected shape (3, 4), got (2, 4)", e.Message);
        Assert.Contains("5.bias: expected shape (3), got (2)", e.Message);
        // Nothing was copied, not even the tensors whose shapes fit.
        Assert.Equal(before, model.StateDict()["5.weight"].ToArray());
        Assert.NotEqual(SmallState()["0.weight"].ToArray(), model.StateDict()["0.weight"].ToArray());
    }

    [Fact]
    public void MissingAndUnexpectedKeysStrictAndNot()
    {
        var state = SmallState();
        state.Remove("1.running_var");
        state.Remove("5.bias");
        state["fc.weight"] = Tensor.Zeros(2, 4);
        var model = SmallModel(2);
        var e = Assert.Throws<NativeCnnException>(() => model.LoadStateDict(state, strict: true));
        Assert.Contains("missing keys: 1.running_var, 5.bias", e.Message);
        Assert.Contains("unexpected keys: fc.weight", e.Message);

        var result = model.LoadStateDict(state, strict: false);
        Assert.Equal(new[] { "1.running_var", "5.bias" }, result.MissingKeys);
        Assert.Equal(new[] { "fc.weight" }, result.UnexpectedKeys);
        Assert.Equal(state["0.weight"].ToArray(), model.StateDict()["0.weight"].ToArray());
        Assert.Equal(new float[] { 1, 1, 1, 1 }, model.StateDict()["1.running_var"].ToArray()); // untouched
    }

    [Fact]
    public void StripPrefixMapsDataParallelNames()
    {
        var state = SmallState().ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
        Assert.Throws<NativeCnnException>(() => SmallModel(2).LoadStateDict(state));
        var model = SmallModel(2);
        var result = model.LoadStateDict(TorchCheckpoint.StripPrefix(state, "module."), strict: true);
        Assert.Empty(result.MissingKeys);
        Assert.Equal(state["module.5.weight"].ToArray(), model.StateDict()["5.weight"].ToArray());
        state["5.weight"] = Tensor.Zeros(2, 4);
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.StripPrefix(state, "module."));
        Assert.Contains("keys 'module.5.weight' and '5.weight' both become '5.weight' without 'module.'", e.Message);
    }

    // ---- bad files, built here ----

    /// <summary>A torch.save-like zip: "archive/data.pkl" plus raw storages "archive/data/<key>".</summary>
    private static byte[] Zip(byte[] pickle, params (string Key, byte[] Bytes)[] storages)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] bytes)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
            Add("archive/data.pkl", pickle);
            Add("archive/version", Encoding.ASCII.GetBytes("3\n"));
            foreach (var (k, b) in storages) Add("archive/data/" + k, b);
        }
        return ms.ToArray();
    }

    /// <summary>Pickle opcodes for a few values (protocol 2).</summary>
    private sealed class Pickle
    {
        private readonly List<byte> _b = new() { 0x80, 2 };
        public Pickle Op(params byte[] ops) { _b.AddRange(ops); return this; }
        public Pickle Global(string module, string name) { _b.Add((byte)'c'); _b.AddRange(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); return this; }
        public Pickle Str(string s)
        {
            var u = Encoding.UTF8.GetBytes(s);
            _b.Add((byte)'X'); _b.AddRange(BitConverter.GetBytes(u.Length)); _b.AddRange(u);
            return this;
        }
        public Pickle Int(int v) { _b.Add((byte)'J'); _b.AddRange(BitConverter.GetBytes(v)); return this; }
        public Pickle Mark() => Op((byte)'(');
        public Pickle Tuple() => Op((byte)'t');
        public Pickle Reduce() => Op((byte)'R');
        public Pickle OrderedDict() => Global("collections", "OrderedDict").Op(0x29).Reduce();
        /// <summary>A _rebuild_tensor_v2 of storage <paramref name="key"/> (float, numel elements) as a view.</summary>
        public Pickle Tensor(string key, int numel, int offset, int[] size, int[] stride)
        {
            Global("torch._utils", "_rebuild_tensor_v2").Mark();
            Mark().Str("storage").Global("torch", "FloatStorage").Str(key).Str("cpu").Int(numel).Tuple().Op((byte)'Q');
            Int(offset);
            Mark(); foreach (var s in size) Int(s); Tuple();
            Mark(); foreach (var s in stride) Int(s); Tuple();
            Op(0x89).OrderedDict();
            return Tuple().Reduce();
        }
        public byte[] Stop() { _b.Add((byte)'.'); return _b.ToArray(); }
    }

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    private static string Write(string name, byte[] bytes)
    {
        var dir = Path.Combine(Path.GetTempPath(), "nc_torch_" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void HandBuiltArchiveReadsAView()
    {
        var pkl = new Pickle().OrderedDict().Mark().Str("w").Tensor("0", 6, 1, new[] { 2, 2 }, new[] { 1, 2 }).Op((byte)'u').Stop();
        var t = TorchCheckpoint.Parse(Zip(pkl, ("0", Floats(0, 1, 2, 3, 4, 5))), "hand.pth")["w"];
        Assert.Equal(new[] { 2, 2 }, t.Shape);
        Assert.Equal(new float[] { 1, 3, 2, 4 }, t.ToArray());
    }

    [Fact]
    public void ParameterIsReadAsItsData()
    {
        // torch.save of a dict holding an nn.Parameter: _rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict()).
        var pkl = new Pickle().Op(0x7d).Mark().Str("p").Global("torch._utils", "_rebuild_parameter").Mark()
            .Tensor("0", 3, 0, new[] { 3 }, new[] { 1 }).Op(0x88).OrderedDict().Tuple().Reduce().Op((byte)'u').Stop();
        var t = TorchCheckpoint.Parse(Zip(pkl, ("0", Floats(4, 5, 6))), "p.pth")["p"];
        Assert.Equal(new float[] { 4, 5, 6 }, t.ToArray());
        Assert.False(t.RequiresGrad);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("torch", "load")]
    [InlineData("torchvision.models.resnet", "ResNet")]
    public void ForbiddenGlobalIsRefusedAndNothingRuns(string module, string name)
    {
        var marker = Path.Combine(Path.GetTempPath(), "nc_pwned_" + Guid.NewGuid().ToString("N"));
        var pkl = new Pickle().Global(module, name).Mark().Str("touch " + marker).Tuple().Reduce().Stop();
        var path = Write("model.pth", Zip(pkl));
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Load(path));
        Assert.Contains($"forbidden global {module}.{name} in model.pth", e.Message);
        Assert.Contains("weights_only=True", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void ForbiddenGlobalThroughStackGlobalIsRefused()
    {
        // Protocol 4 style: module and name pushed as strings, then STACK_GLOBAL (0x93).
        var pkl = new Pickle().Str("posix").Str("system").Op(0x93).Mark().Str("id").Tuple().Reduce().Stop();
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl), "x/evil.pt"));
        Assert.Contains("forbidden global posix.system in evil.pt", e.Message);
    }

    [Fact]
    public void AllowedGlobalThatIsNotCallableIsRefused()
    {
        var pkl = new Pickle().Global("torch", "FloatStorage").Mark().Int(3).Tuple().Reduce().Stop();
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl), "s.pth"));
        Assert.Contains("torch.FloatStorage cannot be called", e.Message);
    }

    [Fact]
    public void UnsupportedOpcodeIsRefused()
    {
        var pkl = new Pickle().Op((byte)'i').Stop(); // INST: builds arbitrary class instances
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl), "i.pth"));
        Assert.Contains("opcode 0x69", e.Message);
    }

    [Fact]
    public void MissingStorageAndOutOfBoundsViewAreReported()
    {
        var pkl = new Pickle().OrderedDict().Mark().Str("w").Tensor("0", 6, 1, new[] { 2, 3 }, new[] { 3, 1 }).Op((byte)'u').Stop();
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl), "m.pth"));
        Assert.Contains("tensor 'w': storage 'archive/data/0' is missing", e.Message);

        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl, ("0", Floats(0, 1, 2, 3, 4, 5))), "m.pth"));
        Assert.Contains("tensor 'w': the view (offset 1, shape (2, 3), stride (3, 1)) reaches element 6 of a storage of 6", e.Message);

        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl, ("0", Floats(0, 1, 2))), "m.pth"));
        Assert.Contains("storage '0' of 6 x FloatStorage needs 24 bytes, the archive holds 12", e.Message);
    }

    [Fact]
    public void TruncatedOrMalformedPickleIsReported()
    {
        var pkl = new Pickle().OrderedDict().Mark().Str("w").Tensor("0", 6, 0, new[] { 6 }, new[] { 1 }).Op((byte)'u').Stop();
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl[..^3], ("0", Floats(0, 1, 2, 3, 4, 5))), "t.pth"));
        Assert.Contains("PyTorch file 't.pth': corrupt pickle: truncated", e.Message);
        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(new byte[] { 0x80, 2, (byte)'.' }), "t.pth"));
        Assert.Contains("stack underflow", e.Message);
        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(new byte[] { 0x80, 2, (byte)'h', 7, (byte)'.' }), "t.pth"));
        Assert.Contains("memo key 7 read before it was written", e.Message);
    }

    [Fact]
    public void TruncatedPthIsReported()
    {
        var bytes = File.ReadAllBytes(ResNetGoldenTests.PathOf("cases_p2.pth"));
        foreach (int keep in new[] { bytes.Length / 2, bytes.Length - 30, 10 })
        {
            var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(bytes[..keep], "cut.pth"));
            Assert.Contains("PyTorch file 'cut.pth'", e.Message);
            Assert.Contains("truncated or corrupt", e.Message);
        }
    }

    [Fact]
    public void TruncatedSafeTensorsIsReported()
    {
        var bytes = File.ReadAllBytes(ResNetGoldenTests.PathOf("cases_expected.safetensors"));
        var e = Assert.Throws<NativeCnnException>(() => SafeTensors.Parse(bytes[..(bytes.Length - 5)], "cut.safetensors"));
        Assert.Contains("run past the end of the data", e.Message);
        e = Assert.Throws<NativeCnnException>(() => SafeTensors.Parse(bytes[..5], "cut.safetensors"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void NonPyTorchFilesAreNamed()
    {
        var png = new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13 };
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Load(Write("photo.pth", png)));
        Assert.Contains("not a PyTorch weight file", e.Message);
        Assert.Contains("PNG image", e.Message);
        Assert.Contains("photo.pth", e.Message);

        // a bare pickle that is not torch.save's legacy format
        var pickle = new byte[] { 0x80, 0x02, 0x4b, 0x07, (byte)'.' };
        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(pickle, "p.pth"));
        Assert.Contains("a bare pickle that is not torch.save's legacy format (its first value is a int 7", e.Message);

        var st = File.ReadAllBytes(ResNetGoldenTests.PathOf("cases_expected.safetensors"));
        e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(st, "w.pth"));
        Assert.Contains("SafeTensors.Load", e.Message);
        // LoadAny picks the reader by the first bytes.
        Assert.Equal(Expected().Count, TorchCheckpoint.LoadAny(ResNetGoldenTests.PathOf("cases_expected.safetensors")).Count);
        Assert.Equal(15, TorchCheckpoint.LoadAny(ResNetGoldenTests.PathOf("cases_p2.pth")).Count);

        var missing = Assert.Throws<FileNotFoundException>(() => TorchCheckpoint.Load(Path.Combine(Path.GetTempPath(), "no_such_file_nc.pth")));
        Assert.Contains("does not exist", missing.Message);
    }

    [Fact]
    public void PickleWithoutTensorsIsNotAStateDict()
    {
        var pkl = new Pickle().Op(0x7d).Str("epoch").Int(3).Op((byte)'s').Stop();
        var e = Assert.Throws<NativeCnnException>(() => TorchCheckpoint.Parse(Zip(pkl), "e.pth"));
        Assert.Contains("no tensors, keys: epoch", e.Message);
    }
}
