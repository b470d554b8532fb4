// What the CPU backend knows about the processor it runs on, found once, on first use: vendor,
// family/model and name (CPUID), the widest vector ISA .NET accelerates, whether 512-bit FMAs run
// at full rate (measured: Zen 4 runs them on 256-bit halves, Zen 5 and Intel's server cores do not),
// the cache sizes (CPUID, else /sys, else typical values) and the core count. From these come the
// kernel path (vector width of every kernel) and the GEMM's blocking. NATIVECNN_CPU_PATH
// (avx512 | avx2 | portable | auto) or CpuInfo.Select overrides the path, to benchmark or test each.
// Must hold: a path is only selected where the hardware runs it; every path computes the same values
// up to float32 rounding (tests run GEMM and convolution through each path).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeCnn.Backends.Cpu;

/// <summary>The CPU backend's kernel path: the vector width its kernels use.</summary>
internal enum CpuPath
{
    /// <summary>Chosen from the CPU at start-up.</summary>
    Auto,
    /// <summary>AVX-512: 512-bit vectors (8x32 GEMM micro-kernel).</summary>
    Avx512,
    /// <summary>AVX2 + FMA: 256-bit vectors (6x16 GEMM micro-kernel), as an AVX2-only CPU runs.</summary>
    Avx2,
    /// <summary>128-bit vectors (SSE, or NEON on ARM64).</summary>
    Portable,
}

/// <summary>The processor the CPU backend runs on and the kernel path it chose; detected once.</summary>
internal sealed class CpuInfo
{
    private static readonly Lazy<CpuInfo> s_detected = new(Detect);
    private static CpuPath s_path = CpuPath.Auto;   // resolved lazily from the detection or the override

    /// <summary>CPUID vendor string ("AuthenticAMD", "GenuineIntel"), or the architecture off x86.</summary>
    public string Vendor { get; }
    /// <summary>CPUID display family (AMD Zen 4 = 25, Zen 5 = 26; 0 off x86).</summary>
    public int Family { get; }
    /// <summary>CPUID display model.</summary>
    public int Model { get; }
    /// <summary>The brand string (what `lscpu` calls the model name).</summary>
    public string Name { get; }
    /// <summary>Logical cores this process may use.</summary>
    public int Cores { get; }
    /// <summary>Per-core L1 data, per-core L2, and shared L3 sizes in bytes.</summary>
    public long L1Bytes { get; }
    /// <summary>Per-core L2 size in bytes.</summary>
    public long L2Bytes { get; }
    /// <summary>L3 size in bytes.</summary>
    public long L3Bytes { get; }
    /// <summary>Measured FLOP rate of 512-bit over 256-bit FMAs on one core (about 2 at full rate,
    /// about 1 where 512-bit operations run on 256-bit halves; 0 where AVX-512 is absent).</summary>
    public double Fma512Over256 { get; }
    /// <summary>The path chosen for this CPU when nothing overrides it.</summary>
    public CpuPath DetectedPath { get; }
    /// <summary>Why <see cref="DetectedPath"/> was chosen.</summary>
    public string Reason { get; }

    private CpuInfo(string vendor, int family, int model, string name, int cores, long l1, long l2, long l3,
                    double ratio, CpuPath path, string reason)
    {
        Vendor = vendor; Family = family; Model = model; Name = name; Cores = cores;
        L1Bytes = l1; L2Bytes = l2; L3Bytes = l3; Fma512Over256 = ratio; DetectedPath = path; Reason = reason;
    }

    /// <summary>This machine's CPU, detected on first use.</summary>
    public static CpuInfo Current => s_detected.Value;

    /// <summary>The path the kernels use now: the override if one is set, else the detected one.</summary>
    public static CpuPath Path
    {
        get
        {
            var p = s_path;
            if (p != CpuPath.Auto) return p;
            p = FromEnvironment() ?? Current.DetectedPath;
            s_path = p;
            return p;
        }
    }

    /// <summary>True when kernels use 512-bit vectors (read once per call by the kernels, never per element).</summary>
    internal static bool Use512 => Path == CpuPath.Avx512;

    /// <summary>True when kernels may use 256-bit vectors (the AVX-512 and AVX2 paths).</summary>
    internal static bool Use256 => Path != CpuPath.Portable;

    /// <summary>Selects the kernel path from now on (Auto: back to the detected one, or
    /// NATIVECNN_CPU_PATH). For benchmarking or testing each path; not meant to change while work runs.
    /// Throws where this CPU cannot run <paramref name="path"/>.</summary>
    public static void Select(CpuPath path)
    {
        if (!Supports(path))
            throw new NativeCnnException($"CPU path {path.ToString().ToLowerInvariant()} is not supported by this CPU ({Current.Name}); supported: {string.Join(", ", Supported().Select(p => p.ToString().ToLowerInvariant()))}");
        s_path = path;
    }

    /// <summary>Whether this CPU (and .NET on it) runs <paramref name="path"/>.</summary>
    public static bool Supports(CpuPath path) => path switch
    {
        CpuPath.Avx512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512F.VL.IsSupported,
        CpuPath.Avx2 => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported,
        _ => true,
    };

    /// <summary>The paths this CPU runs, widest first.</summary>
    public static IReadOnlyList<CpuPath> Supported() =>
        new[] { CpuPath.Avx512, CpuPath.Avx2, CpuPath.Portable }.Where(Supports).ToList();

    /// <summary>Parses "avx512", "avx2", "portable" or "auto" (any case); null for anything else.</summary>
    public static CpuPath? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "auto" => CpuPath.Auto,
        "avx512" or "avx-512" => CpuPath.Avx512,
        "avx2" or "256" => CpuPath.Avx2,
        "portable" or "128" => CpuPath.Portable,
        _ => null,
    };

    private static CpuPath? FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable("NATIVECNN_CPU_PATH");
        if (string.IsNullOrWhiteSpace(text)) return null;
        var p = Parse(text) ?? throw new NativeCnnException($"NATIVECNN_CPU_PATH: expected avx512, avx2, portable or auto, got '{text}'");
        if (p == CpuPath.Auto) return null;
        if (!Supports(p)) throw new NativeCnnException($"NATIVECNN_CPU_PATH={text}: this CPU ({Current.Name}) does not support it");
        return p;
    }

    /// <summary>One line: name, family/model, caches, cores, the 512/256 FMA ratio and the path in use.</summary>
    public string Describe() =>
        FormattableString.Invariant($"{Name} ({Vendor} family {Family} model {Model}), {Cores} cores, L1d {L1Bytes >> 10} KiB, L2 {L2Bytes >> 10} KiB, L3 {L3Bytes >> 20} MiB; ") +
        FormattableString.Invariant($"FMA 512/256 rate {Fma512Over256:F2}; CPU path {Path.ToString().ToLowerInvariant()}") +
        (Path == DetectedPath ? $" ({Reason})" : $" (forced; detected {DetectedPath.ToString().ToLowerInvariant()})");

    private static CpuInfo Detect()
    {
        string vendor = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        int family = 0, model = 0;
        string name = vendor;
        if (X86Base.IsSupported)
        {
            (vendor, family, model, name) = Identify();
        }
        var (l1, l2, l3) = CacheSizes();
        double ratio = Supports(CpuPath.Avx512) ? MeasureFma512Over256() : 0;
        CpuPath path;
        string reason;
        if (Supports(CpuPath.Avx512))
        {
            // 512-bit FMAs at full rate double the peak. At half rate (256-bit halves) the peak is the
            // same either way, and the 8x32 kernel still issues half the instructions of 6x16 with twice
            // the registers for its tile: it won on Zen 4 too (benchmarks/results/cpu.md).
            path = CpuPath.Avx512;
            reason = ratio >= 1.5 ? "512-bit FMA at full rate" : "512-bit FMA on 256-bit halves: same peak, fewer instructions";
        }
        else if (Supports(CpuPath.Avx2)) { path = CpuPath.Avx2; reason = "AVX2 + FMA, no AVX-512"; }
        else { path = CpuPath.Portable; reason = "no AVX2/FMA"; }
        return new CpuInfo(vendor, family, model, name, Environment.ProcessorCount, l1, l2, l3, ratio, path, reason);
    }

    private static (string Vendor, int Family, int Model, string Name) Identify()
    {
        var (_, b, c, d) = X86Base.CpuId(0, 0);
        string vendor = Ascii(b, d, c);
        int eax = X86Base.CpuId(1, 0).Eax;
        int baseFamily = (eax >> 8) & 0xF, baseModel = (eax >> 4) & 0xF;
        int family = baseFamily == 0xF ? baseFamily + ((eax >> 20) & 0xFF) : baseFamily;
        int model = baseFamily is 0x6 or 0xF ? (((eax >> 16) & 0xF) << 4) + baseModel : baseModel;
        string name = vendor;
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
        {
            var s = new System.Text.StringBuilder();
            for (int leaf = 0; leaf < 3; leaf++)
            {
                var r = X86Base.CpuId(unchecked((int)0x80000002) + leaf, 0);
                s.Append(Ascii(r.Eax, r.Ebx, r.Ecx, r.Edx));
            }
            name = s.ToString().Trim('\0', ' ');
        }
        return (vendor, family, model, name);
    }

    private static string Ascii(params int[] regs)
    {
        var bytes = new byte[regs.Length * 4];
        for (int i = 0; i < regs.Length; i++) BitConverter.GetBytes(regs[i]).CopyTo(bytes, 4 * i);
        return System.Text.Encoding.ASCII.GetString(bytes).TrimEnd('\0');
    }

    /// <summary>L1d, L2, L3 in bytes: Linux's /sys (what the hypervisor says, as lscpu shows), else
    /// CPUID's deterministic cache leaves, else 32 KiB / 512 KiB / 8 MiB.</summary>
    private static (long L1, long L2, long L3) CacheSizes()
    {
        long l1 = 0, l2 = 0, l3 = 0;
        try
        {
            const string dir = "/sys/devices/system/cpu/cpu0/cache";
            if (Directory.Exists(dir))
                foreach (var index in Directory.GetDirectories(dir, "index*"))
                {
                    string type = File.ReadAllText(System.IO.Path.Combine(index, "type")).Trim();
                    int level = int.Parse(File.ReadAllText(System.IO.Path.Combine(index, "level")).Trim(), CultureInfo.InvariantCulture);
                    long size = ParseSize(File.ReadAllText(System.IO.Path.Combine(index, "size")).Trim());
                    if (level == 1 && type == "Data") l1 = size;
                    else if (level == 2 && type != "Instruction") l2 = size;
                    else if (level == 3) l3 = size;
                }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        if ((l1 == 0 || l2 == 0) && X86Base.IsSupported)
        {
            // AMD: leaf 0x8000001D; Intel: leaf 4. Same layout: type, level, ways, partitions, line, sets.
            int leaf = Identify().Vendor == "AuthenticAMD" ? unchecked((int)0x8000001D) : 4;
            for (int sub = 0; sub < 8; sub++)
            {
                var (a, b, c, _) = X86Base.CpuId(leaf, sub);
                int type = a & 0x1F, level = (a >> 5) & 0x7;
                if (type == 0) break;
                long size = (long)(((b >> 22) & 0x3FF) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * ((uint)c + 1L);
                if (level == 1 && type == 1 && l1 == 0) l1 = size;
                else if (level == 2 && type != 2 && l2 == 0) l2 = size;
                else if (level == 3 && l3 == 0) l3 = size;
            }
        }
        return (l1 > 0 ? l1 : 32 << 10, l2 > 0 ? l2 : 512 << 10, l3 > 0 ? l3 : 8 << 20);
    }

    private static long ParseSize(string s)
    {
        long mult = 1;
        if (s.EndsWith('K')) { mult = 1 << 10; s = s[..^1]; }
        else if (s.EndsWith('M')) { mult = 1 << 20; s = s[..^1]; }
        return long.Parse(s, CultureInfo.InvariantCulture) * mult;
    }

    /// <summary>FLOP rate of a 512-bit FMA loop over a 256-bit one on this thread: the best of seven
    /// alternating ~0.1 ms trials each, so a preemption on a busy host spoils a trial, not the answer.</summary>
    private static double MeasureFma512Over256()
    {
        const int iterations = 8192;
        Fma512(64); Fma256(64);
        double best512 = double.MaxValue, best256 = double.MaxValue;
        for (int trial = 0; trial < 7; trial++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Fma512(iterations);
            long t1 = Stopwatch.GetTimestamp();
            Fma256(iterations);
            long t2 = Stopwatch.GetTimestamp();
            best512 = Math.Min(best512, t1 - t0);
            best256 = Math.Min(best256, t2 - t1);
        }
        // same number of FMA instructions; a 512-bit one does twice the FLOPs
        return 2.0 * best256 / Math.Max(1, best512);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float Fma512(int n)
    {
        var m = Vector512.Create(0.9999f); var c = Vector512.Create(1e-4f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        for (int i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float Fma256(int n)
    {
        var m = Vector256.Create(0.9999f); var c = Vector256.Create(1e-4f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        for (int i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }
}
