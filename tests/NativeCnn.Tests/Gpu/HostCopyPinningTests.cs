// Host <-> device copies of the GPU backend while another thread forces compacting garbage
// collections: the host arrays must be pinned for the whole copy (GpuBackend.Upload/Download; ILGPU's
// CopyFromCPU/CopyToCPU(ref T, length) work on a raw pointer taken before they allocate). Unpinned,
// a collection that moves the array makes a download come back as zeros or an upload send stale
// memory, and the copy corrupts the managed heap (the process dies): on the simulator this was the
// "element 0 is 0" and test-host crashes of the GpuSuite's float16 GEMM cases. Without the pinning
// this test failed within its first 120 round trips in seven runs of seven (under a second each).
using NativeCnn.Backends;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class HostCopyPinningTests
{
    [Fact]
    public void Copies_SurviveCompactingCollectionsOnAnotherThread()
    {
        var gpu = G.Simulator;
        const int n = 1000, rounds = 3000;
        var floats = Enumerable.Range(1, n).Select(i => (float)i).ToArray();
        var ints = Enumerable.Range(1, n).Select(i => -i).ToArray();
        var storedFloats = gpu.FromHost(floats);
        var storedInts = gpu.FromHost(ints);
        var storedHalves = gpu.Allocate(DType.Float16, n);
        gpu.Cast(storedFloats, storedHalves);   // 1..1000 are exact in float16

        bool stop = false;
        var collector = new Thread(() =>
        {
            var junk = new List<byte[]>();
            while (!Volatile.Read(ref stop))
            {
                for (int i = 0; i < 50; i++) junk.Add(new byte[64]);   // survivors, so compaction moves things
                if (junk.Count > 5000) junk.Clear();
                GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
                // back to back, forced collections starve the copying thread (4,000 rounds took minutes);
                // a millisecond apart they still land inside copies, and the run takes under a second
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        string? failure = null;
        collector.Start();
        try
        {
            for (int round = 0; round < rounds && failure is null; round++)
            {
                _ = new byte[round % 7 * 16];   // vary where the next arrays land
                failure = RoundTrip(gpu, round, storedFloats, storedInts, storedHalves, floats, ints);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
            storedFloats.Release(); storedInts.Release(); storedHalves.Release();
        }
        Assert.True(failure is null, failure);
    }

    /// <summary>Every copy path of the backend once, each into or from a newly allocated (movable) array; the first wrong value, or null.</summary>
    private static string? RoundTrip(IBackend gpu, int round, Storage storedFloats, Storage storedInts, Storage storedHalves,
                                     float[] floats, int[] ints)
    {
        int n = floats.Length;
        var f = new float[n];
        gpu.ToHost(storedFloats, 0, f);
        if (Wrong(f, i => floats[i]) is { } a) return $"round {round}: float download, {a}";
        var h = new float[n];
        gpu.ToHost(storedHalves, 0, h);
        if (Wrong(h, i => floats[i]) is { } b) return $"round {round}: float16 download, {b}";
        var k = new int[n];
        gpu.ToHost(storedInts, 0, k);
        if (Wrong(k.Select(v => (float)v).ToArray(), i => ints[i]) is { } c) return $"round {round}: int download, {c}";

        var up = gpu.FromHost((float[])floats.Clone());
        var upInts = gpu.FromHost((int[])ints.Clone());
        try
        {
            var back = new float[n];
            gpu.ToHost(up, 0, back);
            if (Wrong(back, i => floats[i]) is { } d) return $"round {round}: float upload, {d}";
            var backInts = new int[n];
            gpu.ToHost(upInts, 0, backInts);
            if (Wrong(backInts.Select(v => (float)v).ToArray(), i => ints[i]) is { } e) return $"round {round}: int upload, {e}";
        }
        finally { up.Release(); upInts.Release(); }
        return null;
    }

    private static string? Wrong(float[] actual, Func<int, float> expected)
    {
        for (int i = 0; i < actual.Length; i++)
            if (actual[i] != expected(i)) return $"element {i} is {actual[i]}, expected {expected(i)}";
        return null;
    }
}
