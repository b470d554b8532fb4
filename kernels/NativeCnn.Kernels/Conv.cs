// Convolution pieces around GEMM: unfolding the input into columns (im2col), folding column
// gradients back into the input gradient (col2im, the unfold's adjoint) and the bias. The backend
// multiplies columns and weights with GemmKernels. Unfolded columns of images n0..n0+count-1 live at
// col[(n - n0) * imageStride + crs * rowStride + pq] with crs = (c*R + r)*S + s and pq = p*Q + q,
// so one kernel writes both the per-image layout (C*R*S, P*Q) blocks of the forward and backward-data
// passes, and the (C*R*S, count*P*Q) matrix of the backward-weight pass.
// What must hold: the fold is a gather (each input pixel sums the columns that read it), so it writes
// every element exactly once, needs no atomics and is deterministic.
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>x: (N, C, H, W), w: (K, C, R, S), y: (N, K, P, Q); strides, padding and dilation per axis.</summary>
public struct ConvShape
{
    public int N, C, H, W, K, R, S, P, Q;
    public int StrideH, StrideW, PadH, PadW, DilationH, DilationW;
}

public static class ConvKernels
{
    // x: (N, C, H, W) -> col: (count, C*R*S, P*Q) in the layout above (=; zero where the window is in the padding).
    // Generic so float16 bit patterns (ushort) unfold too: a plain copy, and default(T) is zero in both.
    public static void ConvUnfoldForwardKernel<T>(ArrayView<T> x, ArrayView<T> col, ConvShape s,
                                                  int n0, int count, int imageStride, int rowStride) where T : unmanaged
    {
        int pq = s.P * s.Q, crs = s.C * s.R * s.S;
        int total = count * crs * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int j = e % pq;                 // neighbouring threads: neighbouring output pixels
            int rest = e / pq;
            int row = rest % crs, ni = rest / crs;
            int q = j % s.Q, p = j / s.Q;
            int kw = row % s.S, kh = (row / s.S) % s.R, c = row / (s.R * s.S);
            int h = p * s.StrideH - s.PadH + kh * s.DilationH;
            int w = q * s.StrideW - s.PadW + kw * s.DilationW;
            T v = default;
            if (h >= 0 && h < s.H && w >= 0 && w < s.W)
                v = x[(((n0 + ni) * s.C + c) * s.H + h) * s.W + w];
            col[ni * imageStride + row * rowStride + j] = v;
        }
    }

    // col: (count, C*R*S, P*Q) in the layout above -> gx: (N, C, H, W) for images n0..n0+count-1 (=)
    public static void ConvUnfoldBackwardKernel(ArrayView<float> col, ArrayView<float> gx, ConvShape s,
                                                int n0, int count, int imageStride, int rowStride)
    {
        int hw = s.H * s.W;
        int total = count * s.C * hw;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int w = e % s.W;
            int h = (e / s.W) % s.H;
            int c = (e / hw) % s.C;
            int ni = e / (hw * s.C);
            float acc = 0f;
            for (int kh = 0; kh < s.R; kh++)
            {
                // output row p reads input row h through kernel row kh when p*stride - pad + kh*dil == h
                int ph = h + s.PadH - kh * s.DilationH;
                if (ph < 0 || ph % s.StrideH != 0) continue;
                int p = ph / s.StrideH;
                if (p >= s.P) continue;
                for (int kw = 0; kw < s.S; kw++)
                {
                    int qw = w + s.PadW - kw * s.DilationW;
                    if (qw < 0 || qw % s.StrideW != 0) continue;
                    int q = qw / s.StrideW;
                    if (q >= s.Q) continue;
                    int row = (c * s.R + kh) * s.S + kw;
                    acc += col[ni * imageStride + row * rowStride + p * s.Q + q];
                }
            }
            gx[(n0 + ni) * s.C * hw + c * hw + h * s.W + w] = acc;
        }
    }

    // y: (N, K, PQ) += bias: (K) broadcast over images and pixels
    public static void ConvBiasForwardKernel(ArrayView<float> y, ArrayView<float> bias, int n, int k, int pq)
    {
        int total = n * k * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
            y[e] += bias[(e / pq) % k];
    }

    // gy: (N, K, PQ) -> gyT: (K, count*PQ) = images n0..n0+count-1 with the image and channel axes swapped (=)
    public static void ConvSwapImageChannelKernel<T>(ArrayView<T> gy, ArrayView<T> gyT, int n0, int count, int k, int pq) where T : unmanaged
    {
        int total = count * k * pq;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int j = e % pq;
            int ni = (e / pq) % count;
            int kk = e / (pq * count);
            gyT[e] = gy[((n0 + ni) * k + kk) * pq + j];
        }
    }
}
