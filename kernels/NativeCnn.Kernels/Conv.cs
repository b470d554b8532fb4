// Convolution pieces around GEMM: unfolding the input into columns (im2col), folding column
// gradients back into the input gradient (col2im, the unfold's adjoint) and the bias. The backend
// multiplies columns and weights with GemmKernels. Unfolded columns of images n0..n0+count-1 live at
// col[(n - n0) * imageStride + crs * rowStride + pq] with crs = (c*R + r)*S + s and pq = p*Q + q,
// so the same kernels serve per-image (C*R*S, P*Q) blocks (imageStride = C*R*S*P*Q, rowStride = P*Q)
// and the one (C*R*S, count*P*Q) matrix every pass of the backend now uses (imageStride = P*Q,
// rowStride = count*P*Q).
// What must hold: the fold is a gather (each input pixel sums the columns that read it), so it writes
// every element exactly once, needs no atomics and is deterministic.
using ILGPU;

namespace NativeCnn.Kernels;

/// <summary>x: (N, C, H, W), w: (K, C, R, S), y: (N, K, P, Q); strides, padding and dilation per axis.</summary>
internal struct ConvShape
{
    public int N, C, H, W, K, R, S, P, Q;
    public int StrideH, StrideW, PadH, PadW, DilationH, DilationW;
}

internal static class ConvKernels
{
    /// <summary>Rows of the unfolded matrix one group walks (UnfoldRowBlocks of them along grid y).</summary>
    public const int UnfoldRows = 16;

    /// <summary>Blocks of UnfoldRows rows the unfold's grid y walks.</summary>
    public static int UnfoldRowBlocks(ConvShape s) => (s.C * s.R * s.S + UnfoldRows - 1) / UnfoldRows;

    // x: (N, C, H, W) -> col: (count, C*R*S, P*Q) in the layout above (=; zero where the window is in the padding).
    // Generic so float16 bit patterns (ushort) unfold too: a plain copy, and default(T) is zero in both.
    // A thread owns one column (image, p, q): two divisions once, then it walks up to UnfoldRows rows
    // (c, kh, kw stepped without dividing); neighbouring threads take neighbouring columns, so the
    // writes coalesce and the reads walk along input rows. grid: (column groups, row blocks), both
    // walked grid-stride.
    public static void ConvUnfoldForwardKernel<T>(ArrayView<T> x, ArrayView<T> col, ConvShape s,
                                                  int n0, int count, int imageStride, int rowStride) where T : unmanaged
    {
        int pq = s.P * s.Q, rs = s.R * s.S, crs = s.C * rs;
        int columns = count * pq, blocks = UnfoldRowBlocks(s);
        for (int j = Grid.IdxX * Group.DimX + Group.IdxX; j < columns; j += Grid.DimX * Group.DimX)
        {
            int ni = j / pq, pix = j - ni * pq;
            int p = pix / s.Q, q = pix - p * s.Q;
            int h0 = p * s.StrideH - s.PadH, w0 = q * s.StrideW - s.PadW;
            int image = (n0 + ni) * s.C * s.H * s.W;
            int out0 = ni * imageStride + pix;
            for (int block = Grid.IdxY; block < blocks; block += Grid.DimY)
            {
                int row = block * UnfoldRows, end = System.Math.Min(crs, row + UnfoldRows);
                int c = row / rs, rem = row - c * rs;
                int kh = rem / s.S, kw = rem - kh * s.S;
                for (; row < end; row++)
                {
                    int h = h0 + kh * s.DilationH, w = w0 + kw * s.DilationW;
                    T v = default;
                    if (h >= 0 && h < s.H && w >= 0 && w < s.W)
                        v = x[image + (c * s.H + h) * s.W + w];
                    col[out0 + row * rowStride] = v;
                    if (++kw == s.S) { kw = 0; if (++kh == s.R) { kh = 0; c++; } }
                }
            }
        }
    }

    // col: (count, C*R*S, P*Q) in the layout above -> gx: (N, C, H, W) for images n0..n0+count-1 (=).
    // Output row p reads input row h through kernel row kh when p*stride - pad + kh*dil == h; with
    // stride 1 that is p = h + pad - kh*dil, with any other stride the remainder must be zero.
    public static void ConvUnfoldBackwardKernel(ArrayView<float> col, ArrayView<float> gx, ConvShape s,
                                                int n0, int count, int imageStride, int rowStride)
    {
        int hw = s.H * s.W;
        int total = count * s.C * hw;
        bool unitStride = s.StrideH == 1 && s.StrideW == 1;
        for (int e = Threads.Global; e < total; e += Threads.Count)
        {
            int plane = e / s.W, w = e - plane * s.W;
            int image = plane / s.H, h = plane - image * s.H;
            int ni = image / s.C, c = image - ni * s.C;
            int colBase = ni * imageStride + c * s.R * s.S * rowStride;
            float acc = 0f;
            if (unitStride)
            {
                for (int kh = 0; kh < s.R; kh++)
                {
                    int p = h + s.PadH - kh * s.DilationH;
                    if (p < 0 || p >= s.P) continue;
                    for (int kw = 0; kw < s.S; kw++)
                    {
                        int q = w + s.PadW - kw * s.DilationW;
                        if (q < 0 || q >= s.Q) continue;
                        acc += col[colBase + (kh * s.S + kw) * rowStride + p * s.Q + q];
                    }
                }
            }
            else
            {
                for (int kh = 0; kh < s.R; kh++)
                {
                    int ph = h + s.PadH - kh * s.DilationH;
                    if (ph < 0) continue;
                    int p = ph / s.StrideH;
                    if (p * s.StrideH != ph || p >= s.P) continue;
                    for (int kw = 0; kw < s.S; kw++)
                    {
                        int qw = w + s.PadW - kw * s.DilationW;
                        if (qw < 0) continue;
                        int q = qw / s.StrideW;
                        if (q * s.StrideW != qw || q >= s.Q) continue;
                        acc += col[colBase + (kh * s.S + kw) * rowStride + p * s.Q + q];
                    }
                }
            }
            gx[(n0 * s.C + image) * hw + h * s.W + w] = acc;
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
