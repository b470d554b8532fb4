// Rewrites a compiled kernel's PTX in place, between ILGPU's PTX backend and the CUDA driver, for the
// passes ILGPU lacks (PtxLocalPromotion.cs, PtxTarget.cs), and loads it the way ILGPU's LoadStreamKernel
// does (the launcher on the default stream). PTXCompiledKernel.PTXAssembly has no setter: ILGPU 1.5.3
// (pinned) keeps the text in the property's backing field, which Rewrite writes (PtxLocalPromotionTests
// checks that it exists). On the simulator the compiled kernel is IL, not PTX, and loads as it is,
// through the same calls.
using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;

namespace NativeCnn.Backends.Gpu;

internal static class CompiledPtx
{
    private static readonly FieldInfo? PtxAssemblyField =
        typeof(PTXCompiledKernel).GetField("<PTXAssembly>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether compiled kernels can be rewritten in place (true on the pinned ILGPU).</summary>
    public static bool CanRewrite => PtxAssemblyField is not null;

    /// <summary>Replaces <paramref name="kernel"/>'s PTX by <paramref name="pass"/> of it, before an accelerator loads it.</summary>
    public static void Rewrite(PTXCompiledKernel kernel, Func<string, string> pass)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (PtxAssemblyField is null)
            throw new NativeCnnException($"GPU backend: kernel {kernel.Name} needs its PTX rewritten, but this ILGPU build does not keep " +
                                         "PTXCompiledKernel's text where ILGPU 1.5.3 does");
        PtxAssemblyField.SetValue(kernel, pass(kernel.PTXAssembly));
    }

    /// <summary>Compiles an explicitly grouped kernel with <paramref name="bounds"/>, passes its PTX through
    /// PtxLocalPromotion (and, with <paramref name="sm90a"/>, PtxTarget.ForSm90a), and loads it.</summary>
    public static Kernel Load(Accelerator acc, MethodInfo kernel, KernelSpecialization bounds, bool sm90a = false)
    {
        var compiled = acc.GetBackend().Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), bounds);
        if (compiled is PTXCompiledKernel ptx)
            Rewrite(ptx, text =>
            {
                text = PtxLocalPromotion.Apply(text, out _);
                return sm90a ? PtxTarget.ForSm90a(text) : text;
            });
        return acc.LoadKernel(compiled);
    }

    /// <summary><see cref="Load"/> with a launcher on the default stream, as LoadStreamKernel returns.</summary>
    public static Action<KernelConfig, T1, T2, T3, T4> LoadStreamKernel<T1, T2, T3, T4>(
        Accelerator acc, Action<T1, T2, T3, T4> kernel, KernelSpecialization bounds, bool sm90a = false)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct
    {
        var launcher = Load(acc, kernel.Method, bounds, sm90a).CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>>();
        var stream = acc.DefaultStream;
        return (config, x1, x2, x3, x4) => launcher(stream, config, x1, x2, x3, x4);
    }
}
