// Section "profile": where the bench's training steps spend their time, kernel by kernel. Each train
// case (mnist_cnn, resnet18 float32 and AMP) is set up as in the bench, run twice to warm up, then
// once with a KernelProfile attached to the backend (every launch waits for the previous one, so
// the profiled step is slower than the timed one; the shares are what count). Writes
// OUTDIR/profile.md (a table per case) and one "profile" record per case with its ten largest entries.
using System.Text;
using System.Text.Json.Nodes;
using NativeCnn.Backends.Gpu;
using NativeCnn.Benchmarking;

namespace NativeCnn.GpuLab;

internal static class LabProfile
{
    public static void Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== profile");
        var md = new StringBuilder("# Kernel profile of the training steps\n\n");
        md.AppendLine($"Device: {gpu.Device} ({gpu.Accelerator.Name}); {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. One step per case, " +
                      "the device synchronised before every launch: time from one launch to the next, booked to the first " +
                      "(kernels named by the backend's launcher; GEMMs by M x N x K, transposes, batch).\n");
        foreach (var c in BenchSuite.Cases(gpu.Device, o.Quick).Where(c => c.Family == "train" &&
                     o.BenchSelected(c.Name)))
        {
            var prepared = c.Setup();
            prepared.Step();
            prepared.Step();
            gpu.Synchronize();
            gpu.Profile = new KernelProfile();
            KernelProfile profile;
            try { prepared.Step(); }
            finally { profile = gpu.EndProfile()!; }
            md.AppendLine($"## {c.Name} (batch {c.Batch}{(prepared.StepsPerCall > 1 ? $", {prepared.StepsPerCall} steps" : "")})\n");
            md.AppendLine(profile.Format(40));
            var top = new JsonArray();
            foreach (var (kernel, calls, ms) in profile.Entries.Take(10))
                top.Add(new JsonObject { ["kernel"] = kernel, ["calls"] = calls, ["ms"] = Math.Round(ms, 4) });
            results.Add("profile", new JsonObject { ["case"] = c.Name, ["total_ms"] = Math.Round(profile.TotalMs, 3), ["top"] = top });
            Console.WriteLine($"  {c.Name}: {profile.TotalMs:F1} ms profiled");
            foreach (var (kernel, calls, ms) in profile.Entries.Take(12))
                Console.WriteLine($"    {ms,9:F3} ms {100 * ms / profile.TotalMs,5:F1}%  x{calls,-4} {kernel}");
        }
        File.WriteAllText(Path.Combine(results.OutDir, "profile.md"), md.ToString());
    }
}
