// TF32 on tensor cores: the operand rounding and the mma.sync.m16n8k8 instruction the TF32 kernels
// (ConvImplicitTf32.cs, GemmTf32.cs) share, and the two tensor-core operations (HalfMma, Tf32Mma) a
// kernel body takes as a struct type argument (ConvImplicitFp16.cs's ConvAcc.Step).
// TF32 keeps float32's 8-bit exponent and 10 bits of mantissa. Operands are rounded once, when a
// kernel stages them, the way cuDNN and cuBLAS do under PyTorch's allow_tf32: to nearest with ties
// away from zero (cvt.rna.tf32.f32), the low 13 bits zero. A product of two TF32 values is exact in
// float32 (11 + 11 significant bits), so a lane's sum in float32 differs from a float64 sum of the
// same rounded operands by float32 summation alone.
// Fragment layout of m16n8k8.tf32 (PTX ISA; lane = 4g + t): a0 = (row g, k t), a1 = (g + 8, t),
// a2 = (g, t + 4), a3 = (g + 8, t + 4); b0 = (k t, column g), b1 = (t + 4, g); C as m16n8k16. With
// one TF32 value per 32-bit word this is, word for word, the layout of m16n8k16.f16 with one k pair
// per word: the float16 kernels' staging (rows of words, padded to 20) serves both unchanged.
// Where PTX cannot run (ILGPU's CPU simulator) the rounding is done on the bits and the mma is
// emulated from the fragment registers by warp shuffles (EmulatedMma), in the same k order.
// What must hold: Round(x) equals cvt.rna.tf32.f32 for every float (NaN stays NaN, infinities stay).
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace NativeCnn.Kernels;

/// <summary>A tensor-core operation on words of a staged slice: the mma of one 8-word k step and the
/// sum of products of one word pair (what the simulator's fast path adds up).</summary>
internal interface ITensorCoreOp
{
    void Mma(ref GemmHalfKernels.Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1);
    float Dot(uint x, uint y);
}

/// <summary>mma.sync.m16n8k16 on float16: a word is two halves (lower k in the low 16 bits).</summary>
internal struct HalfMma : ITensorCoreOp
{
    public readonly void Mma(ref GemmHalfKernels.Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1) =>
        GemmHalfKernels.Mma(ref f, a0, a1, a2, a3, b0, b1);

    public readonly float Dot(uint x, uint y) => GemmHalfKernels.Dot2(x, y);
}

/// <summary>mma.sync.m16n8k8 on TF32: a word is one TF32 value (float32 bits, the low 13 zero).</summary>
internal struct Tf32Mma : ITensorCoreOp
{
    public readonly void Mma(ref GemmHalfKernels.Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1) =>
        Tf32.Mma(ref f, a0, a1, a2, a3, b0, b1);

    public readonly float Dot(uint x, uint y) => Interop.IntAsFloat(x) * Interop.IntAsFloat(y);
}

internal static class Tf32
{
    /// <summary>The TF32 bits of <paramref name="value"/>: cvt.rna.tf32.f32 on the GPU, the same rounding
    /// on the bits elsewhere (add half of the dropped 13 bits' range to the magnitude, then clear them:
    /// to nearest, ties away from zero; a carry into the exponent is the correct next binade, and past
    /// the largest finite TF32 it gives infinity).</summary>
    public static uint Round(float value)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> r = default;
            Input<float> v = value;
            CudaAsm.EmitRef("cvt.rna.tf32.f32 %0, %1;", ref r, ref v);
            return r.Value;
        }
        return RoundBits(Interop.FloatAsInt(value));
    }

    /// <summary>The rounding of Round on float32 bits: NaN and infinity unchanged.</summary>
    public static uint RoundBits(uint x) =>
        (x & 0x7F800000u) == 0x7F800000u ? x : (x + 0x1000u) & 0xFFFFE000u;

    /// <summary>D = A (16x8) * B (8x8) + C on the warp's fragments: one mma.sync.m16n8k8.tf32.</summary>
    public static void Mma(ref GemmHalfKernels.Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        if (!CudaAsm.IsSupported)
        {
            f = EmulatedMma(f, a0, a1, a2, a3, b0, b1);
            return;
        }
        Ref<float> d0 = f.C0, d1 = f.C1, d2 = f.C2, d3 = f.C3;
        Input<uint> x0 = a0, x1 = a1, x2 = a2, x3 = a3, y0 = b0, y1 = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref d0, ref d1, ref d2, ref d3, ref x0, ref x1, ref x2, ref x3, ref y0, ref y1);
        f.C0 = d0.Value; f.C1 = d1.Value; f.C2 = d2.Value; f.C3 = d3.Value;
    }

    /// <summary>One m16n8k8 mma where PTX cannot run, from the registers themselves (every lane of the warp
    /// calls it together): each product term of this lane's accumulators (rows g, g + 8; columns 2t, 2t + 1)
    /// fetched by warp shuffle from the lane and register that hold it by the PTX ISA (A row r, k q: lane
    /// 4(r mod 8) + q mod 4, register (r &gt;= 8) + 2(q &gt;= 4); B column n, k q: lane 4n + q mod 4,
    /// register (q &gt;= 4)), summed in k order. Out of line, by value (GemmHalfKernels.EmulatedMma).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal static GemmHalfKernels.Frag4 EmulatedMma(GemmHalfKernels.Frag4 f, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        int lane = Warp.LaneIdx, gq = lane >> 2, tig = lane & 3;
        for (int q = 0; q < 8; q++)
        {
            bool hi = q >= 4;
            int owner = 4 * gq + (q & 3);
            float rowG = Interop.IntAsFloat(Warp.Shuffle(hi ? a2 : a0, owner));
            float rowG8 = Interop.IntAsFloat(Warp.Shuffle(hi ? a3 : a1, owner));
            float col0 = Interop.IntAsFloat(Warp.Shuffle(hi ? b1 : b0, 8 * tig + (q & 3)));
            float col1 = Interop.IntAsFloat(Warp.Shuffle(hi ? b1 : b0, 8 * tig + 4 + (q & 3)));
            f.C0 += rowG * col0;
            f.C1 += rowG * col1;
            f.C2 += rowG8 * col0;
            f.C3 += rowG8 * col1;
        }
        return f;
    }
}
