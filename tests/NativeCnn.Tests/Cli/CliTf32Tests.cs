// `--tf32` on the CLI (train, finetune through TrainOptions, lr-find, bench): the flag parses, takes no
// value, says so in train's JSON, sets NativeCnn.Precision.AllowTf32 for the command's work and leaves it
// as found; bench --tf32 names and pairs its cases as TF32. The CPU ignores TF32, so a CPU run trains as
// float32 does; which kernels the flag picks on the GPU backend is GpuCases.Tf32_OffByDefaultAndTheLibraryFlag.
using System.Text.Json;
using NativeCnn.Cli;
using Xunit;

namespace NativeCnn.Tests.Cli;

[Collection("Gpu")]   // the commands flip the process-wide Precision.AllowTf32: alone, as the GPU suite
public class CliTf32Tests
{
    [Fact]
    public void Train_parses_tf32_off_by_default_and_the_flag_takes_no_value()
    {
        Assert.False(TrainOptions.Parse(Array.Empty<string>()).Tf32);
        Assert.True(TrainOptions.Parse(new[] { "--tf32" }).Tf32);
        var (code, _, err) = Support.CliRunner.Run("train", "--tf32=yes");
        Assert.Equal(2, code);
        Assert.Contains("--tf32 takes no value", err);
        Assert.Contains("--tf32", TrainOptions.UsageText);
        Assert.Contains("--tf32", LrFindOptions.Usage);
        Assert.True(LrFindOptions.Parse(new[] { "--tf32" }).Data.Tf32);
        Assert.Contains("--tf32", BenchCommand.Usage);
    }

    [Fact]
    public void The_scope_sets_the_library_flag_and_restores_it()
    {
        Assert.False(Precision.AllowTf32);
        using (Tf32Scope.For(true)) Assert.True(Precision.AllowTf32);
        Assert.False(Precision.AllowTf32);
        using (Tf32Scope.For(false)) Assert.False(Precision.AllowTf32);
    }

    [Fact]
    public void Train_with_tf32_runs_says_so_and_leaves_the_flag_off()
    {
        var (code, output, err) = Support.CliRunner.Run("train", "--epochs", "1", "--limit", "256", "--bs", "32", "--seed", "1",
                                                        "--json", "--device", "cpu", "--tf32");
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output.Trim()).RootElement;
        Assert.True(root.GetProperty("tf32").GetBoolean());
        Assert.False(root.GetProperty("fp16").GetBoolean());
        Assert.False(Precision.AllowTf32, "the flag is off again after the command");
    }

    [Fact]
    public void Bench_tf32_names_every_case_tf32()
    {
        var (code, output, err) = Support.CliRunner.Run("bench", "--quick", "--tf32", "--cases", "gemm_32", "--warmup", "0", "--reps", "1", "--json");
        Assert.True(code == 0, err + output);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("gemm_32_tf32", JsonDocument.Parse(line).RootElement.GetProperty("case").GetString());
        Assert.False(Precision.AllowTf32);
    }
}
