// Every kernel in NativeCnn.Kernels compiles to PTX for sm_90 with ILGPU's PTX backend (no GPU or
// driver needed), with the same context options the CUDA backend uses, and, where NVIDIA's ptxas is
// installed (/opt/cuda-ptxas, see ../shared/gpu/install-ptxas.sh), assembles for sm_90. So a kernel
// that cannot build for the GPU fails here, long before anyone has a GPU. Kernels with Hopper-only
// instructions would be checked as the backend loads them, with an sm_90a header (none on the default
// path: the GPU lab's wgmma kernels are its own); they assemble only with a CUDA 12 ptxas
// (NATIVECNN_PTXAS_SM90A), which CI does not have. Every kernel whose
// PTX the backend's pass (PtxLocalPromotion) changes assembles after the pass too.
using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends.Gpu;
using NativeCnn.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Gpu;

public class PtxCompileTests
{
    private readonly ITestOutputHelper _out;

    public PtxCompileTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> KernelNames() => PtxKernels.All().Select(k => new object[] { k.Name });

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void CompilesToPtxForSm90(string name)
    {
        var method = PtxKernels.All().Single(k => k.Name == name).Method;
        string ptx = PtxKernels.Compile(method);
        // NATIVECNN_PTX_DUMP=dir keeps the PTX for reading (cuobjdump / nvdisasm after ptxas)
        if (Environment.GetEnvironmentVariable("NATIVECNN_PTX_DUMP") is { Length: > 0 } dump)
        {
            Directory.CreateDirectory(dump);
            File.WriteAllText(Path.Combine(dump, Regex.Replace(name, "[^A-Za-z0-9_.]", "_") + ".ptx"), ptx);
        }
        // ILGPU writes the lowest target the kernel needs (sm_80 for plain code); the driver, like
        // ptxas below, compiles that PTX for the actual sm_90 device
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.True(target.Success && int.Parse(target.Groups[1].Value) <= 90, $"PTX target: {target.Value}");
        Assert.Contains(".entry", ptx);
        // a .NET method ILGPU cannot lower becomes an external function that only ptxas would reject
        Assert.DoesNotContain(".extern .func", ptx);
        if (PtxKernels.NeedsSm90a(name))
        {
            // Hopper-only instructions: the backend loads this kernel through its PTX passes, sm_90a header included
            ptx = PtxTarget.ForSm90a(PtxLocalPromotion.Apply(ptx, out _));
            Assert.Contains(".target sm_90a", ptx);
            if (PtxKernels.PtxasSm90a is not { } newer)
            {
                _out.WriteLine("no ptxas of CUDA 12 or later (NATIVECNN_PTXAS_SM90A): sm_90a PTX generated, not assembled");
                return;
            }
            var (code, report) = PtxKernels.Assemble(ptx, newer, "sm_90a");
            _out.WriteLine(report);
            Assert.True(code == 0, $"ptxas -arch=sm_90a failed for {name}:\n{report}");
            Assert.Contains("0 bytes stack frame", report);
        }
    }

    /// <summary>Every kernel in kernels/ assembles for sm_90 with no spills (the default path only: the GPU lab's
    /// variants, some of which spill, are its own), and, after the backend's PTX pass, with no more stack.</summary>
    [PtxasTheory]
    [MemberData(nameof(KernelNames))]
    public void AssemblesForSm90WithoutSpills(string name)
    {
        var method = PtxKernels.All().Single(k => k.Name == name).Method;
        string ptx = PtxKernels.Compile(method);
        var (exit, log) = PtxKernels.Assemble(ptx);
        _out.WriteLine(log);
        Assert.True(exit == 0, $"ptxas -arch=sm_90 failed for {name}:\n{log}");
        Assert.Contains("Used", log);
        // no kernel spills registers (stack frames of local arrays are allowed; benchmarks/results/ptxas-sm90.md)
        Assert.True(PtxKernels.Usage(log).SpillBytes == 0, $"{name} spills registers:\n{log}");
        // the backend's PTX pass (PtxLocalPromotion) on every kernel with inline-PTX operands: its output
        // must assemble too, with no more stack than the original
        string promoted = PtxLocalPromotion.Apply(ptx, out int slots);
        if (slots == 0) return;
        var (promotedExit, promotedLog) = PtxKernels.Assemble(promoted);
        _out.WriteLine($"after PtxLocalPromotion ({slots} slots):\n{promotedLog}");
        Assert.True(promotedExit == 0, $"ptxas -arch=sm_90 failed for {name} after PtxLocalPromotion:\n{promotedLog}");
        static int Stack(string report) => Regex.Matches(report, @"(\d+) bytes stack frame").Sum(m => int.Parse(m.Groups[1].Value));
        Assert.True(Stack(promotedLog) <= Stack(log), $"{name}: more stack after PtxLocalPromotion\n{log}\n{promotedLog}");
    }

    [Fact]
    public void GemmRegisterTileStaysInRegisters()
    {
        // the 8x4 accumulator tile and the prefetch registers must not fall back to local memory
        string ptx = PtxKernels.Compile(typeof(GemmKernels).GetMethod(nameof(GemmKernels.GemmForwardKernel))!);
        Assert.DoesNotContain(".local", ptx);
    }

    [PtxasFact(Sass = true)]
    public void GemmRegisterTileAssemblesWithoutSpills()
    {
        string ptx = PtxKernels.Compile(typeof(GemmKernels).GetMethod(nameof(GemmKernels.GemmForwardKernel))!);
        var (registers, shared, _) = PtxKernels.AssembleWithoutSpills(ptx, _out);
        _out.WriteLine($"GemmForwardKernel sm_90: {registers} registers, {shared} bytes shared, 0 bytes spilled");
        Assert.Equal(2 * GemmKernels.TileK * 65 * sizeof(float), shared);
    }

    [Fact]
    public void KernelListCoversEveryFamily()
    {
        var names = PtxKernels.All().Select(k => k.Name).ToList();
        foreach (var family in new[] { "MemoryKernels.", "ElementwiseKernels.", "ReduceKernels.", "GemmKernels.", "ConvKernels.", "PoolKernels.", "BatchNormKernels.", "LossKernels.", "OptimKernels." })
            Assert.Contains(names, n => n.StartsWith(family, StringComparison.Ordinal));
    }
}

/// <summary>Finds the kernels and compiles them to PTX / cubin.</summary>
internal static class PtxKernels
{
    private static readonly object Lock = new();
    private static Context? _context;
    private static PTXBackend? _backend;

    /// <summary>NVIDIA's ptxas: /opt/cuda-ptxas/bin/ptxas, or NATIVECNN_PTXAS (e.g. a path that does not exist, to
    /// see the tests that need it skipped).</summary>
    public static string PtxasPath => Environment.GetEnvironmentVariable("NATIVECNN_PTXAS") is { Length: > 0 } p ? p : "/opt/cuda-ptxas/bin/ptxas";
    public static string? Ptxas => File.Exists(PtxasPath) ? PtxasPath : null;

    /// <summary>Kernels with Hopper-only instructions (wgmma), which the backend loads as sm_90a (PtxTarget).</summary>
    public static bool NeedsSm90a(string name) => name.Contains("Wgmma", StringComparison.Ordinal);

    /// <summary>A ptxas that assembles sm_90a (CUDA 12 or later): NATIVECNN_PTXAS_SM90A; CI's is 11.8, which cannot.</summary>
    public static string? PtxasSm90a =>
        Environment.GetEnvironmentVariable("NATIVECNN_PTXAS_SM90A") is { Length: > 0 } path && File.Exists(path) ? path : null;

    /// <summary>Every public static method named *Kernel of a top-level static class in NativeCnn.Kernels; generic ones
    /// for each element type the backend uses.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method)> All()
    {
        var list = new List<(string, MethodInfo)>();
        foreach (var type in typeof(MemoryKernels).Assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: true, IsSealed: true, IsNested: false }).OrderBy(t => t.Name))
        foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal)).OrderBy(m => m.Name))
        {
            if (!m.IsGenericMethodDefinition) { list.Add(($"{type.Name}.{m.Name}", m)); continue; }
            foreach (var t in new[] { typeof(float), typeof(ushort), typeof(int) })
                list.Add(($"{type.Name}.{m.Name}<{t.Name}>", m.MakeGenericMethod(t)));
        }
        return list;
    }

    public static string Compile(MethodInfo kernel) => Compile(kernel, KernelSpecialization.Empty);

    private static readonly Dictionary<(MethodInfo, int?, int?), string> Compiled = new();

    /// <summary>Compiles with launch bounds (.maxntid / .minnctapersm), as the backend loads the kernel.
    /// Each (kernel, bounds) once per test run: several tests read the same PTX, and the large kernels
    /// take seconds to compile.</summary>
    public static string Compile(MethodInfo kernel, KernelSpecialization specialization)
    {
        lock (Lock)
        {
            var key = (kernel, specialization.MaxNumThreadsPerGroup, specialization.MinNumGroupsPerMultiprocessor);
            if (Compiled.TryGetValue(key, out var cached)) return cached;
            return Compiled[key] = CompileKernel(kernel, specialization).PTXAssembly;
        }
    }

    /// <summary>A fresh compiled kernel (not cached: for tests that rewrite it), with the CUDA backend's options.</summary>
    public static PTXCompiledKernel CompileKernel(MethodInfo kernel, KernelSpecialization specialization)
    {
        lock (Lock)
        {
            // the same options as the CUDA backend's context (Devices.CudaContext)
            _context ??= Context.Create(b => b.Optimize(OptimizationLevel.O2).EnableAlgorithms());
            _backend ??= new PTXBackend(_context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90,
                                        CudaInstructionSet.ISA_78, null);
            return (PTXCompiledKernel)_backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), specialization);
        }
    }

    public const string CuobjdumpPath = "/opt/cuda-ptxas/bin/cuobjdump";

    /// <summary>Runs ptxas -arch=sm_90 -v; returns its exit code and its report (registers, shared memory, spills).</summary>
    public static (int Exit, string Log) Assemble(string ptx)
    {
        var (exit, log, _) = AssembleWithSass(ptx, sass: false);
        return (exit, log);
    }

    /// <summary>Runs the given ptxas -arch=<paramref name="arch"/> -v.</summary>
    public static (int Exit, string Log) Assemble(string ptx, string ptxas, string arch)
    {
        string dir = Path.Combine(Path.GetTempPath(), "nativecnn-ptx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string input = Path.Combine(dir, "k.ptx");
            File.WriteAllText(input, ptx);
            return Run(ptxas, $"-arch={arch} -v \"{input}\" -o \"{Path.Combine(dir, "k.cubin")}\"");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>ptxas as <see cref="Assemble"/>, then, when it succeeded and cuobjdump is installed,
    /// the machine code (cuobjdump -sass); Sass is null otherwise.</summary>
    public static (int Exit, string Log, string? Sass) AssembleWithSass(string ptx, bool sass = true)
    {
        string dir = Path.Combine(Path.GetTempPath(), "nativecnn-ptx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string input = Path.Combine(dir, "k.ptx"), cubin = Path.Combine(dir, "k.cubin");
            File.WriteAllText(input, ptx);
            var (exit, log) = Run(Ptxas!, $"-arch=sm_90 -v \"{input}\" -o \"{cubin}\"");
            if (exit != 0 || !sass || !File.Exists(CuobjdumpPath)) return (exit, log, null);
            var (dumpExit, code) = Run(CuobjdumpPath, $"-sass \"{cubin}\"");
            if (dumpExit != 0) throw new InvalidOperationException($"cuobjdump -sass failed:\n{code}");
            return (exit, log, code);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Assembles <paramref name="ptx"/> and asserts it builds with no spills and no stack frame;
    /// returns registers, shared bytes and the SASS (cuobjdump -sass). Only from tests marked PtxasFact or
    /// PtxasTheory (Sass = true), which are skipped, with the reason, where those tools are not installed.</summary>
    public static (int Registers, int SharedBytes, string Sass) AssembleWithoutSpills(string ptx, Xunit.Abstractions.ITestOutputHelper output)
    {
        Assert.True(Ptxas is not null && File.Exists(CuobjdumpPath), "ptxas or cuobjdump missing: the test should carry [PtxasFact(Sass = true)]");
        var (exit, log, sass) = AssembleWithSass(ptx);
        output.WriteLine(log);
        Assert.True(exit == 0, $"ptxas -arch=sm_90 failed:\n{log}");
        var (registers, spill, shared) = Usage(log);
        Assert.Equal(0, spill);
        Assert.Contains("0 bytes stack frame", log);
        return (registers, shared, sass!);
    }

    private static (int Exit, string Output) Run(string exe, string args)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>(registers, spill stores + loads in bytes, shared memory bytes) from a ptxas -v report.</summary>
    public static (int Registers, int SpillBytes, int SharedBytes) Usage(string log)
    {
        int regs = int.Parse(Regex.Match(log, @"Used (\d+) registers").Groups[1].Value);
        var spill = Regex.Match(log, @"(\d+) bytes spill stores, (\d+) bytes spill loads");
        var smem = Regex.Match(log, @"(\d+) bytes smem");
        return (regs, int.Parse(spill.Groups[1].Value) + int.Parse(spill.Groups[2].Value), smem.Success ? int.Parse(smem.Groups[1].Value) : 0);
    }
}
