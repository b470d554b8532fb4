// Seeded, counter-based random numbers. Element i of a draw depends only on (seed, i), so the CPU
// and GPU backends produce the same numbers, in any thread order. One root seed (Rng.Manual) feeds
// every random draw in the engine: init, shuffling, augmentation, dropout.
namespace NativeCnn;

public sealed class Rng
{
    private ulong _state;

    public Rng(ulong seed) { _state = seed; }

    /// <summary>The engine-wide generator; reseed it with <see cref="Manual"/>.</summary>
    public static Rng Global { get; private set; } = new(0);

    /// <summary>Reseeds the engine-wide generator (like torch.manual_seed).</summary>
    public static void Manual(ulong seed) => Global = new Rng(seed);

    /// <summary>A fresh 64-bit seed for one draw; advances this generator.</summary>
    public ulong NextSeed() => Mix(_state++ ^ 0xA0761D6478BD642FUL);

    public int NextInt(int maxExclusive) => (int)(NextSeed() % (ulong)maxExclusive);

    public double NextDouble() => Uniform(NextSeed(), 0);

    /// <summary>SplitMix64 finaliser: a strong 64-bit mix.</summary>
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits: element <paramref name="index"/> of stream <paramref name="seed"/>.</summary>
    public static float Uniform(ulong seed, long index)
    {
        ulong z = Mix(seed ^ Mix((ulong)index));
        return (z >> 40) * (1.0f / 16777216.0f);
    }

    /// <summary>Standard normal (Box-Muller on two uniforms of the same counter).</summary>
    public static float Normal(ulong seed, long index)
    {
        ulong z = Mix(seed ^ Mix((ulong)index));
        double u1 = ((z >> 40) + 1.0) / 16777217.0;       // (0, 1]
        double u2 = ((z & 0xFFFFFF) + 0.5) / 16777216.0;
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

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
