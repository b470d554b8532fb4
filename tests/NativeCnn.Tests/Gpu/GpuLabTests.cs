// The GPU lab (benchmarks/NativeCnn.GpuLab) run as its own process on the simulator with tiny sizes,
// so the program that will run on a GPU host is known to work before a GPU is had: it opens the
// device, runs a linked case and a golden check, times a case, writes results.jsonl and summary.md
// (with PyTorch's numbers side by side when given), and exits 0. Only a few fast pieces run here; the
// whole quick run (`--simulator --quick`, about 2 minutes) is in benchmarks/gpu/README.md.
using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeCnn.Tests.Data;
using Xunit;

namespace NativeCnn.Tests.Gpu;

public class GpuLabTests
{
    /// <summary>The lab's build output: the same configuration and framework folders as this test's.</summary>
    private static string LabDll()
    {
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = testDir.Name, config = testDir.Parent!.Name;
        var root = testDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;   // .../tests/NativeCnn.Tests/bin/<config>/<tfm>
        var dll = Path.Combine(root, "benchmarks", "NativeCnn.GpuLab", "bin", config, tfm, "NativeCnn.GpuLab.dll");
        Assert.True(File.Exists(dll), $"the GPU lab is not built at {dll} (the test project builds it first: dotnet build NativeCnn.sln)");
        return dll;
    }

    /// <summary>The lab's records: one JSON object per line of OUTDIR/results.jsonl.</summary>
    private static List<JsonObject> Records(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "results.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    private static (int Exit, string Output) RunLab(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(LabDll());
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(180_000)) { p.Kill(entireProcessTree: true); Assert.Fail("the GPU lab did not finish within 3 minutes:\n" + stdout); }
        return (p.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void QuickSimulatorRunWritesResultsAndSummary()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var torch = Path.Combine(dir, "torch.jsonl");
        File.WriteAllLines(torch, new[]
        {
            """{"case": "env", "device": "cpu", "torch": "1.13"}""",
            """{"case": "copy_1MiB", "device": "cuda", "median_ms": 2.0, "gb_per_s": 1.0}""",
        });
        var (exit, output) = RunLab(dir, "--simulator", "--quick", "--only", "cases,bench", "--cases", "Golden_Sgd",
                                    "--bench", "copy", "--torch", torch);
        Assert.True(exit == 0, $"exit code {exit}:\n{output}");

        var records = Records(dir);
        var open = Assert.Single(records, r => (string?)r["section"] == "device" && (string?)r["kind"] == "open");
        Assert.True(open["ok"]!.GetValue<bool>());
        Assert.Equal("gpu-simulator:0", (string?)open["device"]);
        Assert.Equal(32, open["warp"]!.GetValue<int>());
        var c = Assert.Single(records, r => (string?)r["section"] == "case");
        Assert.Equal("Golden_SgdUpdatesWithTorchGradients", (string?)c["case"]);
        Assert.True(c["passed"]!.GetValue<bool>(), (string?)c["error"]);
        var b = Assert.Single(records, r => (string?)r["section"] == "bench");
        Assert.Equal("copy_1MiB", (string?)b["case"]);
        double ms = b["median_ms"]!.GetValue<double>();
        Assert.True(ms > 0 && b["gb_per_s"]!.GetValue<double>() > 0, b.ToJsonString());

        var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
        Assert.Contains("## Cases: 1 passed, 0 failed", summary);
        Assert.Contains("| copy_1MiB |", summary);
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| 2.000 | 1.0 GB/s | {ms / 2.0:F2} |"), summary);
        Assert.Contains("PASS Golden_SgdUpdatesWithTorchGradients", output);
        // report.md: the same case beside PyTorch's (ratio ms / 2.0) with its byte floor from the copy itself
        var report = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("bandwidth", report);
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| 2 | 1 GB/s | {ms / 2.0:F2} |"), report);
    }

    /// <summary>The float16 GEMM rows: the default kernel (cp.async, 64x64 warps) and the four others (GemmFp16.cs's,
    /// the register-staged ldmatrix ones with either warp tile, cp.async with 64x32 warps) as variant rows, all
    /// beside the one PyTorch float16 record of the case.</summary>
    [Fact]
    public void HalfGemmBenchTimesTheLdmatrixKernelsAsVariantRows()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var torch = Path.Combine(dir, "torch.jsonl");
        File.WriteAllLines(torch, new[] { """{"case": "gemm_64", "dtype": "float16", "device": "cuda", "median_ms": 1.0, "tflops": 0.0005}""" });
        var (exit, output) = RunLab(dir, "--simulator", "--quick", "--only", "bench", "--bench", "gemm_64", "--torch", torch);
        Assert.True(exit == 0, $"exit code {exit}:\n{output}");
        var half = Records(dir)
            .Where(r => (string?)r["section"] == "bench" && (string?)r["case"] == "gemm_64" && (string?)r["dtype"] == "float16").ToList();
        var variants = new string?[] { null, "mma-w64x32", "ldmatrix-w64x32", "ldmatrix-w64x64", "async-w64x32" };
        Assert.Equal(variants, half.Select(r => (string?)r["variant"]));
        var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
        foreach (var (variant, r) in variants.Zip(half))
        {
            string row = variant is null ? "| gemm_64 (float16) |" : $"| gemm_64 (float16) [{variant}] |";
            double ms = r["median_ms"]!.GetValue<double>();
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{row} {ms:F3} |"), summary);
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| 1.000 | 0.0005 TFLOP/s | {ms / 1.0:F2} |"), summary);
        }
    }

    /// <summary>The wgmma cases (the probe first, then the GEMM) run only when --cases names them (run.sh gives them
    /// a process of its own: a fault there would poison the CUDA context for every later section).</summary>
    [Fact]
    public void TheWgmmaProbeRunsOnlyWhenNamed()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var (exit, output) = RunLab(Path.Combine(dir, "named"), "--simulator", "--quick", "--only", "cases", "--cases", "Wgmma");
        Assert.True(exit == 0, $"exit code {exit}:\n{output}");
        var cases = Records(Path.Combine(dir, "named")).Where(r => (string?)r["section"] == "case").ToList();
        Assert.Equal(new[] { "Wgmma_ProbeDescriptorsAndAccumulatorLayout", "Wgmma_TensorCoreGemm" }, cases.Select(c => (string?)c["case"]));
        Assert.All(cases, c => Assert.True(c["passed"]!.GetValue<bool>(), (string?)c["error"]));
        (exit, output) = RunLab(Path.Combine(dir, "unnamed"), "--simulator", "--quick", "--only", "cases", "--cases", "ProbeDescriptors");
        Assert.True(exit == 0, $"exit code {exit}:\n{output}");
        Assert.DoesNotContain(Records(Path.Combine(dir, "unnamed")), r => (string?)r["section"] == "case");

    }

    /// <summary>The lab's own float16 GEMM kernels (benchmarks/NativeCnn.GpuLab/Kernels: register-staged ldmatrix
    /// with 64x32 and 64x64 warps and the L1 prefetch, cp.async with 64x32 warps), made the backend's by the lab,
    /// pass the suite's shapes on the simulator, bitwise equal to the default kernel.</summary>
    [Fact]
    public void TheLabsKernelVariantsPassTheSuitesHalfGemmCases()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var (exit, output) = RunLab(dir, "--simulator", "--quick", "--only", "cases", "--cases", "GemmHalfLab_");
        Assert.True(exit == 0, $"exit code {exit}:\n{output}");
        var cases = Records(dir).Where(r => (string?)r["section"] == "case").ToList();
        Assert.Equal(new[] { "GemmHalfLab_AsyncKernel", "GemmHalfLab_ConvPath", "GemmHalfLab_LdmatrixAgreesBitwise", "GemmHalfLab_LdmatrixInstructionByInstruction",
                             "GemmHalfLab_LdmatrixKernel", "GemmHalfLab_LdmatrixPrefetch", "GemmHalfLab_LdmatrixWarp64Kernel" },
                     cases.Select(c => (string?)c["case"]));
        Assert.All(cases, c => Assert.True(c["passed"]!.GetValue<bool>(), (string?)c["error"]));
    }

    [Fact]
    public void BadCommandLineIsRefusedBeforeTouchingADevice()
    {
        var (exit, output) = RunLab("--only", "bench,gpu", "out");
        Assert.Equal(64, exit);
        Assert.Contains("--only expects sections from device,cases,kernels,bench,profile,train, got 'bench,gpu'", output);
        (exit, output) = RunLab("--half-ldmatrix", "64x16", "out");
        Assert.Equal(64, exit);
        Assert.Contains("--half-ldmatrix expects 64x64+async, mma, 64x32, 64x64, 64x32+async, wgmma (mma: GemmFp16.cs's kernel; else the warp tile, and +async for the cp.async kernel), got '64x16'", output);
    }

    [Fact]
    public void VariantRunsOneKernelLabVariantAlone()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var (exit, output) = RunLab(dir, "--simulator", "--quick", "--only", "kernels", "--variant", "sum");
        Assert.True(exit == 0, output);
        var kernels = Records(dir)
                          .Where(r => (string?)r["section"] == "kernel").ToList();
        Assert.Equal(new[] { "reduce/sum" }, kernels.Select(k => $"{k["family"]}/{k["variant"]}"));
        Assert.True(kernels[0]["passed"]!.GetValue<bool>());
    }

    [Fact]
    public void Kernel_lab_validates_every_variant_then_times_it_with_device_events()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        var (exit, output) = RunLab(dir, "--simulator", "--quick", "--only", "kernels");
        Assert.True(exit == 0, output);
        var records = Records(dir);
        var kernels = records.Where(r => (string?)r["section"] == "kernel").ToList();
        Assert.Equal(new[] { "copy/strided-copy", "elementwise/add", "reduce/sum", "sgemm/naive", "sgemm/tiled-64x64-8x4", "sgemm/tiled-128x128-8x8", "sgemm-splitk/unsplit", "sgemm-splitk/split-k", "hgemm/widen+sgemm", "hgemm/mma.sync-64x64-words", "hgemm/mma.sync-64x64", "hgemm/mma.sync-128x128-words", "hgemm/mma.sync-128x128", "hgemm/ldmatrix-128x128", "hgemm/ldmatrix-128x128+prefetch", "hgemm/ldmatrix-128x128+async", "hgemm/ldmatrix-128x128-w64x64", "hgemm/ldmatrix-128x128-w64x64+prefetch", "hgemm/ldmatrix-128x128-w64x64+async", "conv/im2col+tiled-gemm" },
                     kernels.Select(k => $"{k["family"]}/{k["variant"]}"));
        foreach (var k in kernels)
        {
            Assert.True(k["passed"]!.GetValue<bool>(), k.ToJsonString());
            Assert.Equal("device events", (string?)k["timer"]);
            Assert.True(k["median_ms"]!.GetValue<double>() > 0, k.ToJsonString());
        }
        // memory-bound variants are put against the copy's bandwidth, measured first
        Assert.Equal(100.0, kernels[0]["pct_of_bandwidth"]!.GetValue<double>());
        Assert.Contains("## Kernel lab", File.ReadAllText(Path.Combine(dir, "summary.md")));
    }
}
