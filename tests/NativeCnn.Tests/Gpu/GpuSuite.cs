// The GPU backend suite: every case in GpuCases (one public static method taking the backend under
// test) runs on ILGPU's CPU simulator here and on CUDA where a usable device exists (skipped, with
// the reason, elsewhere). Adding a case means adding a method to a GpuCases.*.cs file.
using System.Reflection;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

[Collection("Gpu")]
public class GpuSuite
{
    public static IEnumerable<object[]> Cases() =>
        typeof(GpuCases).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetParameters() is [{ ParameterType: var t }] && t == typeof(GpuBackend))
            .OrderBy(m => m.Name)
            .Select(m => new object[] { m.Name });

    private static void Run(string name, GpuBackend backend)
    {
        var method = typeof(GpuCases).GetMethod(name, BindingFlags.Public | BindingFlags.Static)
                     ?? throw new InvalidOperationException($"no case {name}");
        try { method.Invoke(null, new object[] { backend }); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Simulator(string name) => Run(name, G.Simulator);

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void Cuda(string name) => Run(name, G.Cuda);
}
