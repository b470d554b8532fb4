// Benchmarks entry point: every BenchmarkDotNet suite in this assembly, chosen with --filter.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- --filter '*Gemm*'
// Case names follow ../shared/reference/MODELS.md so results sit beside torch_baseline.py's.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
