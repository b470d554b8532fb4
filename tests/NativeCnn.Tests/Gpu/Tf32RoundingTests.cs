// The kernels' TF32 rounding on the bits (Tf32.RoundBits, what the simulator runs for cvt.rna.tf32.f32)
// against the tests' own rounding in double (Tf32Reference), on special values, ties and random floats.
using NativeCnn.Kernels;
using Xunit;

namespace NativeCnn.Tests.Gpu;

public class Tf32RoundingTests
{
    private static float Bits(float f) => BitConverter.UInt32BitsToSingle(Tf32.RoundBits(BitConverter.SingleToUInt32Bits(f)));

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(1f + 1f / 2048, 1f + 1f / 1024)]              // a tie rounds away from zero
    [InlineData(-(1f + 1f / 2048), -(1f + 1f / 1024))]
    [InlineData(1f + 1f / 2048 - 1f / 8388608, 1f)]           // just below the tie
    [InlineData(1f + 3f / 2048, 1f + 2f / 1024)]              // a tie above an odd mantissa: still away
    [InlineData(float.MaxValue, float.PositiveInfinity)]      // past the largest TF32: infinity
    [InlineData(float.NegativeInfinity, float.NegativeInfinity)]
    [InlineData(0f, 0f)]
    public void Rounds_to_nearest_ties_away(float value, float expected)
    {
        Assert.Equal(expected, Bits(value));
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(Bits(value)) & 0x1FFFu);
    }

    [Fact]
    public void NaN_stays_NaN_and_random_floats_match_the_reference()
    {
        Assert.True(float.IsNaN(Bits(float.NaN)));
        var r = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            float f = BitConverter.Int32BitsToSingle(r.Next() ^ (r.Next(2) << 31));
            if (!float.IsFinite(f) || Math.Abs(f) >= 3.4e38f) continue;
            Assert.Equal(Tf32Reference.Round(f), Bits(f));
        }
    }
}
