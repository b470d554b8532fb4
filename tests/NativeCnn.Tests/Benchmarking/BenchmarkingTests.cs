// The benchmark machinery: the work counter (FLOPs of convs and matrix products, bytes of new op
// outputs), the case list and timer, the floors, the PyTorch-results reader and the report, and
// `nativecnn bench` end to end at quick sizes. No timing is asserted: only that the numbers the
// report prints are the ones derived from the measurements it was given.
using System.Globalization;
using NativeCnn.Backends;
using NativeCnn.Autograd;
using NativeCnn.Benchmarking;
using NativeCnn.Models;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Benchmarking;

public class BenchmarkingTests
{
    [Fact]
    public void OpCost_counts_conv_and_matmul_flops_and_new_outputs_but_not_views()
    {
        var rng = new Rng(3);
        var x = Tensor.Randn(new[] { 2, 3, 9, 9 }, rng);
        var w = Tensor.Randn(new[] { 5, 3, 3, 3 }, rng);
        w.RequiresGrad = true;
        using (MemoryScope.Begin())
        using (var cost = OpCost.Begin())
        {
            var y = F.Conv2d(x, w, null, stride: 2, padding: 1);          // (2, 5, 5, 5)
            var flat = y.Reshape(2, 125);                                   // a view: no bytes
            var m = Tensor.Randn(new[] { 125, 4 }, rng);
            var z = flat.MatMul(m);                                        // (2, 4)
            Assert.Equal(2.0 * (2 * 5 * 5 * 5 * 3 * 3 * 3) + 2.0 * (2 * 4 * 125), cost.Flops);
            Assert.Equal(2, cost.Outputs);
            Assert.Equal(4.0 * (y.Numel + z.Numel), cost.OutputBytes);
        }
        Assert.Throws<InvalidOperationException>(() => { using var a = OpCost.Begin(); using var b = OpCost.Begin(); });
    }

    [Fact]
    public void OpCost_of_mnist_cnn_forward_matches_its_layers()
    {
        var model = SimpleCnn.MnistCnn(10, new Rng(0));
        var x = Tensor.Randn(new[] { 4, 1, 28, 28 }, new Rng(1));
        using (MemoryScope.Begin())
        using (var cost = OpCost.Begin())
        {
            model.Forward(x);
            // conv 1->32 at 28x28, 32->64 s2 at 14x14, 64->128 s2 at 7x7, 128->128 at 7x7, linear 128->10
            double macs = 4.0 * (32 * 28 * 28 * 1 * 9 + 64 * 14 * 14 * 32 * 9 + 128 * 7 * 7 * 64 * 9 + 128 * 7 * 7 * 128 * 9 + 10 * 128);
            Assert.Equal(2 * macs, cost.Flops);
        }
    }

    [Fact]
    public void Quick_cases_run_on_the_cpu_and_name_their_sizes()
    {
        var cases = BenchSuite.Cases(Device.Cpu, quick: true);
        Assert.Contains(cases, c => c.Name == "gemm_64");
        Assert.Contains(cases, c => c.Name == "mnist_cnn_train_step_8px");
        Assert.DoesNotContain(cases, c => c.Name == "mnist_cnn_train_step" || c.Name == "gemm_1024");
        foreach (var c in cases)
        {
            var r = BenchSuite.Run(c, Device.Cpu, warmup: 0, reps: 1);
            Assert.True(r.Error is null, $"{c.Name}: {r.Error}");
            Assert.True(r.MedianMs > 0, c.Name);
            Assert.True(r.Bytes > 0, c.Name);
            if (c.Family != "copy") Assert.True(r.Flops > 0, c.Name);
        }
        var full = BenchSuite.Cases(Device.Cpu).Select(c => c.Name).ToList();
        Assert.Equal(new[] { "gemm_256", "gemm_512", "gemm_1024", "copy_256MiB", "conv7x7_3to64_128px_s2_fwdbwd", "conv3x3_64to64_32px_s1_fwdbwd",
                             "conv3x3_128to128_16px_s1_fwdbwd", "conv3x3_256to256_8px_s1_fwdbwd", "conv3x3_512to512_4px_s1_fwdbwd", "mnist_cnn_train_step",
                             "resnet18_128px_train_step" },
                     full);
        Assert.Contains(cases, c => c.Name == "resnet18_16px_train_step_b2");
    }

    [Fact]
    public void Amp_train_step_runs_through_the_learner_and_reports_time_per_step()
    {
        var c = BenchSuite.TrainStepAmp("mnist_amp_tiny", Device.Cpu, 2, 1, 8, () => SimpleCnn.MnistCnn(10, new Rng(0)), steps: 3);
        var r = BenchSuite.Run(c, Device.Cpu, warmup: 1, reps: 1);
        Assert.True(r.Error is null, r.Error);
        Assert.True(r.MedianMs > 0);
        // 3x the forward FLOPs of one batch of 2 (8x8 input: convs at 8, 4, 2, 2 px, and the linear layer)
        double macs = 2.0 * (32 * 8 * 8 * 1 * 9 + 64 * 4 * 4 * 32 * 9 + 128 * 2 * 2 * 64 * 9 + 128 * 2 * 2 * 128 * 9 + 10 * 128);
        Assert.Equal(3 * 2 * macs, r.Flops);
    }

    [Fact]
    public void A_failing_case_is_reported_not_thrown()
    {
        var c = new BenchCase("broken", "gemm", 0, RateKind.Tflops, () => throw new NativeCnnException("no such thing"));
        var r = BenchSuite.Run(c, Device.Cpu, 0, 1);
        Assert.Equal("NativeCnnException: no such thing", r.Error);
        Assert.Contains("\"error\":\"NativeCnnException: no such thing\"", BenchReport.JsonLine(r));
    }

    private const string TorchLines =
        "{\"case\": \"env\", \"device\": \"cpu\", \"torch\": \"1.13\"}\n" +
        "not json at all\n" +
        "{\"case\": \"gemm_64\", \"device\": \"cuda\", \"dtype\": \"float32\", \"median_ms\": 0.5, \"tflops\": 0.001}\n" +
        "{\"case\": \"gemm_64\", \"device\": \"cuda\", \"dtype\": \"float16\", \"median_ms\": 0.1, \"tflops\": 0.005}\n" +
        "{\"case\": \"copy_1GiB\", \"device\": \"cuda\", \"median_ms\": 2.0, \"gb_per_s\": 1000.0}\n" +
        "{\"case\": \"mnist_cnn_train_step\", \"device\": \"cuda\", \"amp\": false, \"batch\": 64, \"median_ms\": 20.0, \"images_per_s\": 3200.0}\n" +
        "{\"case\": \"mnist_cnn_train_step\", \"device\": \"cuda\", \"amp\": true, \"batch\": 64, \"median_ms\": 10.0, \"images_per_s\": 6400.0}\n";

    [Fact]
    public void Torch_results_are_read_by_dtype_and_amp()
    {
        var fp32 = BenchReport.ParseTorch(TorchLines.Split('\n'));
        Assert.Equal(new[] { "copy_1GiB", "gemm_64", "mnist_cnn_train_step" }, fp32.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(0.5, fp32["gemm_64"].MedianMs);
        Assert.Equal(20.0, fp32["mnist_cnn_train_step"].MedianMs);
        Assert.Equal(0.1, BenchReport.ParseTorch(TorchLines.Split('\n'), "float16")["gemm_64"].MedianMs);
        Assert.Equal(10.0, BenchReport.ParseTorch(TorchLines.Split('\n'), amp: true)["mnist_cnn_train_step"].MedianMs);
        var ex = Assert.Throws<FileNotFoundException>(() => BenchReport.LoadTorch("/nonexistent/torch.jsonl"));
        Assert.Contains("'/nonexistent/torch.jsonl' not found", ex.Message);
    }

    [Fact]
    public void Report_rows_hold_the_ratio_and_both_floors()
    {
        var torch = BenchReport.ParseTorch(TorchLines.Split('\n'));
        var ours = new List<BenchResult>
        {
            // 2 ms for 2e9 FLOPs and 4e6 bytes; ceilings: 1e12 FLOP/s (given), copy 1000 GB/s (PyTorch)
            new("gemm_64", "gemm", "cuda", 0, RateKind.Tflops, 2.0, 2e9, 4e6),
            new("mnist_cnn_train_step", "train", "cuda", 64, RateKind.ImagesPerS, 40.0, 1e9, 8e9),
            new("conv_broken", "conv", "cuda", 8, RateKind.Tflops, 0, 0, 0, "Boom: bad\nsecond line"),
        };
        var ceilings = new Ceilings(1e12, "given", 0, "none");
        var fromRun = Ceilings.From(ours, torch);
        Assert.Equal(1e12, fromRun.PeakFlops);                        // our gemm: 2e9 / 2 ms = 1e12 > PyTorch's 1e9
        Assert.Equal("NativeCnn gemm_64", fromRun.PeakSource);
        Assert.Equal(1000e9, fromRun.BytesPerSecond);
        Assert.Equal("PyTorch copy_1GiB", fromRun.BandwidthSource);

        string md = BenchReport.Markdown("t", ours, torch, fromRun);
        // gemm: ratio 2/0.5 = 4.00; FLOP floor 2e9/1e12 s = 2 ms; byte floor 4e6/1e12 s = 0.004 ms; 100% of floor
        Assert.Contains("| gemm_64 | 2 | 1000 GFLOP/s | gemm_64 (default) | 0.5 | 1 GFLOP/s | 4.00 | 2 | 0.004 | 100 % |", md);
        // train step: ratio 40/20 = 2.00; FLOP floor 1 ms; byte floor 8 ms; 8/40 = 20%
        Assert.Contains("| mnist_cnn_train_step | 40 | 1600 img/s | mnist_cnn_train_step (default) | 20 | 3200 img/s | 2.00 | 1 | 8 | 20 % |", md);
        Assert.Contains("| conv_broken | failed: Boom: bad |", md);
        Assert.Equal((2.0, double.NaN), ceilings.Floors(2e9, 4e6));
    }

    [Fact]
    public void Peak_memory_is_read_from_torch_and_reported_beside_ours()
    {
        const string line = "{\"case\": \"resnet18_128px_train_step\", \"device\": \"cuda\", \"amp\": false, \"batch\": 256, " +
                            "\"median_ms\": 17.3, \"images_per_s\": 14813.0, \"tf32\": true, \"peak_mem_mb\": 4000.0}";
        var torch = BenchReport.ParseTorch(new[] { line });
        Assert.Equal(4000.0, torch["resnet18_128px_train_step"].PeakMemMb);
        var ours = new List<BenchResult>
        {
            new("resnet18_128px_train_step", "train", "cuda", 256, RateKind.ImagesPerS, 50.0, 1e12, 1e10, PeakMemMb: 5000.0),
            new("gemm_64", "gemm", "cuda", 0, RateKind.Tflops, 2.0, 2e9, 4e6),
        };
        string md = BenchReport.Markdown("t", ours, torch, new Ceilings(1e12, "given", 1e12, "given"));
        Assert.Contains("| resnet18_128px_train_step | 5000.0 | 4000.0 | 1.25 |", md);
        Assert.DoesNotContain("| gemm_64 | -", md);   // no peak row for a case without one
        Assert.Contains("\"peak_mem_mb\":5000", BenchReport.JsonLine(ours[0]));
        Assert.DoesNotContain("peak_mem_mb", BenchReport.JsonLine(ours[1]));
    }

    [Fact]
    public void Cli_bench_prints_the_cases_and_writes_the_report_with_ratios()
    {
        var dir = Directory.CreateTempSubdirectory("nativecnn-bench-").FullName;
        try
        {
            var torch = Path.Combine(dir, "torch.jsonl");
            File.WriteAllText(torch, "{\"case\": \"gemm_32\", \"device\": \"cpu\", \"dtype\": \"float32\", \"median_ms\": 1000.0, \"tflops\": 0.0000001}\n");
            var report = Path.Combine(dir, "out", "cpu.md");
            var (code, stdout, stderr) = CliRunner.Run("bench", "--quick", "--cases", "gemm_32", "--warmup", "0", "--reps", "1", "--torch", torch, "--out", report);
            Assert.True(code == 0, stderr + stdout);
            var row = stdout.Split('\n').Single(l => l.StartsWith("gemm_32", StringComparison.Ordinal));
            var parts = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            double ms = double.Parse(parts[1], CultureInfo.InvariantCulture);
            double ratio = double.Parse(parts[^4], CultureInfo.InvariantCulture);
            Assert.Equal("vs gemm_32 (default)", string.Join(' ', parts[^3..]).TrimEnd('\r'));   // the record it is paired with
            Assert.Equal(ms / 1000.0, ratio, 2);
            var md = File.ReadAllText(report);
            Assert.Contains("| gemm_32 |", md);
            Assert.Contains("FMA loop on every core", md);
            Assert.Contains($"PyTorch: {torch}.", md);

            var (jcode, json, _) = CliRunner.Run("bench", "--quick", "--cases", "copy", "--warmup", "0", "--reps", "1", "--json");
            Assert.Equal(0, jcode);
            Assert.Contains("\"case\":\"copy_1MiB\"", json);
            Assert.Contains("\"gb_per_s\":", json);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(new[] { "bench", "--reps", "0" }, 2, "--reps expects an integer >= 1, got '0'")]
    [InlineData(new[] { "bench", "--fast" }, 2, "unknown option '--fast'")]
    [InlineData(new[] { "bench", "--quick", "--cases", "nothing-like-this" }, 2, "no case name contains 'nothing-like-this'")]
    [InlineData(new[] { "bench", "--torch", "/nonexistent/t.jsonl" }, 1, "PyTorch results '/nonexistent/t.jsonl' not found")]
    public void Cli_bench_bad_input_is_one_clear_line(string[] args, int expectedCode, string fragment)
    {
        var (code, _, stderr) = CliRunner.Run(args);
        Assert.Equal(expectedCode, code);
        Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
