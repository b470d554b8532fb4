// A restricted unpickler for the data.pkl of a torch.save archive (and the pickles of the legacy,
// pre-1.6 format, read one after another by LoadAt): it understands the pickle opcodes
// (protocols 2 to 5) that a state_dict or a plain checkpoint dict needs, and builds plain values:
// string, long, BigInteger, double, bool, null, byte[], List<object?> (list), object?[] (tuple),
// PickleDict (dict / OrderedDict), HashSet<object?> (set), and TorchStorageRef / TorchTensorRef for
// tensors. Like torch.load(weights_only=True) it resolves only an allow-list of globals
// (collections.OrderedDict, set, torch._utils._rebuild_tensor_v2 and friends, torch.*Storage).
// Must always hold: nothing in the file is ever executed or instantiated beyond those values; any other
// global, opcode or malformed byte is a NativeCnnException naming the file and the problem.
using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace NativeCnn.IO;

/// <summary>A pickled dict or collections.OrderedDict, in insertion order.</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = new();
    public List<KeyValuePair<object?, object?>> Items { get; } = new();

    public void Set(object? key, object? value)
    {
        if (key is null || key is List<object?> || key is PickleDict)
            throw new InvalidDataException($"a dict key must be hashable, got {TorchPickle.Describe(key)}");
        var k = key is object?[] tuple ? string.Join("\u0001", tuple.Select(t => t?.ToString())) : key;
        if (_index.TryGetValue(k, out int at)) Items[at] = new(key, value);
        else { _index[k] = Items.Count; Items.Add(new(key, value)); }
    }

    public bool TryGet(string key, out object? value)
    {
        if (_index.TryGetValue(key, out int at)) { value = Items[at].Value; return true; }
        value = null;
        return false;
    }
}

/// <summary>A typed storage named by a persistent id: ('storage', torch.FloatStorage, key, location, numel).</summary>
internal sealed record TorchStorageRef(string Key, string Type, long Numel);

/// <summary>A tensor view of a storage, as torch._utils._rebuild_tensor_v2 describes it.</summary>
internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, int[] Size, long[] Stride);

internal static class TorchPickle
{
    /// <summary>Element size in bytes of each storage type a state_dict may hold.</summary>
    public static readonly IReadOnlyDictionary<string, int> StorageTypes = new Dictionary<string, int>
    {
        ["FloatStorage"] = 4, ["DoubleStorage"] = 8, ["HalfStorage"] = 2, ["BFloat16Storage"] = 2,
        ["LongStorage"] = 8, ["IntStorage"] = 4, ["ShortStorage"] = 2, ["CharStorage"] = 1,
        ["ByteStorage"] = 1, ["BoolStorage"] = 1,
    };

    private sealed record Global(string Module, string Name)
    {
        public override string ToString() => Module + "." + Name;
    }

    private static readonly HashSet<string> Callables = new()
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        // protocol 2 (the legacy format's default) pickles a set as set([...]): a plain value
        "builtins.set", "__builtin__.set",
    };

    private static readonly object Mark = new();

    /// <summary>Unpickles <paramref name="data"/>; a persistent id (BINPERSID) becomes a TorchStorageRef.
    /// <paramref name="source"/> names the file in messages.</summary>
    public static object? Load(byte[] data, string source)
    {
        try { return new Reader(data, source, 0, null).Run(); }
        catch (InvalidDataException e) { throw new NativeCnnException($"PyTorch file '{source}': corrupt pickle: {e.Message}"); }
    }

    /// <summary>Unpickles the pickle starting at byte <paramref name="pos"/> of <paramref name="data"/> and moves
    /// <paramref name="pos"/> past its STOP (torch.save's legacy format is several pickles in a row); every
    /// storage its persistent ids name is added to <paramref name="storages"/>.</summary>
    public static object? LoadAt(byte[] data, ref int pos, string source, List<TorchStorageRef>? storages = null)
    {
        var reader = new Reader(data, source, pos, storages);
        try
        {
            var result = reader.Run();
            pos = reader.Position;
            return result;
        }
        catch (InvalidDataException e) { throw new NativeCnnException($"PyTorch file '{source}': corrupt pickle: {e.Message}"); }
    }

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        string s => $"str '{s}'",
        long or BigInteger => $"int {v}",
        double d => $"float {d}",
        bool b => b ? "True" : "False",
        object?[] t => $"tuple of {t.Length}",
        List<object?> l => $"list of {l.Count}",
        PickleDict d => $"dict of {d.Items.Count}",
        TorchTensorRef => "tensor",
        TorchStorageRef => "storage",
        _ => v.GetType().Name,
    };

    private sealed class Reader
    {
        private readonly byte[] _d;
        private readonly string _source;
        private int _pos;
        private readonly List<object?> _stack = new();
        private readonly Dictionary<long, object?> _memo = new();

        private readonly List<TorchStorageRef>? _storages;

        public Reader(byte[] data, string source, int start, List<TorchStorageRef>? storages) { _d = data; _source = source; _pos = start; _storages = storages; }

        public int Position => _pos;

        private ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || n > _d.Length - _pos)
                throw new InvalidDataException($"truncated: {n} bytes needed at byte {_pos}, the pickle has {_d.Length}");
            var s = _d.AsSpan(_pos, (int)n);
            _pos += (int)n;
            return s;
        }

        private byte U8() => Take(1)[0];
        private object? Pop()
        {
            if (_stack.Count == 0) throw new InvalidDataException($"stack underflow at byte {_pos}");
            var v = _stack[^1];
            _stack.RemoveAt(_stack.Count - 1);
            if (ReferenceEquals(v, Mark)) throw new InvalidDataException($"unexpected MARK at byte {_pos}");
            return v;
        }
        private object? Top() => _stack.Count > 0 && !ReferenceEquals(_stack[^1], Mark) ? _stack[^1] : throw new InvalidDataException($"stack underflow at byte {_pos}");

        /// <summary>Pops everything above the last MARK (and the mark).</summary>
        private List<object?> PopMark()
        {
            int m = _stack.FindLastIndex(v => ReferenceEquals(v, Mark));
            if (m < 0) throw new InvalidDataException($"no MARK on the stack at byte {_pos}");
            var items = _stack.GetRange(m + 1, _stack.Count - m - 1);
            _stack.RemoveRange(m, _stack.Count - m);
            return items;
        }

        private string Utf8(long n) => Encoding.UTF8.GetString(Take(n));

        public object? Run()
        {
            while (true)
            {
                int at = _pos;
                byte op = U8();
                switch (op)
                {
                    case 0x80: U8(); break;                                            // PROTO
                    case 0x95: Take(8); break;                                         // FRAME (length only)
                    case 0x2e: return Pop();                                           // STOP: the top is the result, as in Python
                    case 0x28: _stack.Add(Mark); break;                                // MARK
                    case 0x7d: _stack.Add(new PickleDict()); break;                    // EMPTY_DICT
                    case 0x5d: _stack.Add(new List<object?>()); break;                 // EMPTY_LIST
                    case 0x29: _stack.Add(Array.Empty<object?>()); break;              // EMPTY_TUPLE
                    case 0x8f: _stack.Add(new HashSet<object?>()); break;              // EMPTY_SET
                    case 0x4e: _stack.Add(null); break;                                // NONE
                    case 0x88: _stack.Add(true); break;                                // NEWTRUE
                    case 0x89: _stack.Add(false); break;                               // NEWFALSE
                    case 0x4b: _stack.Add((long)U8()); break;                          // BININT1
                    case 0x4d: _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                    case 0x4a: _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;  // BININT
                    case 0x8a: _stack.Add(Long(U8())); break;                          // LONG1
                    case 0x8b: _stack.Add(Long(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))); break; // LONG4
                    case 0x47: _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                    case 0x8c: _stack.Add(Utf8(U8())); break;                          // SHORT_BINUNICODE
                    case 0x58: _stack.Add(Utf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // BINUNICODE
                    case 0x8d: _stack.Add(Utf8(checked((long)BinaryPrimitives.ReadUInt64LittleEndian(Take(8))))); break; // BINUNICODE8
                    case 0x43: _stack.Add(Take(U8()).ToArray()); break;                // SHORT_BINBYTES
                    case 0x42: _stack.Add(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray()); break; // BINBYTES
                    case 0x85: _stack.Add(new[] { Pop() }); break;                     // TUPLE1
                    case 0x86: { var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b }); break; } // TUPLE2
                    case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b, c }); break; } // TUPLE3
                    case 0x74: _stack.Add(PopMark().ToArray()); break;                 // TUPLE
                    case 0x91: _stack.Add(new HashSet<object?>(PopMark())); break;     // FROZENSET
                    case 0x61: { var v = Pop(); AsList(Top(), "APPEND").Add(v); break; } // APPEND
                    case 0x65: { var vs = PopMark(); AsList(Top(), "APPENDS").AddRange(vs); break; } // APPENDS
                    case 0x90: { var vs = PopMark(); AsSet(Top()).UnionWith(vs); break; } // ADDITEMS
                    case 0x73: { var v = Pop(); var k = Pop(); AsDict(Top(), "SETITEM").Set(k, v); break; } // SETITEM
                    case 0x75:                                                         // SETITEMS
                    {
                        var kv = PopMark();
                        if (kv.Count % 2 != 0) throw new InvalidDataException($"SETITEMS with an odd number ({kv.Count}) of items at byte {at}");
                        var d = AsDict(Top(), "SETITEMS");
                        for (int i = 0; i < kv.Count; i += 2) d.Set(kv[i], kv[i + 1]);
                        break;
                    }
                    case 0x30: Pop(); break;                                           // POP
                    case 0x31: PopMark(); break;                                       // POP_MARK
                    case 0x32: _stack.Add(Top()); break;                               // DUP
                    case 0x71: _memo[U8()] = Top(); break;                             // BINPUT
                    case 0x72: _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break; // LONG_BINPUT
                    case 0x94: _memo[_memo.Count] = Top(); break;                      // MEMOIZE
                    case 0x68: _stack.Add(Memo(U8())); break;                          // BINGET
                    case 0x6a: _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                    case 0x63: _stack.Add(Resolve(Line(), Line())); break;             // GLOBAL
                    case 0x93:                                                         // STACK_GLOBAL
                    {
                        var name = Pop() as string; var module = Pop() as string;
                        if (name is null || module is null) throw new InvalidDataException($"STACK_GLOBAL needs two strings at byte {at}");
                        _stack.Add(Resolve(module, name));
                        break;
                    }
                    case 0x52: { var args = Pop(); var fn = Pop(); _stack.Add(Reduce(fn, args, at)); break; } // REDUCE
                    case 0x62: { var state = Pop(); Build(Top(), state, at); break; } // BUILD
                    case 0x51: { var s = PersistentLoad(Pop(), at); _storages?.Add(s); _stack.Add(s); break; } // BINPERSID
                    default:
                        throw new NativeCnnException($"PyTorch file '{_source}': pickle opcode 0x{op:x2} at byte {at} is not one a state_dict needs; NativeCnn reads only state_dicts (like torch.load weights_only=True)");
                }
            }
        }

        private object? Memo(long key) =>
            _memo.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"memo key {key} read before it was written (byte {_pos})");

        private object Long(int length)
        {
            if (length < 0) throw new InvalidDataException($"LONG4 with a negative length {length}");
            var bytes = Take(length);
            var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
            return big >= long.MinValue && big <= long.MaxValue ? (long)big : big;
        }

        private string Line()
        {
            int end = Array.IndexOf(_d, (byte)'\n', _pos);
            if (end < 0) throw new InvalidDataException($"GLOBAL without a newline at byte {_pos}");
            var s = Encoding.UTF8.GetString(_d, _pos, end - _pos);
            _pos = end + 1;
            return s;
        }

        private Global Resolve(string module, string name)
        {
            var g = new Global(module, name);
            bool storage = module == "torch" && StorageTypes.ContainsKey(name);
            if (!storage && !Callables.Contains(g.ToString()))
                throw new NativeCnnException($"forbidden global {g} in {Path.GetFileName(_source)}: NativeCnn reads only state_dicts (like torch.load weights_only=True); save model.state_dict() with torch.save, or as safetensors");
            return g;
        }

        private static List<object?> AsList(object? v, string op) => v as List<object?> ?? throw new InvalidDataException($"{op} on a {Describe(v)}, expected a list");
        private static PickleDict AsDict(object? v, string op) => v as PickleDict ?? throw new InvalidDataException($"{op} on a {Describe(v)}, expected a dict");
        private static HashSet<object?> AsSet(object? v) => v as HashSet<object?> ?? throw new InvalidDataException($"ADDITEMS on a {Describe(v)}, expected a set");

        private object? Reduce(object? fn, object? args, int at)
        {
            if (fn is not Global g) throw new InvalidDataException($"REDUCE on a {Describe(fn)} at byte {at}, expected a global");
            if (args is not object?[] a) throw new InvalidDataException($"REDUCE arguments must be a tuple, got {Describe(args)} at byte {at}");
            switch (g.ToString())
            {
                case "collections.OrderedDict":
                {
                    var d = new PickleDict();
                    if (a.Length == 1 && a[0] is List<object?> pairs)
                        foreach (var p in pairs)
                            if (p is object?[] { Length: 2 } kv) d.Set(kv[0], kv[1]);
                            else throw new InvalidDataException($"OrderedDict item must be a pair, got {Describe(p)}");
                    else if (a.Length != 0) throw new InvalidDataException($"OrderedDict called with {a.Length} arguments");
                    return d;
                }
                case "builtins.set":
                case "__builtin__.set":
                    if (a.Length == 0) return new HashSet<object?>();
                    return a.Length == 1 && a[0] is List<object?> items ? new HashSet<object?>(items)
                        : throw new InvalidDataException($"{g} needs one list argument, got {a.Length} arguments");
                case "torch._utils._rebuild_tensor_v2":
                case "torch._utils._rebuild_tensor":
                    if (a.Length < 4) throw new InvalidDataException($"{g} needs (storage, offset, size, stride), got {a.Length} arguments");
                    return Tensor(a[0], a[1], a[2], a[3], g);
                case "torch._utils._rebuild_parameter":
                case "torch._utils._rebuild_parameter_with_state":
                    // A Parameter is its data as far as weights go; requires_grad and hooks are dropped.
                    return a.Length >= 1 && a[0] is TorchTensorRef t ? t : throw new InvalidDataException($"{g} needs a tensor as its first argument");
                default:
                    throw new NativeCnnException($"PyTorch file '{_source}': {g} cannot be called (byte {at}); NativeCnn reads only state_dicts (like torch.load weights_only=True)");
            }
        }

        private static TorchTensorRef Tensor(object? storage, object? offset, object? size, object? stride, Global g)
        {
            if (storage is not TorchStorageRef s) throw new InvalidDataException($"{g}: the storage argument is a {Describe(storage)}");
            if (offset is not long off) throw new InvalidDataException($"{g}: the offset is a {Describe(offset)}");
            var sz = Ints(size, "size", g);
            var st = Ints(stride, "stride", g);
            if (sz.Length != st.Length) throw new InvalidDataException($"{g}: size has {sz.Length} dimensions, stride {st.Length}");
            var shape = new int[sz.Length];
            for (int i = 0; i < sz.Length; i++)
                shape[i] = sz[i] is >= 0 and <= int.MaxValue ? (int)sz[i] : throw new InvalidDataException($"{g}: size [{string.Join(", ", sz)}] has an entry outside 0..{int.MaxValue}");
            return new TorchTensorRef(s, off, shape, st);
        }

        private static long[] Ints(object? v, string what, Global g)
        {
            if (v is not object?[] t) throw new InvalidDataException($"{g}: {what} must be a tuple, got {Describe(v)}");
            return t.Select(x => x is long l ? l : throw new InvalidDataException($"{g}: {what} holds a {Describe(x)}")).ToArray();
        }

        private static void Build(object? target, object? state, int at)
        {
            // torch's state_dict is an OrderedDict with a _metadata attribute (per-module versions): the
            // weights do not depend on it, so the attribute is dropped.
            if (target is PickleDict && (state is PickleDict || state is null)) return;
            throw new InvalidDataException($"BUILD on a {Describe(target)} with a {Describe(state)} at byte {at}; only a dict's attributes may be set");
        }

        private static TorchStorageRef PersistentLoad(object? pid, int at)
        {
            // the legacy format adds a sixth entry, view_metadata: None (views of storages ended with torch 1.0)
            if (pid is not object?[] { Length: 5 or 6 } t || t[0] as string != "storage")
                throw new InvalidDataException($"persistent id at byte {at} must be ('storage', type, key, location, numel), got {Describe(pid)}");
            if (t.Length == 6 && t[5] is not null)
                throw new InvalidDataException($"persistent id at byte {at}: a storage view ({Describe(t[5])}) of torch before 1.0 is not supported; re-save the file with a current torch");
            if (t[1] is not Global { Module: "torch" } g || !StorageTypes.ContainsKey(g.Name))
                throw new InvalidDataException($"persistent id at byte {at}: unknown storage type {Describe(t[1])}");
            if (t[2] is not string key) throw new InvalidDataException($"persistent id at byte {at}: the key is a {Describe(t[2])}");
            if (t[4] is not long numel || numel < 0) throw new InvalidDataException($"persistent id at byte {at}: numel is {Describe(t[4])}");
            return new TorchStorageRef(key, g.Name, numel);
        }
    }
}
