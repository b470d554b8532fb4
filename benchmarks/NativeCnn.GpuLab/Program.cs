// The GPU lab's entry point: device first (nothing else runs without it), then the correctness cases,
// the kernel lab, the timings and the training run, each recorded as it finishes; then OUTDIR/summary.md. Exit code
// 0 when everything ran and passed, 1 when a case failed or a section crashed, 2 when the device could
// not be opened, 64 for a bad command line.
using NativeCnn.GpuLab;

LabOptions o;
try { o = LabOptions.Parse(args); }
catch (ArgumentException e)
{
    if (e.Message != "help") Console.Error.WriteLine($"NativeCnn.GpuLab: {e.Message}");
    Console.Error.WriteLine(LabOptions.Usage);
    return e.Message == "help" ? 0 : 64;
}

using var results = new LabResults(o.Out);
var started = DateTime.UtcNow;
Console.WriteLine($"NativeCnn GPU lab: {(o.Simulator ? "ILGPU CPU simulator" : "CUDA device 0")}{(o.Quick ? ", quick sizes" : "")}, " +
                  $"sections {string.Join(",", o.Sections)}, output {Path.GetFullPath(o.Out)}");
var gpu = LabDevice.Open(o, results);
if (gpu is not null && o.HalfKernel.Wgmma && !LabHalfGemm.SupportsWgmma(gpu) && gpu.Device.Kind == NativeCnn.DeviceKind.Cuda)
    Console.WriteLine("note: --half-ldmatrix wgmma needs a device of compute capability 9.0; float16 products keep the default kernels");
else if (gpu is not null) o.HalfKernel.ApplyTo(gpu);
int exit = 0;
if (gpu is null) exit = 2;
else
{
    if (o.Sections.Contains("cases"))
    {
        try { if (LabCases.Run(o, gpu, results) > 0) exit = 1; }
        catch (Exception e) { results.Error("cases", e); exit = 1; }
    }
    if (o.Sections.Contains("kernels"))
    {
        try { if (LabKernels.Run(o, gpu, results) > 0) exit = 1; }
        catch (Exception e) { results.Error("kernels", e); exit = 1; }
    }
    if (o.Sections.Contains("bench"))
    {
        try { LabBench.Run(o, gpu, results); LabBenchFp16.Run(o, gpu, results); }
        catch (Exception e) { results.Error("bench", e); exit = 1; }
    }
    if (o.Sections.Contains("profile"))
    {
        try { LabProfile.Run(o, gpu, results); }
        catch (Exception e) { results.Error("profile", e); exit = 1; }
    }
    if (o.Sections.Contains("train"))
    {
        try { LabTrain.Run(o, gpu, results); }
        catch (Exception e) { results.Error("train", e); exit = 1; }
    }
}
if (results.Of("bench").Any(r => r["error"] is not null)) exit = Math.Max(exit, 1);
var summary = LabSummary.Write(o, results, DateTime.UtcNow - started, exit);
Console.WriteLine();
Console.Write(summary);
return exit;
