// Issue 18's three pairings, checked without a GPU: which torch_baseline.py record each NativeCnn bench
// case is compared with (strict float32 with `_notf32`, `_tf32` with PyTorch's default, `_amp` with
// PyTorch AMP), the GPU case list that carries all three for the conv layers and the resnet18 step,
// the markdown report's paired rows, and a TF32 case running with the library flag on (and off after).
using NativeCnn.Benchmarking;
using Xunit;

namespace NativeCnn.Tests.Benchmarking;

[Collection("Gpu")]   // BenchSuite.Run flips the process-wide Precision.AllowTf32 for a TF32 case: alone, as the GPU suite
public class TorchPairingTests
{
    // torch_baseline.py's lines on CUDA (abridged), conv AMP rows as benchmarks/gpu/torch_conv_amp.py prints them
    private const string Lines = """
        {"case": "gemm_1024", "device": "cuda", "dtype": "float32", "median_ms": 0.1, "tflops": 20.0}
        {"case": "gemm_1024", "device": "cuda", "dtype": "float16", "median_ms": 0.02, "tflops": 100.0}
        {"case": "conv3x3_64to64_32px_s1_fwdbwd", "device": "cuda", "batch": 128, "median_ms": 0.5, "tflops": 58.0}
        {"case": "conv3x3_64to64_32px_s1_fwdbwd_notf32", "device": "cuda", "batch": 128, "median_ms": 0.8, "tflops": 36.0}
        {"case": "conv3x3_64to64_32px_s1_fwdbwd", "device": "cuda", "amp": true, "batch": 128, "median_ms": 0.3, "tflops": 96.0}
        {"case": "mnist_cnn_train_step", "device": "cuda", "amp": false, "batch": 256, "median_ms": 1.0, "images_per_s": 256000.0}
        {"case": "resnet18_128px_train_step", "device": "cuda", "amp": false, "batch": 256, "median_ms": 17.3, "images_per_s": 14800.0, "tf32": true, "peak_mem_mb": 3000.0}
        {"case": "resnet18_128px_train_step", "device": "cuda", "amp": true, "batch": 256, "median_ms": 14.3, "images_per_s": 17900.0, "tf32": true, "peak_mem_mb": 2000.0}
        {"case": "resnet18_128px_train_step_notf32", "device": "cuda", "amp": false, "batch": 256, "median_ms": 27.0, "images_per_s": 9481.0, "tf32": false, "peak_mem_mb": 3000.0}
        """;

    private static Dictionary<string, TorchRecord> Torch() => BenchReport.ParseTorchAll(Lines.Split('\n'));

    [Theory]
    [InlineData("conv3x3_64to64_32px_s1_fwdbwd", "conv3x3_64to64_32px_s1_fwdbwd_notf32", false, 0.8, "TF32 off")]
    [InlineData("conv3x3_64to64_32px_s1_fwdbwd_tf32", "conv3x3_64to64_32px_s1_fwdbwd", false, 0.5, "default (TF32)")]
    [InlineData("conv3x3_64to64_32px_s1_fwdbwd_amp", "conv3x3_64to64_32px_s1_fwdbwd", true, 0.3, "AMP")]
    [InlineData("resnet18_128px_train_step", "resnet18_128px_train_step_notf32", false, 27.0, "TF32 off")]
    [InlineData("resnet18_128px_train_step_tf32", "resnet18_128px_train_step", false, 17.3, "default (TF32)")]
    [InlineData("resnet18_128px_train_step_amp", "resnet18_128px_train_step", true, 14.3, "AMP")]
    [InlineData("gemm_1024", "gemm_1024", false, 0.1, "default")]                       // float32, never the float16 row
    [InlineData("mnist_cnn_train_step", "mnist_cnn_train_step", false, 1.0, "default")]  // no strict record: the default
    public void Each_case_pairs_with_the_record_of_its_precision(string ours, string torchCase, bool amp, double ms, string label)
    {
        var pair = TorchPairing.Pair(ours, Torch());
        Assert.NotNull(pair);
        Assert.Equal(torchCase, pair.Record.Case);
        Assert.Equal(amp, pair.Record.Amp);
        Assert.Equal(ms, pair.Record.MedianMs);
        Assert.Equal(label, pair.Label);
    }

    [Fact]
    public void A_case_without_a_record_of_its_precision_pairs_with_nothing()
    {
        var torch = Torch();
        Assert.Null(TorchPairing.Pair("conv3x3_128to128_16px_s1_fwdbwd", torch));
        Assert.Null(TorchPairing.Pair("mnist_cnn_train_step_amp", torch));        // no AMP record: not the float32 one
        // TF32 never pairs with an AMP-only or strict-only record
        var ampOnly = BenchReport.ParseTorchAll(new[] { """{"case": "c", "amp": true, "median_ms": 1.0}""" });
        Assert.Null(TorchPairing.Pair("c_tf32", ampOnly));
        Assert.Null(TorchPairing.Pair("c", ampOnly));
        var strictOnly = BenchReport.ParseTorchAll(new[] { """{"case": "c_notf32", "median_ms": 1.0}""" });
        Assert.Null(TorchPairing.Pair("c_tf32", strictOnly));
        Assert.Equal("c_notf32", TorchPairing.Pair("c", strictOnly)!.Record.Case);
    }

    [Fact]
    public void The_gpu_cases_carry_all_three_pairings_for_every_conv_layer_and_the_resnet18_step()
    {
        var names = BenchSuite.Cases(new Device(DeviceKind.Cuda)).Select(c => c.Name).ToHashSet();
        foreach (var conv in new[] { "conv7x7_3to64_128px_s2_fwdbwd", "conv3x3_64to64_32px_s1_fwdbwd", "conv3x3_128to128_16px_s1_fwdbwd",
                                     "conv3x3_256to256_8px_s1_fwdbwd", "conv3x3_512to512_4px_s1_fwdbwd", "resnet18_128px_train_step" })
        {
            Assert.Contains(conv, names);
            Assert.Contains(conv + "_tf32", names);
            Assert.Contains(conv + "_amp", names);
        }
        Assert.Equal(BenchPrecision.Tf32, BenchSuite.Cases(new Device(DeviceKind.Cuda)).Single(c => c.Name == "resnet18_128px_train_step_tf32").Precision);
        // the CPU has no TF32 or float16 cases (PyTorch's CPU run has none either)
        Assert.DoesNotContain(BenchSuite.Cases(Device.Cpu), c => c.Precision != BenchPrecision.Float32);
    }

    [Fact]
    public void A_tf32_case_runs_with_the_library_flag_on_and_leaves_it_off()
    {
        bool seen = false;
        var c = new BenchCase("probe_tf32", "conv", 1, RateKind.Tflops, () => new PreparedCase(() => seen = Precision.AllowTf32, 1, 1));
        var r = BenchSuite.Run(c, Device.Cpu, warmup: 0, reps: 1);
        Assert.Null(r.Error);
        Assert.True(seen, "the step ran with Precision.AllowTf32 on");
        Assert.False(Precision.AllowTf32, "and the flag is off again after the case");
        var strict = new BenchCase("probe", "conv", 1, RateKind.Tflops, () => new PreparedCase(() => seen = Precision.AllowTf32, 1, 1));
        BenchSuite.Run(strict, Device.Cpu, warmup: 0, reps: 1);
        Assert.False(seen);
    }

    [Fact]
    public void The_report_shows_each_row_beside_its_paired_record()
    {
        var ours = new[]
        {
            new BenchResult("conv3x3_64to64_32px_s1_fwdbwd", "conv", "cuda", 128, RateKind.Tflops, 1.6, 29e9, 2e8),
            new BenchResult("conv3x3_64to64_32px_s1_fwdbwd_tf32", "conv", "cuda", 128, RateKind.Tflops, 1.5, 29e9, 2e8),
            new BenchResult("conv3x3_64to64_32px_s1_fwdbwd_amp", "conv", "cuda", 128, RateKind.Tflops, 1.2, 29e9, 1e8),
        };
        var torch = Torch();
        var lines = BenchReport.Markdown("t", ours, torch, Ceilings.From(ours, torch)).Split('\n');
        string Row(string c) => Assert.Single(lines, l => l.StartsWith($"| {c} |", StringComparison.Ordinal));
        Assert.Contains("| conv3x3_64to64_32px_s1_fwdbwd_notf32 (TF32 off) | 0.8 |", Row("conv3x3_64to64_32px_s1_fwdbwd"));
        Assert.Contains("| 2.00 |", Row("conv3x3_64to64_32px_s1_fwdbwd"));         // 1.6 / 0.8
        Assert.Contains("| conv3x3_64to64_32px_s1_fwdbwd (default (TF32)) | 0.5 |", Row("conv3x3_64to64_32px_s1_fwdbwd_tf32"));
        Assert.Contains("| 3.00 |", Row("conv3x3_64to64_32px_s1_fwdbwd_tf32"));    // 1.5 / 0.5
        Assert.Contains("| conv3x3_64to64_32px_s1_fwdbwd (AMP) | 0.3 |", Row("conv3x3_64to64_32px_s1_fwdbwd_amp"));
        Assert.Contains("| 4.00 |", Row("conv3x3_64to64_32px_s1_fwdbwd_amp"));     // 1.2 / 0.3
    }
}
