// Section "cases": the test suite's GPU cases (every public static GpuCases method taking the backend,
// the same list GpuSuite runs under xunit) and the mnist_cnn PyTorch goldens, run on the lab's device
// without a test runner. Must hold: one case failing or throwing never stops the others; each result
// (pass/fail, time, the first lines of the failure) is recorded as it finishes. The wgmma probe runs only
// when asked for by name (--cases Wgmma), in a process of its own (run.sh).
using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using NativeCnn.Backends.Gpu;
using NativeCnn.Tests.Gpu;
using Golden = NativeCnn.Tests.Goldens.MnistCnnGoldenTests;

namespace NativeCnn.GpuLab;

internal static class LabCases
{
    /// <summary>Every case by name: the GPU suite's cases, then the goldens (on the simulator with
    /// --quick only the optimizer goldens: a forward and backward there takes tens of seconds).</summary>
    public static List<(string Name, Action Run)> All(GpuBackend gpu, bool quick)
    {
        var cases = typeof(GpuCases).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetParameters() is [{ ParameterType: var t }] && t == typeof(GpuBackend))
            .OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => (m.Name, (Action)(() => Invoke(m, gpu))))
            .ToList();
        var device = gpu.Device;
        cases.Add(("Golden_SgdUpdatesWithTorchGradients", () => Golden.SgdFixedGradients(device)));
        cases.Add(("Golden_AdamWUpdatesWithTorchGradients", () => Golden.AdamWFixedGradients(device)));
        if (!quick)
        {
            cases.Add(("Golden_ForwardAndBackward", () => Golden.ForwardAndBackward(device)));
            cases.Add(("Golden_Sgd5Steps", () => Golden.SgdSteps(device, memoryScope: false)));
            cases.Add(("Golden_Sgd5StepsScoped", () => Golden.SgdSteps(device, memoryScope: true)));
            cases.Add(("Golden_AdamW5Steps", () => Golden.AdamWSteps(device, memoryScope: false)));
            cases.Add(("Golden_AdamW5StepsScoped", () => Golden.AdamWSteps(device, memoryScope: true)));
        }
        return cases;
    }

    private static void Invoke(MethodInfo m, GpuBackend gpu)
    {
        try { m.Invoke(null, new object[] { gpu }); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
    }

    /// <summary>Whether a run with --cases <paramref name="filter"/> runs the case. The probes of Hopper-only
    /// instructions (Wgmma_*) run only when the filter names them: a kernel that faults leaves the CUDA context
    /// unusable for everything after it, so run.sh gives them a process of their own after the lab.</summary>
    public static bool Selected(string name, string? filter) =>
        name.StartsWith("Wgmma_", StringComparison.Ordinal)
            ? filter is not null && filter.StartsWith("Wgmma", StringComparison.Ordinal) && name.Contains(filter, StringComparison.Ordinal)
            : filter is null || name.Contains(filter, StringComparison.Ordinal);

    /// <summary>Runs the cases (filtered by name); returns how many failed.</summary>
    public static int Run(LabOptions o, GpuBackend gpu, LabResults results)
    {
        Console.WriteLine("== cases");
        var cases = All(gpu, o.Quick).Where(c => Selected(c.Name, o.CaseFilter)).ToList();
        int failed = 0;
        foreach (var (name, run) in cases)
        {
            var clock = Stopwatch.StartNew();
            string? error = null;
            try
            {
                run();
                gpu.Synchronize();
            }
            catch (Exception e) { error = $"{e.GetType().Name}: {e.Message}"; }
            clock.Stop();
            if (error is not null) failed++;
            results.Add("case", new JsonObject
            {
                ["case"] = name, ["device"] = gpu.Device.ToString(), ["passed"] = error is null,
                ["ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1), ["error"] = error,
            });
            Console.WriteLine(error is null
                ? $"  PASS {name} ({clock.Elapsed.TotalMilliseconds:F0} ms)"
                : $"  FAIL {name}: {string.Join(" | ", error.Split('\n').Take(4))}");
        }
        Console.WriteLine($"  {cases.Count - failed} passed, {failed} failed");
        return failed;
    }
}
