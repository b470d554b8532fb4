// Helpers of the GPU cases (GpuCases.*.cs), shared by the xunit suite and the GPU lab
// (benchmarks/NativeCnn.GpuLab links this file and the cases; it has xunit's assertions but no
// runner, so nothing here may use xunit's attributes): the backends under test, uploads, outputs
// poisoned so a kernel that misses an element fails, and comparisons against the CPU backend or
// float64 values. On the simulator every ArrayView access is bounds-checked (Trace.Assert in the
// kernel threads): an out-of-range index aborts the run with "Index out of range".
using NativeCnn.Backends;
using NativeCnn.Backends.Cpu;
using NativeCnn.Backends.Gpu;
using Xunit;

namespace NativeCnn.Tests.Gpu;

internal static class G
{
    public static GpuBackend Simulator => Devices.SimulatorBackend();
    public static GpuBackend Cuda => Devices.CudaBackend(0);
    public static CpuBackend Cpu => CpuBackend.Instance;

    public static float[] Rand(int seed, int n, float lo = -1f, float hi = 1f)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * (float)r.NextDouble();
        return v;
    }

    public static Storage Up(IBackend b, float[] data) => b.FromHost(data);
    public static Storage Up(IBackend b, int[] data) => b.FromHost(data);

    /// <summary>An output buffer filled with NaN (float) or -7 (int/half), so unwritten elements show.</summary>
    public static Storage Out(IBackend b, int n, DType dtype = DType.Float32)
    {
        var s = b.Allocate(dtype, n);
        b.Fill(s, dtype == DType.Float32 ? float.NaN : -7f);
        return s;
    }

    public static float[] Down(IBackend b, Storage s, int offset = 0, int? count = null)
    {
        var r = new float[count ?? s.Length - offset];
        b.ToHost(s, offset, r);
        return r;
    }

    public static int[] DownInt(IBackend b, Storage s)
    {
        var r = new int[s.Length];
        b.ToHost(s, 0, r);
        return r;
    }

    /// <summary>|expected - actual| / (1 + |expected|) &lt;= tol elementwise; NaN matches NaN, infinities must match exactly.</summary>
    public static void Close(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tol, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (double.IsInfinity(e) || double.IsInfinity(a))
            {
                if (e != a) throw new Xunit.Sdk.XunitException($"{what}: element {i} is {a}, expected {e}");
                continue;
            }
            double err = Math.Abs(e - a) / (1 + Math.Abs(e));
            if (!(err <= tol))
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {a}, expected {e} (relative error {err:E2} > {tol:E1})");
        }
    }

    public static void Close(IReadOnlyList<double> expected, IReadOnlyList<float> actual, double tol, string what) =>
        Close(expected.Select(v => (float)v).ToArray(), actual, tol, what);

    /// <summary>Bit-for-bit equality (NaN payloads included).</summary>
    public static void Same(IReadOnlyList<float> expected, IReadOnlyList<float> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {actual[i]}, expected {expected[i]} (bitwise)");
    }
}

internal static class Both
{
    /// <summary>Uploads the same float inputs to the CPU backend and to <paramref name="gpu"/>, makes
    /// poisoned outputs of the given lengths, runs <paramref name="call"/> on each, and returns each
    /// backend's outputs (int outputs converted to float).</summary>
    public static (float[][] Cpu, float[][] Gpu) Run(IBackend gpu, float[][] inputs, int[] outputs,
                                                     Action<IBackend, Storage[], Storage[]> call, DType[]? outputTypes = null)
    {
        float[][] On(IBackend b)
        {
            var ins = inputs.Select(v => G.Up(b, v)).ToArray();
            var outs = outputs.Select((n, k) => G.Out(b, n, outputTypes?[k] ?? DType.Float32)).ToArray();
            call(b, ins, outs);
            return outs.Select(o => G.Down(b, o)).ToArray();
        }
        return (On(G.Cpu), On(gpu));
    }

    /// <summary>Runs on both backends and asserts every output agrees within <paramref name="tol"/>.</summary>
    public static void Agree(IBackend gpu, string what, float[][] inputs, int[] outputs, Action<IBackend, Storage[], Storage[]> call,
                             double tol = 1e-5, DType[]? outputTypes = null)
    {
        var (cpu, gpuOut) = Run(gpu, inputs, outputs, call, outputTypes);
        for (int k = 0; k < outputs.Length; k++) G.Close(cpu[k], gpuOut[k], tol, $"{what}, output {k}");
    }
}
