// Benchmarks entry point: every BenchmarkDotNet suite in this assembly, chosen with --filter.
//   dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- --filter '*Gemm*'
// Case names follow ../shared/reference/MODELS.md so results sit beside torch_baseline.py's.
// `gemm-shapes [filter] [reps]` instead prints the packed SGEMM's GFLOP/s on the conv and train-step
// shapes, per micro-kernel, one and two threads (GemmShapes.cs); `conv-shapes [filter] [reps]` the
// CPU backend's three conv passes per layer and path on one thread's CPU time (ConvShapes.cs);
// `step-profile [case] [steps] [rows]` a train step's primitives on one thread's CPU time (StepProfile.cs);
// `op-shapes [filter] [reps]` the non-convolution primitives of the train steps the same way (OpShapes.cs);
// `loop-balance [filter] [pairs]` the loop scheduling's effect, steps alternating between its settings (LoopBalance.cs).
using BenchmarkDotNet.Running;

if (args.Length > 0 && args[0] == "gemm-shapes") return NativeCnn.Benchmarks.GemmShapes.Run(args);
if (args.Length > 0 && args[0] == "conv-shapes") return NativeCnn.Benchmarks.ConvShapes.Run(args);
if (args.Length > 0 && args[0] == "step-profile") return NativeCnn.Benchmarks.StepProfile.Run(args);
if (args.Length > 0 && args[0] == "loop-balance") return NativeCnn.Benchmarks.LoopBalance.Run(args);
if (args.Length > 0 && args[0] == "op-shapes") return NativeCnn.Benchmarks.OpShapes.Run(args);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
