// KernelProfile on the simulator backend: while attached, every launch is booked to its kernel (GEMMs
// by shape, with the split-k sum as a kernel of its own), calls are counted, the table lists them,
// and after EndProfile nothing more is booked.
using NativeCnn.Backends;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class KernelProfileTests
{
    [Fact]
    public void BooksEachLaunchToItsKernelUntilEnded()
    {
        var gpu = G.Simulator;
        var a = G.Up(gpu, G.Rand(1, 20 * 30));
        var b = G.Up(gpu, G.Rand(2, 30 * 10));
        var c = G.Out(gpu, 20 * 10);
        gpu.Synchronize();
        gpu.Profile = new KernelProfile();
        KernelProfile profile;
        try
        {
            gpu.Fill(c, 1f);
            gpu.Fill(c, 2f);
            gpu.Gemm(false, true, 20, 10, 30, 1f, a, 0, 30, b, 0, 30, 0f, c, 0, 10);
        }
        finally { profile = gpu.EndProfile()!; }
        Assert.Null(gpu.Profile);

        var byKernel = profile.Entries.ToDictionary(e => e.Kernel);
        Assert.Equal(2, byKernel["fillF32"].Calls);
        Assert.Equal(1, byKernel["gemm 20x10x30 tB"].Calls);
        Assert.Equal(2, profile.Entries.Count);
        Assert.All(profile.Entries, e => Assert.True(e.Ms > 0));
        Assert.Equal(profile.Entries.Sum(e => e.Ms), profile.TotalMs, 9);
        string table = profile.Format();
        Assert.Contains("| fillF32 | 2 |", table);
        Assert.Contains("| total | 3 |", table);

        gpu.Fill(c, 3f);   // not profiled any more
        Assert.Equal(3, profile.Entries.Sum(e => e.Calls));
    }
}
