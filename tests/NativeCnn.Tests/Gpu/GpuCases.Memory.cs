// GPU memory primitives against the CPU backend: fill, upload/download, casts (float16 bit-exact
// with .NET's Half), strided copies (permutes, broadcasts, strided destinations, more than eight
// dimensions), the counter-based random fills, and buffer reuse through MemoryScope.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Memory_FillEveryDType(GpuBackend gpu)
    {
        var f = gpu.Allocate(DType.Float32, 133);
        gpu.Fill(f, 2.5f);
        Assert.All(G.Down(gpu, f), v => Assert.Equal(2.5f, v));
        var h = gpu.Allocate(DType.Float16, 70);
        gpu.Fill(h, 0.1f);
        Assert.All(G.Down(gpu, h), v => Assert.Equal((float)(Half)0.1f, v));
        var i = gpu.Allocate(DType.Int32, 65);
        gpu.Fill(i, 3.9f);
        Assert.All(G.DownInt(gpu, i), v => Assert.Equal(3, v));
        var empty = gpu.Allocate(DType.Float32, 0);
        gpu.Fill(empty, 1f);
        Assert.Empty(G.Down(gpu, empty));
    }

    public static void Memory_UploadDownloadWithOffset(GpuBackend gpu)
    {
        var data = G.Rand(1, 50);
        var s = gpu.FromHost(data);
        G.Same(data.Skip(7).Take(20).ToArray(), G.Down(gpu, s, 7, 20), "float download");
        var ints = Enumerable.Range(-20, 45).ToArray();
        var si = gpu.FromHost(ints);
        Assert.Equal(ints, G.DownInt(gpu, si));
        var asFloat = G.Down(gpu, si, 5, 3);
        Assert.Equal(new[] { -15f, -14f, -13f }, asFloat);
    }

    public static void Memory_CastsMatchCpuBitForBit(GpuBackend gpu)
    {
        // specials: signed zeros, half subnormals and their rounding, the largest half, overflow to inf,
        // exact ties (1 + 2^-11 rounds to even), NaN, infinities, ints beyond float precision
        var values = new[]
        {
            0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, 1e6f, -1e6f, 6e-8f, 3e-8f, 2.98e-8f, 1e-5f, 6.1e-5f,
            1f + 1f / 2048f, 1f + 3f / 2048f, 0.333333f, float.NaN, float.PositiveInfinity, float.NegativeInfinity,
            2.5f, -2.5f, 3e9f, -3e9f, 16777217f, 123.456f,
        }.Concat(G.Rand(2, 40, -300f, 300f)).ToArray();
        var pairs = new[]
        {
            (DType.Float32, DType.Float16), (DType.Float32, DType.Int32),
            (DType.Float16, DType.Float32), (DType.Float16, DType.Int32),
            (DType.Int32, DType.Float32), (DType.Int32, DType.Float16),
        };
        foreach (var (from, to) in pairs)
        {
            float[] On(IBackend b)
            {
                // build the source in its dtype: floats cast on the CPU backend first, ints from exact integers
                Storage src = from switch
                {
                    DType.Int32 => b.FromHost(values.Select(v => float.IsFinite(v) ? (int)Math.Clamp(v, -2e9f, 2e9f) : 0).ToArray()),
                    _ => b.FromHost(values),
                };
                if (from == DType.Float16)
                {
                    var h = b.Allocate(DType.Float16, values.Length);
                    b.Cast(src, h);
                    src = h;
                }
                var dst = G.Out(b, values.Length, to);
                b.Cast(src, dst);
                return G.Down(b, dst);
            }
            G.Same(On(G.Cpu), On(gpu), $"cast {from} -> {to}");
        }
        // and the float16 bits are .NET's round-to-nearest-even
        var hs = gpu.Allocate(DType.Float16, values.Length);
        gpu.Cast(gpu.FromHost(values), hs);
        G.Same(values.Select(v => (float)(Half)v).ToArray(), G.Down(gpu, hs), "float16 rounding");
    }

    public static void Memory_StridedCopies(GpuBackend gpu)
    {
        // (2,3,4) permuted to (4,2,3): source strides (1,12,4)
        Copies(gpu, "permute", srcLen: 24, src: (0, new[] { 1, 12, 4 }), dstLen: 24, dst: (0, new[] { 6, 3, 1 }), shape: new[] { 4, 2, 3 });
        // broadcast source (stride 0) into a dense (3,5)
        Copies(gpu, "broadcast", srcLen: 10, src: (2, new[] { 0, 1 }), dstLen: 15, dst: (0, new[] { 5, 1 }), shape: new[] { 3, 5 });
        // dense rows into a strided slice of a larger destination at an offset
        Copies(gpu, "strided destination", srcLen: 12, src: (0, new[] { 4, 1 }), dstLen: 40, dst: (3, new[] { 9, 2 }), shape: new[] { 3, 4 });
        // a contiguous block (one device-to-device copy)
        Copies(gpu, "contiguous", srcLen: 30, src: (5, new[] { 5, 1 }), dstLen: 30, dst: (10, new[] { 5, 1 }), shape: new[] { 4, 5 });
        // nine dimensions that cannot merge (a full reversal of axes): the walk is split on the host
        int[] shape9 = Enumerable.Repeat(2, 9).ToArray();
        int[] rev = Enumerable.Range(0, 9).Select(d => 1 << d).ToArray();
        int[] dense = Enumerable.Range(0, 9).Select(d => 1 << (8 - d)).ToArray();
        Copies(gpu, "nine dimensions", srcLen: 512, src: (0, rev), dstLen: 512, dst: (0, dense), shape: shape9);
        Copies(gpu, "empty", srcLen: 4, src: (0, new[] { 1, 1 }), dstLen: 4, dst: (0, new[] { 1, 1 }), shape: new[] { 0, 3 });
    }

    private static void Copies(GpuBackend gpu, string what, int srcLen, (int Offset, int[] Strides) src, int dstLen, (int Offset, int[] Strides) dst, int[] shape)
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float16, DType.Int32 })
        {
            float[] On(IBackend b)
            {
                var values = Enumerable.Range(0, srcLen).Select(i => (float)(i * 3 - 7)).ToArray();
                Storage s = dtype == DType.Int32 ? b.FromHost(values.Select(v => (int)v).ToArray()) : b.FromHost(values);
                if (dtype == DType.Float16) { var h = b.Allocate(DType.Float16, srcLen); b.Cast(s, h); s = h; }
                var d = G.Out(b, dstLen, dtype);
                b.Copy(s, src.Offset, src.Strides, d, dst.Offset, dst.Strides, shape);
                return G.Down(b, d);
            }
            G.Same(On(G.Cpu), On(gpu), $"copy {what} ({dtype})");
        }
    }

    public static void Memory_RandomMatchesCpu(GpuBackend gpu)
    {
        foreach (var n in new[] { 1, 300 })
        {
            var (cpu, g) = Both.Run(gpu, Array.Empty<float[]>(), new[] { n, n }, (b, _, o) =>
            {
                b.RandomUniform(o[0], 12345UL, -2f, 3f);
                b.RandomNormal(o[1], 987UL, 1f, 0.5f);
            });
            G.Same(cpu[0], g[0], "uniform");
            // the simulator runs .NET's Math.Log/Cos; CUDA's may differ in the last bit
            G.Close(cpu[1], g[1], 1e-6, "normal");
            Assert.All(g[0], v => Assert.InRange(v, -2f, 3f));
        }
    }

    public static void Memory_PoolReusesBuffersAfterScope(GpuBackend gpu)
    {
        int before = gpu.PooledBufferCount;
        Storage first;
        using (MemoryScope.Begin())
        {
            first = gpu.Allocate(DType.Float32, 4097);
            gpu.Fill(first, 1f);
        }
        Assert.True(first.IsReleased);
        Assert.Equal(before + 1, gpu.PooledBufferCount);
        Assert.Throws<InvalidOperationException>(() => G.Down(gpu, first));
        using (MemoryScope.Begin())
        {
            var second = gpu.Allocate(DType.Float32, 4097);
            Assert.Equal(before, gpu.PooledBufferCount);   // taken from the pool, not newly allocated
            gpu.Fill(second, 2f);
            Assert.All(G.Down(gpu, second), v => Assert.Equal(2f, v));
        }
        Assert.Equal(before + 1, gpu.PooledBufferCount);
    }
}
