// safetensors reader/writer: round trips of every dtype, files built byte by byte from the format's
// description (so the reader is not only checked against our own writer), and one test per kind of
// malformed file, each asserting the error names the file and the problem.
using System.Buffers.Binary;
using System.Text;
using NativeCnn.IO;
using Xunit;

namespace NativeCnn.Tests.IO;

public class SafeTensorsTests
{
    private const string Source = "test.safetensors";

    /// <summary>A file made by hand: 8-byte length, the header text, then the data bytes.</summary>
    private static byte[] File(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    private static byte[] Floats(params float[] v)
    {
        var b = new byte[4 * v.Length];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
        return b;
    }

    private static NativeCnnException Bad(byte[] bytes) =>
        Assert.Throws<NativeCnnException>(() => SafeTensors.Parse(bytes, Source));

    [Fact]
    public void RoundTripKeepsValuesShapesDtypesAndMetadata()
    {
        var f32 = Tensor.FromArray(new[] { 1.5f, -2.25f, 3e-8f, float.MaxValue, -0f, 7f }, new[] { 2, 3 });
        var transposed = f32.Permute(1, 0); // non-contiguous: must be written in its own row-major order
        var f16 = Tensor.FromArray(new[] { 0.5f, -65504f, 6.1035156e-05f, 1f }, new[] { 4 }).To(DType.Float16);
        var i32 = Tensor.FromArray(new[] { 3, -7, int.MaxValue, int.MinValue }, new[] { 2, 2 });
        var scalar = Tensor.Scalar(0.125f);
        var empty = Tensor.Zeros(0, 5);
        var tensors = new Dictionary<string, Tensor>
        {
            ["w"] = f32, ["w.t"] = transposed, ["half"] = f16, ["labels"] = i32, ["s"] = scalar, ["e"] = empty,
        };
        var path = Path.Combine(Path.GetTempPath(), $"nativecnn-st-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "héllo" });
            var meta = new Dictionary<string, string>();
            var back = SafeTensors.Load(path, metadata: meta);

            Assert.Equal(new[] { "e", "half", "labels", "s", "w", "w.t" }, back.Keys.OrderBy(k => k, StringComparer.Ordinal));
            Assert.Equal(new[] { 2, 3 }, back["w"].Shape);
            Assert.Equal(DType.Float32, back["w"].DType);
            Assert.Equal(f32.ToArray(), back["w"].ToArray());
            Assert.Equal(new[] { 3, 2 }, back["w.t"].Shape);
            Assert.Equal(new[] { 1.5f, float.MaxValue, -2.25f, -0f, 3e-8f, 7f }, back["w.t"].ToArray());
            Assert.Equal(DType.Float16, back["half"].DType);
            Assert.Equal(new[] { 0.5f, -65504f, 6.1035156e-05f, 1f }, back["half"].ToArray());
            Assert.Equal(DType.Int32, back["labels"].DType);
            Assert.Equal(new[] { 3, -7, int.MaxValue, int.MinValue }, back["labels"].ToInt32Array());
            Assert.Empty(back["s"].Shape);
            Assert.Equal(0.125f, back["s"].Item());
            Assert.Equal(new[] { 0, 5 }, back["e"].Shape);
            Assert.Equal("pt", meta["format"]);
            Assert.Equal("héllo", meta["note"]);
            Assert.False(System.IO.File.Exists(path + ".tmp"));
        }
        finally { System.IO.File.Delete(path); }
    }

    [Fact]
    public void WriterFollowsTheLayoutOfTheFormat()
    {
        var bytes = SafeTensors.Serialize(new Dictionary<string, Tensor>
        {
            ["b"] = Tensor.FromArray(new[] { 5, 6 }, new[] { 2 }),
            ["a"] = Tensor.FromArray(new[] { 1f, 2f, 3f }, new[] { 3 }),
        });
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, (8 + n) % 8); // data starts 8-byte aligned
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd(' ');
        Assert.Equal("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[12,20]}}", header);
        var data = bytes.AsSpan(8 + (int)n);
        Assert.Equal(20, data.Length);
        Assert.Equal(2f, BinaryPrimitives.ReadSingleLittleEndian(data[4..]));
        Assert.Equal(6, BinaryPrimitives.ReadInt32LittleEndian(data[16..]));
    }

    [Fact]
    public void ReadsHandMadeF16AndI64()
    {
        var data = new byte[2 * 2 + 3 * 8];
        BinaryPrimitives.WriteHalfLittleEndian(data, (Half)(-1.5f));
        BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(2), (Half)1024f);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(4), 9);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(12), -2_000_000_000);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(20), 0);
        var bytes = File("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"l\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[4,28]}}  ", data);
        var t = SafeTensors.Parse(bytes, Source);
        Assert.Equal(DType.Float16, t["h"].DType);
        Assert.Equal(new[] { -1.5f, 1024f }, t["h"].ToArray());
        Assert.Equal(DType.Int32, t["l"].DType);
        Assert.Equal(new[] { 9, -2_000_000_000, 0 }, t["l"].ToInt32Array());
    }

    [Fact]
    public void ReadsTheGoldenFileWrittenByPython()
    {
        // An independent writer (tests/goldens/make_goldens.py); the values checked are the ones the
        // script printed when it made the file.
        var meta = new Dictionary<string, string>();
        var t = SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "Goldens", "mnist_cnn.safetensors"), metadata: meta);
        Assert.Equal("25", meta["seed"]);
        Assert.StartsWith("1.13", meta["torch"]);
        Assert.Equal(new[] { 8, 1, 28, 28 }, t["input"].Shape);
        Assert.Equal(DType.Int32, t["labels"].DType); // int64 in torch
        Assert.All(t["labels"].ToInt32Array(), l => Assert.InRange(l, 0, 9));
        Assert.Equal(new[] { 128, 64, 3, 3 }, t["6.weight"].Shape);
        Assert.Equal(DType.Int32, t["1.num_batches_tracked"].DType);
        Assert.Equal(0, t["1.num_batches_tracked"].ToInt32Array()[0]);
        Assert.Equal(1, t["after.1.num_batches_tracked"].ToInt32Array()[0]);
        Assert.Empty(t["loss"].Shape);
        Assert.Equal(2.314380407333374f, t["loss"].Item());
        Assert.Equal(1.1894537210464478f, t["sgd_losses"].ToArray()[4]);
    }

    [Fact]
    public void I64OutsideInt32IsRejected()
    {
        var data = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), 1L << 40);
        var e = Bad(File("{\"n\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", data));
        Assert.Contains(Source, e.Message);
        Assert.Contains("'n'", e.Message);
        Assert.Contains("1099511627776", e.Message);
    }

    [Theory]
    [InlineData(0)] [InlineData(5)] [InlineData(7)]
    public void TruncatedBeforeTheHeaderLength(int length)
    {
        var e = Bad(new byte[length]);
        Assert.Contains(Source, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        var bytes = File("{}", Array.Empty<byte>());
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 3); // the file holds only 2 header bytes
        var e = Bad(bytes);
        Assert.Contains(Source, e.Message);
        Assert.Contains("header length 3 runs past the end", e.Message);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        Assert.Contains("above the limit", Bad(bytes).Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",", "not valid JSON")]
    [InlineData("[1, 2]", "must be a JSON object")]
    [InlineData("{\"a\": 3}", "tensor 'a': expected an object")]
    [InlineData("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor 'a': missing or non-string 'dtype'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "tensor 'a': missing or non-array 'shape'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "shape entries must be integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "shape entries must be integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,4]}}", "more than 2147483647 elements")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "'data_offsets' must be an array [begin, end]")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "'data_offsets' must be an array [begin, end]")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", "must be non-negative integers")]
    [InlineData("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", "dtype 'F8_E4M3' is not supported")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "shape (2) of F32 needs 8 bytes, data_offsets [0, 4) give 4")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "begin after they end")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "data_offsets [4, 12) run past the end of the data (8 bytes)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "'a' [0, 8) and 'b' [4, 8) overlap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "names 'a' twice")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", "'__metadata__' entry 'k' must be a string")]
    public void MalformedHeaderIsRejected(string header, string problem)
    {
        var e = Bad(File(header, Floats(1f, 2f)));
        Assert.Contains(Source, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void ForeignDTypesAreReadAsFloat32OrInt32()
    {
        // BF16 1.5 (0x3FC0) and -2 (0xC000); F64 0.1 and 3; U8 0, 255; BOOL 1, 0; I8 -1; I16 -300.
        var data = new List<byte> { 0xC0, 0x3F, 0x00, 0xC0 };
        data.AddRange(BitConverter.GetBytes(0.1)); data.AddRange(BitConverter.GetBytes(3.0));
        data.AddRange(new byte[] { 0, 255, 1, 0, 0xFF });
        data.AddRange(BitConverter.GetBytes((short)-300));
        var header = "{\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[4,20]}," +
                     "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]},\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[22,24]}," +
                     "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[24,25]},\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[25,27]}}";
        var t = SafeTensors.Parse(File(header, data.ToArray()), Source);
        Assert.Equal(new[] { 1.5f, -2f }, t["bf"].ToArray());
        Assert.Equal(DType.Float32, t["d"].DType);
        Assert.Equal(new[] { 0.1f, 3f }, t["d"].ToArray());
        Assert.Equal(new[] { 0, 255 }, t["u"].ToInt32Array());
        Assert.Equal(new[] { 1, 0 }, t["b"].ToInt32Array());
        Assert.Equal(new[] { -1 }, t["i8"].ToInt32Array());
        Assert.Equal(new[] { -300 }, t["i16"].ToInt32Array());

        var e = Bad(File("{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", BitConverter.GetBytes(1e300)));
        Assert.Contains("F64 value 1E+300 at index 0 does not fit in float32", e.Message);
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nativecnn-missing-{Guid.NewGuid():N}.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void ReservedOrEmptyNamesCannotBeWritten()
    {
        var t = Tensor.Zeros(1);
        Assert.Throws<NativeCnnException>(() => SafeTensors.Serialize(new Dictionary<string, Tensor> { [SafeTensors.MetadataKey] = t }));
        Assert.Throws<NativeCnnException>(() => SafeTensors.Serialize(new Dictionary<string, Tensor> { [""] = t }));
    }
}
