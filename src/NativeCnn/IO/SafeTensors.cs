// The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end)}} plus an
// optional "__metadata__" string map, then the raw little-endian tensor bytes; offsets count from the
// first byte after the header. We read F32, F16, I32 and I64 (I64 narrowed to Int32, checked), and,
// for weights saved elsewhere, BF16 (exact in float32), F64 (narrowed to float32, checked), I16, I8,
// U8 and BOOL (as Int32); we write F32, F16 and I32.
// Must always hold: a file is validated completely (header, every entry, every byte range) before a
// single tensor is made, and every defect is a NativeCnnException naming the file and the problem,
// never an IndexOutOfRange or a silently wrong tensor.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace NativeCnn.IO;

/// <summary>Reads and writes tensors in the safetensors format (as used by PyTorch and Hugging Face).</summary>
public static class SafeTensors
{
    /// <summary>The key under which a header holds free-form string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    // The reference implementation refuses headers above 100 MB; so do we, so that a corrupt length
    // cannot make us allocate gigabytes before the JSON is even looked at.
    private const long MaxHeaderBytes = 100_000_000;

    private sealed record Entry(string Name, string DType, int[] Shape, long Begin, long End);

    /// <summary>Loads every tensor of a safetensors file (on <paramref name="device"/>, CPU if null).
    /// If <paramref name="metadata"/> is given, the header's "__metadata__" entries are added to it.</summary>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null, IDictionary<string, string>? metadata = null)
    {
        byte[] bytes;
        InputFile.Check(path, "safetensors");   // a regular file of known size, never a FIFO or device
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new FileNotFoundException($"safetensors '{path}': the file does not exist", path);
            if (info.Length > Array.MaxLength)
                throw new NativeCnnException($"safetensors '{path}': files over {Array.MaxLength} bytes are not supported, got {info.Length} bytes");
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e) when (e is not FileNotFoundException) { throw new NativeCnnException($"safetensors '{path}': cannot read the file: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new NativeCnnException($"safetensors '{path}': cannot read the file: {e.Message}"); }
        return Parse(bytes, path, device, metadata);
    }

    /// <summary>Parses safetensors bytes; <paramref name="source"/> names them in error messages.</summary>
    public static Dictionary<string, Tensor> Parse(ReadOnlySpan<byte> bytes, string source, Device? device = null, IDictionary<string, string>? metadata = null)
    {
        string Fail(string problem) => $"safetensors '{source}': {problem}";

        if (bytes.Length < 8)
            throw new NativeCnnException(Fail($"truncated: the file has {bytes.Length} bytes, fewer than the 8-byte header length"));
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes)
            throw new NativeCnnException(Fail($"header length {headerLength} is above the limit of {MaxHeaderBytes} bytes (corrupt or not a safetensors file)"));
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new NativeCnnException(Fail($"header length {headerLength} runs past the end of the file ({bytes.Length} bytes, so at most {bytes.Length - 8})"));
        var header = bytes.Slice(8, (int)headerLength);
        var data = bytes[(8 + (int)headerLength)..];

        var entries = ParseHeader(header, data.Length, Fail, metadata);

        // Byte ranges must not share bytes: two tensors over one range means a corrupt writer.
        var byStart = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < byStart.Count; i++)
            if (byStart[i].Begin < byStart[i - 1].End)
                throw new NativeCnnException(Fail($"tensors '{byStart[i - 1].Name}' [{byStart[i - 1].Begin}, {byStart[i - 1].End}) and '{byStart[i].Name}' [{byStart[i].Begin}, {byStart[i].End}) overlap"));

        // Everything checks out: now make the tensors. They outlive any MemoryScope the caller is in.
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var raw = data.Slice((int)e.Begin, (int)(e.End - e.Begin));
            result[e.Name] = MakeTensor(e, raw, device, Fail);
        }
        return result;
    }

    private static List<Entry> ParseHeader(ReadOnlySpan<byte> header, int dataLength, Func<string, string> fail, IDictionary<string, string>? metadata)
    {
        JsonDocument doc;
        try
        {
            // The format allows the header to be padded with trailing spaces; JSON ignores them.
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e) { throw new NativeCnnException(fail($"the header is not valid JSON: {e.Message}")); }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new NativeCnnException(fail($"the header must be a JSON object, got {doc.RootElement.ValueKind}"));
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw new NativeCnnException(fail($"the header names '{prop.Name}' twice"));
                if (prop.Name == MetadataKey)
                {
                    ReadMetadata(prop.Value, fail, metadata);
                    continue;
                }
                entries.Add(ParseEntry(prop.Name, prop.Value, dataLength, fail));
            }
            return entries;
        }
    }

    private static void ReadMetadata(JsonElement value, Func<string, string> fail, IDictionary<string, string>? metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new NativeCnnException(fail($"'{MetadataKey}' must be an object of strings, got {value.ValueKind}"));
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new NativeCnnException(fail($"'{MetadataKey}' entry '{m.Name}' must be a string, got {m.Value.ValueKind}"));
            if (metadata is not null) metadata[m.Name] = m.Value.GetString()!;
        }
    }

    private static Entry ParseEntry(string name, JsonElement value, int dataLength, Func<string, string> fail)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new NativeCnnException(fail($"tensor '{name}': expected an object with dtype, shape and data_offsets, got {value.ValueKind}"));

        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new NativeCnnException(fail($"tensor '{name}': missing or non-string 'dtype'"));
        string dtype = dtypeEl.GetString()!;
        int elementSize = dtype switch
        {
            "F32" or "I32" => 4,
            "F16" or "BF16" or "I16" => 2,
            "I64" or "F64" => 8,
            "I8" or "U8" or "BOOL" => 1,
            _ => throw new NativeCnnException(fail($"tensor '{name}': dtype '{dtype}' is not supported (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)")),
        };

        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new NativeCnnException(fail($"tensor '{name}': missing or non-array 'shape'"));
        var shape = new int[shapeEl.GetArrayLength()];
        int k = 0;
        foreach (var s in shapeEl.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt32(out int size) || size < 0)
                throw new NativeCnnException(fail($"tensor '{name}': shape entries must be integers in 0..{int.MaxValue}, got {s.GetRawText()}"));
            shape[k++] = size;
        }
        // Check the count as it grows: a hostile shape must not overflow into a small byte count.
        long numel = 1;
        foreach (var s in shape)
        {
            numel *= s;
            if (numel > int.MaxValue)
                throw new NativeCnnException(fail($"tensor '{name}': shape {NativeCnn.Shape.Format(shape)} has more than {int.MaxValue} elements"));
        }

        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new NativeCnnException(fail($"tensor '{name}': 'data_offsets' must be an array [begin, end]"));
        var offsets = new long[2];
        for (int i = 0; i < 2; i++)
        {
            var o = offEl[i];
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offsets[i]) || offsets[i] < 0)
                throw new NativeCnnException(fail($"tensor '{name}': data_offsets must be non-negative integers, got {offEl.GetRawText()}"));
        }
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw new NativeCnnException(fail($"tensor '{name}': data_offsets [{begin}, {end}) begin after they end"));
        if (end > dataLength)
            throw new NativeCnnException(fail($"tensor '{name}': data_offsets [{begin}, {end}) run past the end of the data ({dataLength} bytes)"));
        long expected = numel * elementSize;
        if (end - begin != expected)
            throw new NativeCnnException(fail($"tensor '{name}': shape {NativeCnn.Shape.Format(shape)} of {dtype} needs {expected} bytes, data_offsets [{begin}, {end}) give {end - begin}"));

        return new Entry(name, dtype, shape, begin, end);
    }

    private static Tensor MakeTensor(Entry e, ReadOnlySpan<byte> raw, Device? device, Func<string, string> fail)
    {
        switch (e.DType)
        {
            case "F32":
            {
                var values = new float[raw.Length / 4];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device));
            }
            case "F16":
            {
                // Every float16 is exact in float32, so going through float32 loses nothing.
                var values = new float[raw.Length / 2];
                for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(2 * i)..]);
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device).To(DType.Float16));
            }
            case "I32":
            {
                var values = new int[raw.Length / 4];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(4 * i)..]);
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device));
            }
            case "I64":
            {
                // PyTorch stores labels and num_batches_tracked as int64; we hold them as Int32.
                var values = new int[raw.Length / 8];
                for (int i = 0; i < values.Length; i++)
                {
                    long v = BinaryPrimitives.ReadInt64LittleEndian(raw[(8 * i)..]);
                    if (v < int.MinValue || v > int.MaxValue)
                        throw new NativeCnnException(fail($"tensor '{e.Name}': I64 value {v} at index {i} does not fit in Int32"));
                    values[i] = (int)v;
                }
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device));
            }
            case "BF16" or "F64":
            {
                int size = e.DType == "F64" ? 8 : 2;
                var values = new float[raw.Length / size];
                for (int i = 0; i < values.Length; i++)
                {
                    if (size == 2) { values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]) << 16); continue; }
                    double d = BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
                    values[i] = (float)d;
                    if (float.IsInfinity(values[i]) && !double.IsInfinity(d))
                        throw new NativeCnnException(fail($"tensor '{e.Name}': F64 value {d} at index {i} does not fit in float32"));
                }
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device));
            }
            case "I16" or "I8" or "U8" or "BOOL":
            {
                var values = new int[e.DType == "I16" ? raw.Length / 2 : raw.Length];
                for (int i = 0; i < values.Length; i++)
                    values[i] = e.DType switch
                    {
                        "I16" => BinaryPrimitives.ReadInt16LittleEndian(raw[(2 * i)..]),
                        "I8" => (sbyte)raw[i],
                        _ => raw[i],
                    };
                return MemoryScope.Outside(() => Tensor.FromArray(values, e.Shape, device));
            }
            default:
                throw new InvalidOperationException($"internal: dtype {e.DType} passed validation but has no reader");
        }
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> (Float32 as F32, Float16 as
    /// F16, Int32 as I32), in name order, with optional string <paramref name="metadata"/>. The file is
    /// written under a temporary name and then moved into place, so a crash never leaves half a file.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(tensors, metadata);
        try { AtomicFile.Write(path, s => s.Write(bytes)); }
        catch (NativeCnnException e) { throw new NativeCnnException($"safetensors '{path}': {e.Message}"); }
    }

    /// <summary>The safetensors bytes of <paramref name="tensors"/> (see <see cref="Save"/>).</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var payloads = new List<byte[]>(names.Count);
        foreach (var name in names)
        {
            if (name.Length == 0 || name == MetadataKey)
                throw new NativeCnnException($"safetensors: a tensor cannot be named '{name}'");
            payloads.Add(Encode(name, tensors[name]));
        }

        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is not null && metadata.Count > 0)
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < names.Count; i++)
            {
                var t = tensors[names[i]];
                w.WriteStartObject(names[i]);
                w.WriteString("dtype", t.DType switch { DType.Float32 => "F32", DType.Float16 => "F16", _ => "I32" });
                w.WriteStartArray("shape");
                foreach (var s in t.Shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + payloads[i].Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += payloads[i].Length;
            }
            w.WriteEndObject();
        }

        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        int headerLength = (int)json.Length;
        int padded = (headerLength + 8 + 7) / 8 * 8 - 8;
        long total = 8L + padded + payloads.Sum(p => (long)p.Length);
        if (total > Array.MaxLength)
            throw new NativeCnnException($"safetensors: {total} bytes is more than one file buffer can hold ({Array.MaxLength})");
        var result = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.GetBuffer().AsSpan(0, headerLength).CopyTo(result.AsSpan(8));
        result.AsSpan(8 + headerLength, padded - headerLength).Fill((byte)' ');
        int at = 8 + padded;
        foreach (var p in payloads) { p.CopyTo(result, at); at += p.Length; }
        return result;
    }

    private static byte[] Encode(string name, Tensor t)
    {
        switch (t.DType)
        {
            case DType.Float32:
            {
                var v = t.ToArray();
                var b = new byte[4L * v.Length];
                for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
                return b;
            }
            case DType.Float16:
            {
                var v = t.ToArray(); // float16 -> float32 -> float16 round-trips exactly
                var b = new byte[2L * v.Length];
                for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(2 * i), (Half)v[i]);
                return b;
            }
            case DType.Int32:
            {
                var v = t.ToInt32Array();
                var b = new byte[4L * v.Length];
                for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * i), v[i]);
                return b;
            }
            default:
                throw new NativeCnnException($"safetensors: tensor '{name}' has dtype {t.DType}, which cannot be written");
        }
    }
}
