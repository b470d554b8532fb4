// Elementwise maps: unary functions with their gradients, and binary arithmetic over strided
// (broadcast) operands. The op is a kernel argument and the switch sits outside the element loop,
// so every thread of a launch takes the same branch. Formulas mirror CpuBackend.Elementwise.cs
// exactly (relu'(0) = 0, relu keeps NaN, clamp passes the gradient at its bounds, NaN behaves as in .NET).
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>Unary functions, as in NativeCnn.Backends.UnaryOp (the backend maps one to the other by name).</summary>
public enum UnaryCode { Affine, Exp, Log, Sqrt, Pow, Relu, Sigmoid, Tanh, Clamp }

/// <summary>Binary arithmetic, as in NativeCnn.Backends.BinaryOp.</summary>
public enum BinaryCode { Add, Sub, Mul, Div }

public static class ElementwiseKernels
{
    // x: (n) -> y: (n) = op(x; a, b); y may alias x
    public static void UnaryForwardKernel(ArrayView<float> x, ArrayView<float> y, int n, UnaryCode op, float a, float b)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case UnaryCode.Affine: for (int i = i0; i < n; i += step) y[i] = a * x[i] + b; break;
            case UnaryCode.Exp: for (int i = i0; i < n; i += step) y[i] = MathF.Exp(x[i]); break;
            case UnaryCode.Log: for (int i = i0; i < n; i += step) y[i] = MathF.Log(x[i]); break;
            case UnaryCode.Sqrt: for (int i = i0; i < n; i += step) y[i] = MathF.Sqrt(x[i]); break;
            case UnaryCode.Pow: for (int i = i0; i < n; i += step) y[i] = MathF.Pow(x[i], a); break;
            case UnaryCode.Relu: for (int i = i0; i < n; i += step) { float v = x[i]; y[i] = v <= 0 ? 0f : v; } break;   // NaN stays NaN, as torch.relu
            case UnaryCode.Sigmoid: for (int i = i0; i < n; i += step) y[i] = Sigmoid(x[i]); break;
            case UnaryCode.Tanh: for (int i = i0; i < n; i += step) y[i] = Tanh(x[i]); break;
            case UnaryCode.Clamp: for (int i = i0; i < n; i += step) y[i] = Clamp(x[i], a, b); break;
        }
    }

    // x, y = op(x), gy: (n) -> gx: (n) = gy * op'(x); gx may alias gy
    public static void UnaryBackwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx,
                                           int n, UnaryCode op, float a, float b)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case UnaryCode.Affine: for (int i = i0; i < n; i += step) gx[i] = gy[i] * a; break;
            case UnaryCode.Exp: for (int i = i0; i < n; i += step) gx[i] = gy[i] * y[i]; break;
            case UnaryCode.Log: for (int i = i0; i < n; i += step) gx[i] = gy[i] / x[i]; break;
            case UnaryCode.Sqrt: for (int i = i0; i < n; i += step) gx[i] = gy[i] * 0.5f / y[i]; break;
            case UnaryCode.Pow: for (int i = i0; i < n; i += step) gx[i] = a == 0 ? 0f : gy[i] * a * MathF.Pow(x[i], a - 1); break;
            case UnaryCode.Relu: for (int i = i0; i < n; i += step) gx[i] = x[i] > 0 ? gy[i] : 0f; break;
            case UnaryCode.Sigmoid: for (int i = i0; i < n; i += step) { float s = y[i]; gx[i] = gy[i] * s * (1 - s); } break;
            case UnaryCode.Tanh: for (int i = i0; i < n; i += step) { float t = y[i]; gx[i] = gy[i] * (1 - t * t); } break;
            case UnaryCode.Clamp: for (int i = i0; i < n; i += step) { float v = x[i]; gx[i] = v >= a && v <= b ? gy[i] : 0f; } break;
        }
    }

    // a, b: strided views over the layout (A = a's strides, B = b's; stride 0 broadcasts) -> y: (n) contiguous =
    public static void BinaryForwardKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
                                           StridedLayout layout, int n, BinaryCode op)
    {
        int i0 = Threads.Global, step = Threads.Count;
        for (int i = i0; i < n; i += step)
        {
            layout.Offsets(i, out int pa, out int pb);
            y[i] = Apply(op, a[pa], b[pb]);
        }
    }

    // a, b: (n) contiguous -> y: (n) = a op b (the common same-shape case, no index arithmetic)
    public static void BinaryDenseForwardKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, BinaryCode op)
    {
        int i0 = Threads.Global, step = Threads.Count;
        switch (op)
        {
            case BinaryCode.Add: for (int i = i0; i < n; i += step) y[i] = a[i] + b[i]; break;
            case BinaryCode.Sub: for (int i = i0; i < n; i += step) y[i] = a[i] - b[i]; break;
            case BinaryCode.Mul: for (int i = i0; i < n; i += step) y[i] = a[i] * b[i]; break;
            case BinaryCode.Div: for (int i = i0; i < n; i += step) y[i] = a[i] / b[i]; break;
        }
    }

    private static float Apply(BinaryCode op, float a, float b) => op switch
    {
        BinaryCode.Add => a + b,
        BinaryCode.Sub => a - b,
        BinaryCode.Mul => a * b,
        _ => a / b,
    };

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
