// GPU lab cases (compiled into the lab with the test suite's GpuCases, run by its "cases" section): the
// wgmma GEMM (Kernels/GemmFp16Wgmma.cs: with wgmma emulated through its descriptors
// on the simulator, on the instruction on a compute capability 9.0 device) against float64 references,
// and the wgmma probe (Kernels/WgmmaProbe.cs): on a compute capability 9.0 device, one
// m64n8k16 wgmma with both readings of a descriptor's byte offsets. The reading the kernel documents
// (LBO along k, SBO along m or n) must give D = A B exactly, every element where the documented
// accumulator layout puts it; the other reading must not. A failure says what the GPU did instead (which
// reading gave the product, where the elements landed), which is what the probe is for; with B placed
// MN-major it also writes down (lab.log), without asserting it, which offset steps along k there.
// Everywhere the host side is checked: the descriptor's bit fields and the core-matrix placement.
using NativeCnn.Backends.Gpu;
using NativeCnn.GpuLab;
using NativeCnn.GpuLab.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static partial class GpuCases
{
    public static void Wgmma_ProbeDescriptorsAndAccumulatorLayout(GpuBackend gpu)
    {
        // the descriptor: address, LBO, SBO in 16-byte units at bits 0, 16, 32; the address wraps at 256 KB
        Assert.Equal(0x0000_0010_0008_0041UL, LabWgmmaKernels.WgmmaDescriptor(0x410, 128, 256));
        Assert.Equal(0x0000_0008_0010_0001UL, LabWgmmaKernels.WgmmaDescriptor(0x40010, 256, 128));
        // A's 1024 halves tile its 2 KB once, B's 128 the 256 bytes from WgmmaProbeBOffset; core matrices of 8 rows of 16 bytes
        var aOffsets = Enumerable.Range(0, 64 * 16).Select(i => LabWgmmaKernels.WgmmaProbeAOffset(i >> 4, i & 15)).ToList();
        Assert.Equal(Enumerable.Range(0, 1024).Select(i => 2 * i), aOffsets.Order());
        Assert.Equal(256 + 16 + 2, LabWgmmaKernels.WgmmaProbeAOffset(9, 1));    // core (1, 0), row 1, element 1
        Assert.Equal(128 + 4, LabWgmmaKernels.WgmmaProbeAOffset(0, 10));        // core (0, 1), element 2
        foreach (bool mnMajor in new[] { false, true })
        {
            var bOffsets = Enumerable.Range(0, 128).Select(i => LabWgmmaKernels.WgmmaProbeBOffsetOf(i & 15, i >> 4, mnMajor)).ToList();
            Assert.Equal(Enumerable.Range(0, 128).Select(i => LabWgmmaKernels.WgmmaProbeBOffset + 2 * i), bOffsets.Order());
        }
        Assert.Equal(LabWgmmaKernels.WgmmaProbeBOffset + 128 + 3 * 16 + 2, LabWgmmaKernels.WgmmaProbeBOffsetOf(9, 3));              // n row 3, k 9
        Assert.Equal(LabWgmmaKernels.WgmmaProbeBOffset + 128 + 16 + 3 * 2, LabWgmmaKernels.WgmmaProbeBOffsetOf(9, 3, mnMajor: true)); // k row 9, n 3
        // D[r][c] = 8 r + c + 1: A[r][0] = r, A[r][1] = 1, B[0][c] = 8, B[1][c] = c + 1
        var (a, b) = LabWgmmaKernels.WgmmaProbeOperands();
        Assert.Equal(BitConverter.HalfToInt16Bits((Half)63), (short)a[16 * 63]);
        Assert.Equal(BitConverter.HalfToInt16Bits((Half)8), (short)b[16 * 7 + 1]);
        // register j of thread t holds D[row][col] by the documented layout; element i of the output is (t, j) = (i / 4, i mod 4)
        Assert.Equal((16 * 3 + 7 + 8, 2 * 3 + 1), LabWgmmaKernels.WgmmaProbeDocumented(127, 3));
        Assert.Equal(8 * 63 + 7 + 1, LabWgmmaKernels.WgmmaProbeExpected(4 * 127 + 3));   // D[63][7], the largest
        if (!LabHalfGemm.SupportsWgmma(gpu)) return;

        static (int Row, int Col) Documented(int t, int j) => LabWgmmaKernels.WgmmaProbeDocumented(t, j);
        static float Expected(int i) => LabWgmmaKernels.WgmmaProbeExpected(i);
        string Report(float[] d, string reading)
        {
            int right = Enumerable.Range(0, 512).Count(i => d[i] == Expected(i));
            bool allThere = d.Select(v => (double)v).Order().SequenceEqual(Enumerable.Range(0, 512).Select(v => (double)v + 1));
            var first = Enumerable.Range(0, 8).Select(i => $"t{i >> 2} d{i & 3} = {d[i]} (row {(int)(d[i] - 1) / 8}, col {(int)(d[i] - 1) % 8})");
            return $"{reading}: {right} of 512 where documented; {(allThere ? "every element of D present once" : "not a permutation of D")}; {string.Join(", ", first)}";
        }
        static LabWgmmaKernels.WgmmaProbeArgs Offsets(int leadingA, int strideA, int leadingB, int strideB, bool mnMajorB = false) =>
            new() { LeadingA = leadingA, StrideA = strideA, LeadingB = leadingB, StrideB = strideB, MnMajorB = mnMajorB ? 1 : 0 };
        static bool Exact(float[] d) => Enumerable.Range(0, 512).All(i => d[i] == Expected(i));
        var documented = LabHalfGemm.RunWgmmaProbe(gpu, a, b, Offsets(128, 256, 128, 256));
        var swapped = LabHalfGemm.RunWgmmaProbe(gpu, a, b, Offsets(256, 128, 256, 128));
        // for the record (not relied on): B MN-major, A as documented; which offset steps along k there
        var mnLeading = LabHalfGemm.RunWgmmaProbe(gpu, a, b, Offsets(128, 256, 128, 256, mnMajorB: true));
        var mnStride = LabHalfGemm.RunWgmmaProbe(gpu, a, b, Offsets(128, 256, 256, 128, mnMajorB: true));
        string all = string.Join("\n", Report(documented, "LBO 128 (along k), SBO 256"), Report(swapped, "LBO 256, SBO 128 (along k)"),
                                 Report(mnLeading, "B MN-major, its k step in LBO"), Report(mnStride, "B MN-major, its k step in SBO"));
        Console.WriteLine($"  wgmma probe: K-major reading {(Exact(documented) ? "confirmed" : "NOT confirmed")}; B MN-major: k step in " +
                          $"{(Exact(mnLeading) ? "LBO" : Exact(mnStride) ? "SBO" : "neither")}\n    {all.Replace("\n", "\n    ")}");
        for (int i = 0; i < 512; i++)
        {
            var (row, col) = Documented(i >> 2, i & 3);
            Assert.True(documented[i] == Expected(i), $"thread {i >> 2} register d{i & 3}: {documented[i]}, expected D[{row}][{col}] = {Expected(i)}\n{all}");
        }
        Assert.False(swapped.SequenceEqual(documented), $"the swapped reading gave the same D\n{all}");
    }

    /// <summary>The wgmma kernel (HalfKernel.WgmmaKernel): every transpose pair (all but op(A) as stored and op(B)
    /// transposed go through K-major copies), edges in m, n and k (k not a multiple of 8: part chunks),
    /// batches, offsets (unaligned ones copied), runs of 5 slices (the ring of 3 comes round), k = 0; the
    /// profile shows the kernel ran. Named to sort after the probe, whose reading it is built on.</summary>
    public static void Wgmma_TensorCoreGemm(GpuBackend gpu)
    {
        if (gpu.Device.Kind == DeviceKind.Cuda && !LabHalfGemm.SupportsWgmma(gpu)) return;
        WithHalfPath(gpu, HalfGemmPath.TensorCore, () =>
        {
            var saved = HalfKernel.Of(gpu);   // restored as found (the GPU lab may have set another for its run)
            HalfKernel.WgmmaKernel.ApplyTo(gpu);
            var profile = gpu.Profile = new KernelProfile();
            try
            {
                foreach (var (ta, tb) in new[] { (false, true), (false, false), (true, true), (true, false) })
                {
                    HalfGemmCheck(gpu, ta, tb, 128, 128, 32, 1f, 0f, seed: 80);                           // one tile, one slice
                    HalfGemmCheck(gpu, ta, tb, 200, 136, 45, 0.5f, 0.75f, seed: 81, offset: 8, batch: 2,
                                  alignedStrides: true, ldMultiple: 8);                                     // every edge, 2 slices
                }
                HalfGemmCheck(gpu, false, true, 136, 256, 160, -0.5f, 0f, seed: 82, ldMultiple: 8);        // 5 slices
                HalfGemmCheck(gpu, false, true, 130, 129, 40, 1f, 0f, seed: 83, offset: 3);                // unaligned: copied
                HalfGemmCheck(gpu, false, true, 8, 16, 0, 1f, 0.5f, seed: 84, ldMultiple: 8);              // k = 0: C = beta * C
                var r = new Random(85);
                for (int i = 0, count = gpu.Device.Kind == DeviceKind.Cuda ? 40 : 4; i < count; i++)
                    HalfGemmCheck(gpu, r.Next(2) == 1, r.Next(2) == 1, r.Next(1, 300), r.Next(1, 300), r.Next(1, 140), 1f,
                                  r.Next(2) == 0 ? 0.5f : 0f, seed: 400 + i, offset: 8 * r.Next(2), ldMultiple: 8);
            }
            finally { gpu.EndProfile(); saved.ApplyTo(gpu); }
            Assert.Contains(profile.Entries, e => e.Kernel.StartsWith("gemmHalfWgmma ", StringComparison.Ordinal));
            Assert.DoesNotContain(profile.Entries, e => e.Kernel.StartsWith("gemmHalf", StringComparison.Ordinal)
                                                        && !e.Kernel.StartsWith("gemmHalfWgmma ", StringComparison.Ordinal));
        });
    }
}
