// The library's precision switches, the counterpart of PyTorch's torch.backends.cudnn.allow_tf32 /
// torch.backends.cuda.matmul.allow_tf32. One process-wide flag, read at every float32 convolution and
// GEMM the GPU backend runs (so it may be flipped between steps), ignored by the CPU backend.
// What must hold: off by default, so float32 results are float32 unless a user asks.
namespace NativeCnn;

/// <summary>Precision switches of the whole library (process-wide, like PyTorch's <c>torch.backends</c> flags).</summary>
public static class Precision
{
    private static volatile bool _allowTf32;

    /// <summary>
    /// Whether float32 convolutions and matrix products on a CUDA GPU of compute capability 8.0 or above
    /// (Ampere, Hopper) may run on tensor cores in TF32: each operand rounded to 10 bits of mantissa
    /// (float32's exponent range kept), products summed in float32. About 8x the float32 arithmetic rate on
    /// an H100, at a relative error of about 1e-3 per product instead of 1e-7. Off by default (strict
    /// float32). The same switch as PyTorch's <c>torch.backends.cudnn.allow_tf32</c> (which PyTorch turns on
    /// by default for convolutions) together with <c>torch.backends.cuda.matmul.allow_tf32</c> (off by
    /// default there): here one flag covers both. The CPU backend ignores it; GPUs below compute capability
    /// 8.0 ignore it; float16 tensors are unaffected. The CLI sets it with <c>--tf32</c>.
    /// </summary>
    public static bool AllowTf32
    {
        get => _allowTf32;
        set => _allowTf32 = value;
    }
}
