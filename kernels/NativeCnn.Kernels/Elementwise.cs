// Elementwise maps: unary functions with their gradients, and binary arithmetic over strided
// (broadcast) operands. The op is a kernel argument and the switch sits outside the element loop,
// so every thread of a launch takes the same branch. Formulas mirror CpuBackend.Elementwise.cs
// exactly (relu'(0) = 0, relu keeps NaN, clamp passes the gradient at its bounds, NaN behaves as in .NET).
// The op codes are OpCodes.cs's, shared with both backends; an unknown code traps (Unknown) instead of
// leaving the output unwritten.
using ILGPU;
using ILGPU.Runtime.Cuda;
using NativeCnn.Backends;

namespace NativeCnn.Kernels;

internal static class ElementwiseKernels
{
    // x: (n) -> y: (n) = op(x; a, b); y may alias x
    public static void UnaryForwardKernel(ArrayView<float> x, ArrayView<float> y, int n, UnaryOp op, float a, float b)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case UnaryOp.Affine: for (int i = i0; i < n; i += step) y[i] = a * x[i] + b; break;
            case UnaryOp.Exp: for (int i = i0; i < n; i += step) y[i] = MathF.Exp(x[i]); break;
            case UnaryOp.Log: for (int i = i0; i < n; i += step) y[i] = MathF.Log(x[i]); break;
            case UnaryOp.Sqrt: for (int i = i0; i < n; i += step) y[i] = MathF.Sqrt(x[i]); break;
            case UnaryOp.Pow: for (int i = i0; i < n; i += step) y[i] = MathF.Pow(x[i], a); break;
            case UnaryOp.Relu: for (int i = i0; i < n; i += step) { float v = x[i]; y[i] = v <= 0 ? 0f : v; } break;   // NaN stays NaN, as torch.relu
            case UnaryOp.Sigmoid: for (int i = i0; i < n; i += step) y[i] = Sigmoid(x[i]); break;
            case UnaryOp.Tanh: for (int i = i0; i < n; i += step) y[i] = Tanh(x[i]); break;
            case UnaryOp.Clamp: for (int i = i0; i < n; i += step) y[i] = Clamp(x[i], a, b); break;
            default: Unknown(y, n); break;
        }
    }

    // x, y = op(x), gy: (n) -> gx: (n) = gy * op'(x); gx may alias gy
    public static void UnaryBackwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx,
                                           int n, UnaryOp op, float a, float b)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case UnaryOp.Affine: for (int i = i0; i < n; i += step) gx[i] = gy[i] * a; break;
            case UnaryOp.Exp: for (int i = i0; i < n; i += step) gx[i] = gy[i] * y[i]; break;
            case UnaryOp.Log: for (int i = i0; i < n; i += step) gx[i] = gy[i] / x[i]; break;
            case UnaryOp.Sqrt: for (int i = i0; i < n; i += step) gx[i] = gy[i] * 0.5f / y[i]; break;
            case UnaryOp.Pow: for (int i = i0; i < n; i += step) gx[i] = a == 0 ? 0f : gy[i] * a * MathF.Pow(x[i], a - 1); break;
            case UnaryOp.Relu: for (int i = i0; i < n; i += step) gx[i] = x[i] > 0 ? gy[i] : 0f; break;
            case UnaryOp.Sigmoid: for (int i = i0; i < n; i += step) { float s = y[i]; gx[i] = gy[i] * s * (1 - s); } break;
            case UnaryOp.Tanh: for (int i = i0; i < n; i += step) { float t = y[i]; gx[i] = gy[i] * (1 - t * t); } break;
            case UnaryOp.Clamp: for (int i = i0; i < n; i += step) { float v = x[i]; gx[i] = v >= a && v <= b ? gy[i] : 0f; } break;
            default: Unknown(gx, n); break;
        }
    }

    // a, b: strided views over the layout (A = a's strides, B = b's; stride 0 broadcasts) -> y: (n) contiguous =
    public static void BinaryForwardKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
                                           StridedLayout layout, int n, BinaryOp op)
    {
        int i0 = Threads.Global, step = Threads.Count;
        for (int i = i0; i < n; i += step)
        {
            layout.Offsets(i, out int pa, out int pb);
            y[i] = Apply(op, a[pa], b[pb]);
        }
    }

    // a, b: (n) contiguous -> y: (n) = a op b (the common same-shape case, no index arithmetic)
    public static void BinaryDenseForwardKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, BinaryOp op)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case BinaryOp.Add: for (int i = i0; i < n; i += step) y[i] = a[i] + b[i]; break;
            case BinaryOp.Sub: for (int i = i0; i < n; i += step) y[i] = a[i] - b[i]; break;
            case BinaryOp.Mul: for (int i = i0; i < n; i += step) y[i] = a[i] * b[i]; break;
            case BinaryOp.Div: for (int i = i0; i < n; i += step) y[i] = a[i] / b[i]; break;
            default: Unknown(y, n); break;
        }
    }

    private static float Apply(BinaryOp op, float a, float b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        BinaryOp.Div => a / b,
        _ => Trap(),
    };

    /// <summary>An op code no case handles: every output element NaN (never left unwritten, never a plausible
    /// value) and, on a GPU, `trap`, which fails the launch (the next synchronisation throws).</summary>
    private static void Unknown(ArrayView<float> y, int n)
    {
        for (int i = Threads.Global; i < n; i += Threads.Count) y[i] = Trap();
    }

    /// <summary>NaN, after `trap` on a GPU.</summary>
    private static float Trap()
    {
        if (CudaAsm.IsSupported) CudaAsm.Emit("trap;");
        return float.NaN;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>tanh to about 2 ulp. Not MathF.Tanh: ILGPU lowers that to PTX's tanh.approx.f32 on
    /// sm_75+ (relative error up to 2^-11; seen 2.4e-6 on an H200 against the CPU's 1 ulp). From 0.5
    /// up, 1 - 2 / (e^2|x| + 1) with the accurate exp (mild cancellation: tanh >= 0.46 there); below
    /// 0.5, the odd Taylor series to x^15 (the next term is under 2e-8 relative). NaN stays NaN,
    /// +-inf gives +-1, -0 stays -0.</summary>
    public static float Tanh(float x)
    {
        float ax = MathF.Abs(x);
        if (ax >= 0.5f)
        {
            float t = 1f - 2f / (MathF.Exp(2f * ax) + 1f);
            return x < 0f ? -t : t;
        }
        float x2 = x * x;
        float p = -929569f / 638512875f;
        p = p * x2 + 21844f / 6081075f;
        p = p * x2 - 1382f / 155925f;
        p = p * x2 + 62f / 2835f;
        p = p * x2 - 17f / 315f;
        p = p * x2 + 2f / 15f;
        p = p * x2 - 1f / 3f;
        return x + x * x2 * p;
    }

    // min(max(x, lo), hi) with .NET's NaN propagation (PTX min/max would drop the NaN)
    private static float Clamp(float x, float lo, float hi) => x < lo ? lo : (x > hi ? hi : x);
}
