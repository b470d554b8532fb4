// Seeded, counter-based random numbers. Element i of a draw depends only on (seed, i), so the CPU
// and GPU backends produce the same numbers, in any thread order. One root seed (Rng.Manual) feeds
// every random draw in the engine: init, shuffling, augmentation, dropout.
using NativeCnn.Kernels;

namespace NativeCnn;

/// <summary>A seeded, counter-based random generator: each draw takes a fresh 64-bit seed from it, and element i of a draw depends only on (seed, i), so CPU and GPU give the same numbers. One seed makes a run reproducible.</summary>
public sealed class Rng
{
    private ulong _state;

    /// <summary>A generator starting from <paramref name="seed"/>; the same seed gives the same sequence of draws.</summary>
    public Rng(ulong seed) { _state = seed; }

    /// <summary>The engine-wide generator; reseed it with <see cref="Manual"/>.</summary>
    public static Rng Global { get; private set; } = new(0);

    /// <summary>Reseeds the engine-wide generator (like torch.manual_seed).</summary>
    public static void Manual(ulong seed) => Global = new Rng(seed);

    /// <summary>A fresh 64-bit seed for one draw; advances this generator.</summary>
    public ulong NextSeed() => Mix(_state++ ^ 0xA0761D6478BD642FUL);

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>); advances this generator.</summary>
    public int NextInt(int maxExclusive) => (int)(NextSeed() % (ulong)maxExclusive);

    /// <summary>A uniform double in [0, 1); advances this generator.</summary>
    public double NextDouble() => Uniform(NextSeed(), 0);

    // The hash lives in the kernels project so the CPU and GPU backends share one definition.
    /// <summary>SplitMix64 finaliser: a strong 64-bit mix.</summary>
    public static ulong Mix(ulong z) => CounterRng.Mix(z);

    /// <summary>Uniform in [0, 1) with 24 random bits: element <paramref name="index"/> of stream <paramref name="seed"/>.</summary>
    public static float Uniform(ulong seed, long index) => CounterRng.Uniform(seed, index);

    /// <summary>Standard normal (Box-Muller on two uniforms of the same counter).</summary>
    public static float Normal(ulong seed, long index) => CounterRng.Normal(seed, index);

    /// <summary>offset + scale * u rounded once (from float64), as the GPU kernels compute it.</summary>
    public static float Affine(float offset, float scale, float u) => CounterRng.Affine(offset, scale, u);

    /// <summary>Fisher-Yates permutation of 0..n-1.</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        ulong s = NextSeed();
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)(Mix(s ^ (ulong)i) % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
