// Memory kernels: fill, strided copy, dtype casts and counter-based random fills. Float16 is stored
// as its IEEE binary16 bit pattern (ushort) and converted here by bit arithmetic, rounding to
// nearest even exactly as .NET's (Half) cast does, so the simulator, CUDA and the CPU backend agree
// bit for bit. Random draws use the same SplitMix64 hash as NativeCnn.Rng: element i of a draw
// depends only on (seed, i).
using ILGPU;

namespace NativeCnn.Kernels;

internal static class MemoryKernels
{
    // dst: (n) = value
    public static void FillKernel<T>(ArrayView<T> dst, T value, int n) where T : unmanaged
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = value;
    }

    // dst[B offset of i] = src[A offset of i] over the layout's n elements (A = source strides, B = destination strides)
    public static void StridedCopyKernel<T>(ArrayView<T> src, ArrayView<T> dst, StridedLayout layout, int n) where T : unmanaged
    {
        for (int i = Threads.Global; i < n; i += Threads.Count)
        {
            layout.Offsets(i, out int s, out int d);
            dst[d] = src[s];
        }
    }

    // dst: (n) float16 bits = round-to-nearest-even(src)
    public static void CastFloatToHalfKernel(ArrayView<float> src, ArrayView<ushort> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = HalfBits.FromFloat(src[i]);
    }

    // dst: (n) = exact float value of the float16 bits in src
    public static void CastHalfToFloatKernel(ArrayView<ushort> src, ArrayView<float> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = HalfBits.ToFloat(src[i]);
    }

    // dst: (n) = (int)src, truncating toward zero (saturating; NaN gives 0, as in .NET)
    public static void CastFloatToIntKernel(ArrayView<float> src, ArrayView<int> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = Saturate(src[i]);
    }

    // dst: (n) = (float)src
    public static void CastIntToFloatKernel(ArrayView<int> src, ArrayView<float> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = src[i];
    }

    // dst: (n) = (int)(float)src
    public static void CastHalfToIntKernel(ArrayView<ushort> src, ArrayView<int> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = Saturate(HalfBits.ToFloat(src[i]));
    }

    // dst: (n) float16 bits = (half)(float)src
    public static void CastIntToHalfKernel(ArrayView<int> src, ArrayView<ushort> dst, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = HalfBits.FromFloat(src[i]);
    }

    // dst: (n) = lo + range * U(seed, i)
    public static void RandomUniformKernel(ArrayView<float> dst, ulong seed, float lo, float range, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = CounterRng.Affine(lo, range, CounterRng.Uniform(seed, i));
    }

    // dst: (n) = mean + std * N(seed, i)
    public static void RandomNormalKernel(ArrayView<float> dst, ulong seed, float mean, float std, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) dst[i] = CounterRng.Affine(mean, std, CounterRng.Normal(seed, i));
    }

    // .NET's float->int conversion saturates and maps NaN to 0; spelled out so every target agrees.
    private static int Saturate(float v)
    {
        if (float.IsNaN(v)) return 0;
        if (v >= 2147483647f) return int.MaxValue;
        if (v <= -2147483648f) return int.MinValue;
        return (int)v;
    }
}

/// <summary>IEEE binary16 conversions on bit patterns, valid inside kernels and on the host.</summary>
internal static class HalfBits
{
    /// <summary>float32 -> float16 bits, round to nearest even; overflow gives infinity, NaN stays NaN.
    /// (F. Giesen's float_to_half_fast3_rtne: the subnormal case lets a float addition do the rounding.)</summary>
    public static ushort FromFloat(float value)
    {
        uint x = Interop.FloatAsInt(value);
        uint sign = (x >> 16) & 0x8000u;
        x &= 0x7FFFFFFFu;
        uint o;
        if (x >= 0x47800000u)                        // >= 65536 (after rounding: inf), inf or NaN
            o = x > 0x7F800000u ? 0x7E00u : 0x7C00u;
        else if (x < 0x38800000u)                    // below 2^-14: subnormal half or zero
        {
            // adding 0.5 aligns the 10 mantissa bits at the bottom; float addition rounds to nearest even
            float f = Interop.IntAsFloat(x) + 0.5f;
            o = Interop.FloatAsInt(f) - 0x3F000000u;
        }
        else
        {
            uint mantOdd = (x >> 13) & 1u;
            x += 0xC8000FFFu;                        // rebias exponent (15 - 127) << 23, plus rounding bias 0xFFF
            x += mantOdd;
            o = x >> 13;
        }
        return (ushort)(o | sign);
    }

    /// <summary>float16 bits -> float32 (exact).</summary>
    public static float ToFloat(ushort bits)
    {
        uint sign = (uint)(bits & 0x8000) << 16;
        uint exp = (uint)(bits >> 10) & 0x1Fu;
        uint mant = bits & 0x3FFu;
        if (exp == 0x1Fu) return Interop.IntAsFloat(sign | 0x7F800000u | (mant << 13));
        if (exp == 0)
        {
            // subnormal: mant * 2^-24 is exact in float32
            float v = mant * 5.9604644775390625e-8f;
            return sign != 0 ? -v : v;
        }
        return Interop.IntAsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
    }
}

/// <summary>The counter-based generator behind NativeCnn.Rng: the one definition, used by the GPU
/// kernels and (through Rng) by the CPU backend, so both draw identical numbers.</summary>
internal static class CounterRng
{
    /// <summary>SplitMix64 finaliser.</summary>
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>offset + scale * u, rounded once from float64 so that every target gives the same bits:
    /// in float32 a GPU compiler fuses the multiply and add into one fma (one rounding) where the CPU
    /// rounds twice (seen on an H200: 0.38909423 against 0.38909435). The float64 product of two
    /// floats is exact, so fused or not the sum is rounded once.</summary>
    public static float Affine(float offset, float scale, float u) => (float)(offset + (double)scale * u);

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public static float Uniform(ulong seed, long index)
    {
        ulong z = Mix(seed ^ Mix((ulong)index));
        return (z >> 40) * (1.0f / 16777216.0f);
    }

    /// <summary>Standard normal (Box-Muller on two uniforms of the same counter), in float64 like the CPU.</summary>
    public static float Normal(ulong seed, long index)
    {
        ulong z = Mix(seed ^ Mix((ulong)index));
        double u1 = ((z >> 40) + 1.0) / 16777217.0;
        double u2 = ((z & 0xFFFFFF) + 0.5) / 16777216.0;
        return (float)(System.Math.Sqrt(-2.0 * System.Math.Log(u1)) * System.Math.Cos(2.0 * System.Math.PI * u2));
    }
}
