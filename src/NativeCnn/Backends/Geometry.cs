// Plain descriptions of the shapes that the conv and pooling primitives work on, computed once in
// Ops/ from the user's arguments (already validated) and passed unchanged to every backend. (The op
// codes UnaryOp, BinaryOp and ReduceOp are in kernels/NativeCnn.Kernels/OpCodes.cs, shared with the kernels.)
namespace NativeCnn.Backends;

/// <summary>x: (N, C, H, W), w: (K, C, R, S), y: (N, K, P, Q).</summary>
internal readonly record struct ConvGeometry(
    int N, int C, int H, int W, int K, int R, int S,
    int StrideH, int StrideW, int PadH, int PadW, int DilationH, int DilationW)
{
    public int P => (H + 2 * PadH - DilationH * (R - 1) - 1) / StrideH + 1;
    public int Q => (W + 2 * PadW - DilationW * (S - 1) - 1) / StrideW + 1;
    /// <summary>Rows of the unfolded input (im2col): C*R*S.</summary>
    public int Crs => C * R * S;
    public long Flops => 2L * N * K * P * Q * C * R * S;
}

/// <summary>x: (N, C, H, W) -> y: (N, C, P, Q) over windows R x S.</summary>
internal readonly record struct PoolGeometry(
    int N, int C, int H, int W, int P, int Q, int R, int S,
    int StrideH, int StrideW, int PadH, int PadW, bool CountIncludePad);
