// torch.save's legacy format (before torch 1.6, or _use_new_zipfile_serialization=False), in which older
// torchvision and fastai v1 weights were saved: pickles one after another (the magic number
// 0x1950a86a20f9469cfc6c, the protocol version 1001, sys_info, the object, whose tensors name their
// storages by persistent ids ('storage', type, key, location, numel, None), then the sorted storage
// keys), followed by each storage as an 8-byte little-endian element count and its little-endian bytes.
// Must hold: the same restricted unpickler and allow-list as the zip format (nothing runs); every
// storage's count and bytes are checked against the file before the first tensor is made; the file
// must end after the last storage.
using System.Buffers.Binary;
using System.Numerics;

namespace NativeCnn.IO;

public static partial class TorchCheckpoint
{
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);
    private const long LegacyProtocol = 1001;

    private static Dictionary<string, Tensor> ParseLegacy(byte[] bytes, string source, Device? device)
    {
        string Fail(string problem) => $"PyTorch file '{source}' (legacy format): {problem}";
        int pos = 0;
        var refs = new List<TorchStorageRef>();
        object? Next() => pos < bytes.Length ? TorchPickle.LoadAt(bytes, ref pos, source, refs)
                                             : throw new NativeCnnException(Fail($"ends after {bytes.Length} bytes, before all of its pickles (truncated or corrupt)"));
        var magic = Next();
        if (magic is not BigInteger m || m != LegacyMagic)
            throw new NativeCnnException($"PyTorch file '{source}': a bare pickle that is not torch.save's legacy format (its first value is a {TorchPickle.Describe(magic)}, expected the magic number 0x1950a86a20f9469cfc6c); expected a torch.save file or safetensors");
        if (Next() is not long protocol || protocol != LegacyProtocol)
            throw new NativeCnnException(Fail($"expected protocol version {LegacyProtocol} after the magic number"));
        if (Next() is not PickleDict)
            throw new NativeCnnException(Fail("expected the sys_info dict after the protocol version"));
        refs.Clear();
        var state = FindStateDict(Next(), Fail);
        if (Next() is not List<object?> keyList || keyList.Any(k => k is not string))
            throw new NativeCnnException(Fail("expected the list of storage keys after the object"));

        // every storage the object names, with its type and the elements its tensors may reach
        var types = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
        foreach (var r in refs)
        {
            if (types.TryGetValue(r.Key, out var seen) && seen.Type != r.Type)
                throw new NativeCnnException(Fail($"storage '{r.Key}' is named as both {seen.Type} and {r.Type}"));
            if (seen is not null && seen.Numel != r.Numel)
                throw new NativeCnnException(Fail($"storage '{r.Key}' is named with {seen.Numel} and with {r.Numel} elements"));
            types[r.Key] = r;
        }
        var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string key in keyList.Cast<string>())
        {
            if (!types.TryGetValue(key, out var r)) throw new NativeCnnException(Fail($"storage key '{key}' is listed but no tensor names it"));
            if (bytes.Length - pos < 8) throw new NativeCnnException(Fail($"storage '{key}': its element count runs past the end (truncated or corrupt)"));
            long count = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(pos, 8));
            pos += 8;
            int size = TorchPickle.StorageTypes[r.Type];
            if (count != r.Numel || count > (bytes.Length - pos) / size)
                throw new NativeCnnException(Fail($"storage '{key}' of {r.Type} says {count} elements; expected {r.Numel} within the {bytes.Length - pos} bytes left (truncated or corrupt)"));
            storages[key] = bytes.AsSpan(pos, (int)(count * size)).ToArray();
            pos += (int)(count * size);
        }
        if (pos != bytes.Length) throw new NativeCnnException(Fail($"{bytes.Length - pos} bytes follow the last storage (corrupt)"));

        foreach (var (name, t) in state)
        {
            if (!storages.ContainsKey(t.Storage.Key)) throw new NativeCnnException(Fail($"tensor '{name}': storage '{t.Storage.Key}' is missing from the file"));
            CheckView(name, t, Fail);
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in state)
            result[name] = MakeTensor(name, t, storages[t.Storage.Key], bigEndian: false, device, Fail);
        return result;
    }
}
