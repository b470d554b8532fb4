// Reads PyTorch's own weight files (.pth / .pt written by torch.save since 1.6; the legacy format of
// older files is read by TorchCheckpoint.Legacy.cs with the same unpickler): a zip archive holding
// "<name>/data.pkl" (the pickled object, read by the restricted TorchPickle), "<name>/data/<key>" (one
// raw little-endian storage per key), "<name>/version" and, from torch 2.1, "<name>/byteorder".
// Accepts a state_dict, or a checkpoint dict whose "state_dict" / "model" / "model_state_dict" entry
// is one. float64 storages become float32 (checked for overflow), float16 stays float16, bfloat16
// becomes float32 (exact), and every integer or bool storage becomes int32 (checked), as NativeCnn's
// modules hold them (e.g. num_batches_tracked). Views (storage offset, any strides, shared storages)
// are gathered into dense tensors.
// Must always hold: nothing from the file is executed; the file is checked completely (every tensor's
// storage, its size and the view's bounds) before the first tensor is made; every defect is a
// NativeCnnException naming the file and the problem.
using System.Buffers.Binary;
using System.IO.Compression;

namespace NativeCnn.IO;

/// <summary>Loads state_dicts from PyTorch .pth/.pt files without Python (like torch.load(weights_only=True)).</summary>
public static partial class TorchCheckpoint
{
    /// <summary>Entries of a checkpoint dict that may hold the state_dict, in the order they are tried.</summary>
    public static readonly IReadOnlyList<string> StateDictKeys = new[] { "state_dict", "model", "model_state_dict" };

    /// <summary>The tensors of the state_dict in the torch.save file at <paramref name="path"/>, by name, in
    /// the file's order (on <paramref name="device"/>, CPU if null).</summary>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null)
    {
        var bytes = InputFile.ReadAll(path, "PyTorch file");   // a regular file of known size, never a FIFO
        return Parse(bytes, path, device);
    }

    /// <summary>Loads a .pth/.pt file or a .safetensors file, chosen by the file's first bytes.</summary>
    public static Dictionary<string, Tensor> LoadAny(string path, Device? device = null)
    {
        byte[] head = new byte[9];
        int got;
        try
        {
            using var f = InputFile.Open(path, "weights");
            got = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (FileNotFoundException) { throw new FileNotFoundException($"weights '{path}': the file does not exist", path); }
        catch (IOException e) { throw new NativeCnnException($"weights '{path}': cannot read the file: {e.Message}"); }
        if (got >= 2 && head[0] == 'P' && head[1] == 'K') return Load(path, device);               // torch.save (zip)
        if (got >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5) return Load(path, device);     // torch.save's legacy pickles
        if (got == 9 && head[8] == '{') return SafeTensors.Load(path, device);                      // 8-byte header length, then JSON
        throw new NativeCnnException($"weights '{path}': neither a PyTorch zip archive (torch.save), a legacy torch.save pickle nor a safetensors file (first bytes {Convert.ToHexString(head.AsSpan(0, got))}); expected .pth/.pt or .safetensors weights");
    }

    /// <summary>The state with <paramref name="prefix"/> taken off every key that has it (e.g. "module." from a
    /// model saved inside torch's DataParallel, or "0." for the body of a fastai cnn_learner model); keys
    /// without it are kept as they are. Two keys that become one are an error.</summary>
    public static Dictionary<string, Tensor> StripPrefix(IReadOnlyDictionary<string, Tensor> state, string prefix)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (string.IsNullOrEmpty(prefix)) throw new NativeCnnException("TorchCheckpoint.StripPrefix: the prefix is empty");
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var from = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, t) in state)
        {
            var name = key.StartsWith(prefix, StringComparison.Ordinal) ? key[prefix.Length..] : key;
            if (!result.TryAdd(name, t))
                throw new NativeCnnException($"TorchCheckpoint.StripPrefix: keys '{from[name]}' and '{key}' both become '{name}' without '{prefix}'");
            from[name] = key;
        }
        return result;
    }

    /// <summary>Parses the bytes of a torch.save archive; <paramref name="source"/> names them in messages.</summary>
    public static Dictionary<string, Tensor> Parse(byte[] bytes, string source, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        string Fail(string problem) => $"PyTorch file '{source}': {problem}";
        if (bytes.Length >= 2 && bytes[0] == 0x80 && bytes[1] is >= 2 and <= 5) return ParseLegacy(bytes, source, device);
        CheckMagic(bytes, Fail);

        ZipArchive zip;
        try { zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read); }
        catch (InvalidDataException e) { throw new NativeCnnException(Fail($"not a readable zip archive (truncated or corrupt): {e.Message}")); }
        using (zip)
        {
            var pkl = zip.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                                            && e.FullName.Count(c => c == '/') == 1).ToList();
            if (pkl.Count != 1)
                throw new NativeCnnException(Fail($"expected one '<name>/data.pkl' entry as torch.save writes, found {pkl.Count} (entries: {string.Join(", ", zip.Entries.Take(8).Select(e => e.FullName))})"));
            string prefix = pkl[0].FullName[..^"data.pkl".Length];

            bool bigEndian = false;
            var order = zip.GetEntry(prefix + "byteorder");
            if (order is not null)
            {
                string text = System.Text.Encoding.ASCII.GetString(ReadEntry(order, 16, Fail)).Trim();
                bigEndian = text switch
                {
                    "little" => false,
                    "big" => true,
                    _ => throw new NativeCnnException(Fail($"byteorder must be 'little' or 'big', got '{text}'")),
                };
            }

            object? root = TorchPickle.Load(ReadEntry(pkl[0], int.MaxValue, Fail), source);
            var state = FindStateDict(root, Fail);

            // Validate every tensor (storage present, right size, view in bounds) before making any.
            var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (name, t) in state)
            {
                if (!storages.ContainsKey(t.Storage.Key))
                {
                    var entry = zip.GetEntry(prefix + "data/" + t.Storage.Key)
                        ?? throw new NativeCnnException(Fail($"tensor '{name}': storage '{prefix}data/{t.Storage.Key}' is missing from the archive"));
                    long need = t.Storage.Numel * TorchPickle.StorageTypes[t.Storage.Type];
                    var raw = ReadEntry(entry, need, Fail);
                    if (raw.Length != need)
                        throw new NativeCnnException(Fail($"tensor '{name}': storage '{t.Storage.Key}' of {t.Storage.Numel} x {t.Storage.Type} needs {need} bytes, the archive holds {raw.Length} (truncated or corrupt)"));
                    storages[t.Storage.Key] = raw;
                }
                CheckView(name, t, Fail);
            }

            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, t) in state)
                result[name] = MakeTensor(name, t, storages[t.Storage.Key], bigEndian, device, Fail);
            return result;
        }
    }

    private static void CheckMagic(byte[] b, Func<string, string> fail)
    {
        if (b.Length >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return;
        string head = Convert.ToHexString(b.AsSpan(0, Math.Min(8, b.Length)));
        string what = b.Length switch
        {
            0 => "the file is empty",
            < 4 => $"the file has only {b.Length} bytes",
            _ when b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G' => "it is a PNG image",
            _ when b[0] == 0xFF && b[1] == 0xD8 => "it is a JPEG image",
            _ when b.Length > 9 && b[8] == '{' => "it looks like a safetensors file: load it with SafeTensors.Load",
            _ => "it is not a zip archive",
        };
        throw new NativeCnnException(fail($"not a PyTorch weight file: expected a zip archive (starting 504B0304) as torch.save writes, got bytes {head}; {what}"));
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, long limit, Func<string, string> fail)
    {
        if (entry.Length > limit || entry.Length > Array.MaxLength)
            throw new NativeCnnException(fail($"entry '{entry.FullName}' has {entry.Length} bytes, more than the {limit} expected"));
        try
        {
            using var s = entry.Open();
            var buf = new byte[entry.Length];
            int n = s.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false);
            return n == buf.Length ? buf : buf[..n];
        }
        catch (InvalidDataException e) { throw new NativeCnnException(fail($"entry '{entry.FullName}' cannot be read (truncated or corrupt): {e.Message}")); }
        catch (IOException e) { throw new NativeCnnException(fail($"entry '{entry.FullName}' cannot be read (truncated or corrupt): {e.Message}")); }
    }

    private static List<(string Name, TorchTensorRef Tensor)> FindStateDict(object? root, Func<string, string> fail)
    {
        if (root is not PickleDict dict)
            throw new NativeCnnException(fail($"expected a state_dict (a dict of tensors), the file holds a {TorchPickle.Describe(root)}"));
        if (!dict.Items.Any(kv => kv.Value is TorchTensorRef))
        {
            foreach (var key in StateDictKeys)
                if (dict.TryGet(key, out var inner) && inner is PickleDict d) return Tensors(d, $"entry '{key}'", fail);
            var keys = string.Join(", ", dict.Items.Take(12).Select(kv => kv.Key?.ToString()));
            throw new NativeCnnException(fail($"expected a state_dict (a dict of tensors) or a checkpoint dict with a {string.Join("/", StateDictKeys)} entry; the dict holds no tensors, keys: {keys}"));
        }
        return Tensors(dict, "the state_dict", fail);
    }

    private static List<(string, TorchTensorRef)> Tensors(PickleDict d, string where, Func<string, string> fail)
    {
        var list = new List<(string, TorchTensorRef)>();
        foreach (var (k, v) in d.Items)
        {
            if (k is not string name) throw new NativeCnnException(fail($"{where}: keys must be strings, got {TorchPickle.Describe(k)}"));
            if (v is not TorchTensorRef t) throw new NativeCnnException(fail($"{where}: '{name}' is a {TorchPickle.Describe(v)}, expected a tensor"));
            list.Add((name, t));
        }
        return list;
    }

    private static void CheckView(string name, TorchTensorRef t, Func<string, string> fail)
    {
        long numel = 1;
        foreach (var s in t.Size)
        {
            numel *= s;
            if (numel > int.MaxValue) throw new NativeCnnException(fail($"tensor '{name}': shape {Shape.Format(t.Size)} has more than {int.MaxValue} elements"));
        }
        if (numel == 0) return;
        if (t.Offset < 0 || t.Stride.Any(s => s < 0))
            throw new NativeCnnException(fail($"tensor '{name}': negative storage offset {t.Offset} or stride ({string.Join(", ", t.Stride)})"));
        long last = t.Offset;
        for (int i = 0; i < t.Size.Length; i++) last += (t.Size[i] - 1L) * t.Stride[i];
        if (last >= t.Storage.Numel)
            throw new NativeCnnException(fail($"tensor '{name}': the view (offset {t.Offset}, shape {Shape.Format(t.Size)}, stride ({string.Join(", ", t.Stride)})) reaches element {last} of a storage of {t.Storage.Numel}"));
    }

    /// <summary>Storage element index of every tensor element, in row-major order.</summary>
    private static long[] Gather(TorchTensorRef t)
    {
        int numel = (int)Shape.Numel(t.Size);
        var index = new long[numel];
        var pos = new int[t.Size.Length];
        for (int i = 0; i < numel; i++)
        {
            long at = t.Offset;
            for (int d = 0; d < pos.Length; d++) at += pos[d] * t.Stride[d];
            index[i] = at;
            for (int d = pos.Length - 1; d >= 0; d--)
            {
                if (++pos[d] < t.Size[d]) break;
                pos[d] = 0;
            }
        }
        return index;
    }

    private static Tensor MakeTensor(string name, TorchTensorRef t, byte[] raw, bool bigEndian, Device? device, Func<string, string> fail)
    {
        var index = Gather(t);
        var shape = t.Size;
        int size = TorchPickle.StorageTypes[t.Storage.Type];
        var src = raw.AsSpan();
        // Reads element i of the storage as the file's byte order has it.
        ReadOnlySpan<byte> El(ReadOnlySpan<byte> s, long i)
        {
            var e = s.Slice((int)(i * size), size);
            if (!bigEndian || size == 1) return e;
            var copy = e.ToArray();
            Array.Reverse(copy);
            return copy;
        }
        switch (t.Storage.Type)
        {
            case "FloatStorage" or "DoubleStorage" or "HalfStorage" or "BFloat16Storage":
            {
                var v = new float[index.Length];
                for (int i = 0; i < v.Length; i++)
                {
                    var e = El(src, index[i]);
                    v[i] = t.Storage.Type switch
                    {
                        "FloatStorage" => BinaryPrimitives.ReadSingleLittleEndian(e),
                        "HalfStorage" => (float)BinaryPrimitives.ReadHalfLittleEndian(e),
                        "BFloat16Storage" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(e) << 16),
                        _ => Narrow(BinaryPrimitives.ReadDoubleLittleEndian(e), name, i, fail),
                    };
                }
                var tensor = MemoryScope.Outside(() => Tensor.FromArray(v, shape, device));
                return t.Storage.Type == "HalfStorage" ? MemoryScope.Outside(() => tensor.To(DType.Float16)) : tensor;
            }
            default:
            {
                var v = new int[index.Length];
                for (int i = 0; i < v.Length; i++)
                {
                    var e = El(src, index[i]);
                    long x = t.Storage.Type switch
                    {
                        "LongStorage" => BinaryPrimitives.ReadInt64LittleEndian(e),
                        "IntStorage" => BinaryPrimitives.ReadInt32LittleEndian(e),
                        "ShortStorage" => BinaryPrimitives.ReadInt16LittleEndian(e),
                        "CharStorage" => (sbyte)e[0],
                        _ => e[0], // ByteStorage, BoolStorage
                    };
                    if (x < int.MinValue || x > int.MaxValue)
                        throw new NativeCnnException(fail($"tensor '{name}': int64 value {x} at index {i} does not fit in Int32"));
                    v[i] = (int)x;
                }
                return MemoryScope.Outside(() => Tensor.FromArray(v, shape, device));
            }
        }
    }

    private static float Narrow(double d, string name, int i, Func<string, string> fail)
    {
        float f = (float)d;
        if (float.IsInfinity(f) && !double.IsInfinity(d))
            throw new NativeCnnException(fail($"tensor '{name}': float64 value {d} at index {i} does not fit in float32"));
        return f;
    }
}
