// The primitive set: the only operations a backend implements. Everything else (views, broadcasting
// gradients, mean/var, mse, linear, concat, ...) is composed from these in Ops/. All float buffers
// are float32 and contiguous (offset 0) unless a parameter says otherwise; float16 appears in Cast,
// Copy, UnscaleGradients and as the inputs of products: Gemm's A and B, conv's x and w (forward),
// gy and w (backward-data), x and gy (backward-weight) may be float16 (both inputs of a product
// together), with float32 accumulation and float32 outputs (mixed precision; the GPU runs them on
// tensor cores). Comments give shapes; "=" means the output is overwritten, "+=" accumulated.
namespace NativeCnn.Backends;

internal interface IBackend
{
    Device Device { get; }

    /// <summary>Waits until every operation queued on this backend has finished (a no-op where they run
    /// synchronously, as on the CPU backend). For timing; nothing else needs it.</summary>
    void Synchronize();

    // ---- memory --------------------------------------------------------------------------
    /// <summary>A buffer of <paramref name="length"/> elements; contents undefined.</summary>
    Storage Allocate(DType dtype, int length);
    void ReturnToPool(Storage storage);
    Storage FromHost(float[] data);
    Storage FromHost(int[] data);
    /// <summary>Copies dst.Length elements from <paramref name="offset"/> to the host as float32.</summary>
    void ToHost(Storage src, int offset, Span<float> dst);
    void ToHost(Storage src, int offset, Span<int> dst);
    /// <summary>dst[0..length) = value (any dtype).</summary>
    void Fill(Storage dst, float value);
    /// <summary>dst[dstOffset + sum(i*dstStrides)] = src[srcOffset + sum(i*srcStrides)] over shape; same dtype.</summary>
    void Copy(Storage src, int srcOffset, int[] srcStrides, Storage dst, int dstOffset, int[] dstStrides, int[] shape);
    /// <summary>dst = (dst dtype) src, elementwise over the whole length (float32 &lt;-&gt; float16 &lt;-&gt; int32).</summary>
    void Cast(Storage src, Storage dst);
    /// <summary>dst[i] = lo + (hi-lo) * U(seed, i).</summary>
    void RandomUniform(Storage dst, ulong seed, float lo, float hi);
    /// <summary>dst[i] = mean + std * N(seed, i).</summary>
    void RandomNormal(Storage dst, ulong seed, float mean, float std);

    // ---- elementwise ----------------------------------------------------------------------
    /// <summary>y = op(x; a, b), n elements. y may alias x.</summary>
    void Unary(UnaryOp op, Storage x, Storage y, int n, float a, float b);
    /// <summary>gx = gy * op'(x) (using y = op(x) where cheaper). gx may alias gy.</summary>
    void UnaryBackward(UnaryOp op, Storage x, Storage y, Storage gy, Storage gx, int n, float a, float b);
    /// <summary>y = a op b over <paramref name="shape"/> (y contiguous); a and b are strided views (stride 0 broadcasts).</summary>
    void Binary(BinaryOp op, Storage a, int aOffset, int[] aStrides, Storage b, int bOffset, int[] bStrides, Storage y, int[] shape);

    // ---- reductions -----------------------------------------------------------------------
    /// <summary>x: (outer, n, inner) -> y: (outer, inner) = sum or mean over n.</summary>
    void Reduce(ReduceOp op, Storage x, Storage y, int outer, int n, int inner);
    /// <summary>x: (outer, n, inner) -> values, indices (int32): (outer, inner); first index wins ties.</summary>
    void ReduceMax(Storage x, Storage values, Storage indices, int outer, int n, int inner);
    /// <summary>gx: (outer, n, inner) = gy scattered to the arg-max positions (zero elsewhere).</summary>
    void ReduceMaxBackward(Storage gy, Storage indices, Storage gx, int outer, int n, int inner);

    // ---- matrix multiply -----------------------------------------------------------------
    /// <summary>C = alpha * op(A) * op(B) + beta * C, row-major; op(A): (m, k), op(B): (k, n), C: (m, n);
    /// repeated <paramref name="batch"/> times with the given element strides between matrices.</summary>
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
              Storage a, int aOffset, int lda, Storage b, int bOffset, int ldb,
              float beta, Storage c, int cOffset, int ldc,
              int batch = 1, int strideA = 0, int strideB = 0, int strideC = 0);

    // ---- convolution ----------------------------------------------------------------------
    /// <summary>x: (N,C,H,W), w: (K,C,R,S), bias: (K) or null -> y: (N,K,P,Q) =.</summary>
    void Conv2dForward(Storage x, Storage w, Storage? bias, Storage y, ConvGeometry g);
    /// <summary>gy: (N,K,P,Q), w -> gx: (N,C,H,W) =.</summary>
    void Conv2dBackwardData(Storage gy, Storage w, Storage gx, ConvGeometry g);
    /// <summary>x, gy -> gw: (K,C,R,S) =, gbias: (K) = (if not null).</summary>
    void Conv2dBackwardWeight(Storage x, Storage gy, Storage gw, Storage? gbias, ConvGeometry g);

    // ---- pooling --------------------------------------------------------------------------
    /// <summary>y: (N,C,P,Q) = window max; indices (int32) = flat h*W+w of the max (first wins ties); padding is -inf.</summary>
    void MaxPool2dForward(Storage x, Storage y, Storage indices, PoolGeometry g);
    /// <summary>gx: (N,C,H,W) = sum of gy routed through indices.</summary>
    void MaxPool2dBackward(Storage gy, Storage indices, Storage gx, PoolGeometry g);
    void AvgPool2dForward(Storage x, Storage y, PoolGeometry g);
    void AvgPool2dBackward(Storage gy, Storage gx, PoolGeometry g);
    /// <summary>Adaptive pooling: window i covers [floor(i*H/P), ceil((i+1)*H/P)).</summary>
    void AdaptiveAvgPool2dForward(Storage x, Storage y, int n, int c, int h, int w, int p, int q);
    void AdaptiveAvgPool2dBackward(Storage gy, Storage gx, int n, int c, int h, int w, int p, int q);
    void AdaptiveMaxPool2dForward(Storage x, Storage y, Storage indices, int n, int c, int h, int w, int p, int q);

    // ---- batch norm ---------------------------------------------------------------------
    /// <summary>x: (N, C, HW). Training: batch statistics; saveMean, saveInvStd: (C) =; running stats
    /// updated with momentum (unbiased variance), if not null.</summary>
    void BatchNormForwardTraining(Storage x, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                  Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps);
    void BatchNormForwardInference(Storage x, Storage? gamma, Storage? beta, Storage runningMean, Storage runningVar,
                                   Storage y, int n, int c, int hw, float eps);
    /// <summary>gx =, ggamma =, gbeta = (each if not null).</summary>
    void BatchNormBackward(Storage x, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                           Storage? gx, Storage? ggamma, Storage? gbeta, int n, int c, int hw);
    /// <summary>Batch norm fused with what follows it: y = relu(batchnorm(x) + residual) in training mode
    /// (the residual when not null, the ReLU when <paramref name="relu"/>), statistics as
    /// BatchNormForwardTraining. x, residual and y share one dtype (float32, or float16 with float32
    /// statistics and arithmetic; the batch norm's output rounded to float16 before the residual is added).</summary>
    void BatchNormActForwardTraining(Storage x, Storage? residual, Storage? gamma, Storage? beta, Storage y, Storage saveMean, Storage saveInvStd,
                                     Storage? runningMean, Storage? runningVar, int n, int c, int hw, float momentum, float eps, bool relu);
    /// <summary>The backward of BatchNormActForwardTraining from its output y and gy (x's dtype): the ReLU's
    /// mask is y &gt; 0; gResidual = the masked gy, gx, ggamma, gbeta as BatchNormBackward (each = if not null).</summary>
    void BatchNormActBackward(Storage x, Storage y, Storage gy, Storage? gamma, Storage saveMean, Storage saveInvStd,
                              Storage? gx, Storage? gResidual, Storage? ggamma, Storage? gbeta, int n, int c, int hw, bool relu);

    // ---- softmax and losses -------------------------------------------------------------
    /// <summary>x: (rows, cols) -> y = softmax or log_softmax over cols.</summary>
    void Softmax(Storage x, Storage y, int rows, int cols, bool log);
    /// <summary>gx from y (the forward output) and gy.</summary>
    void SoftmaxBackward(Storage y, Storage gy, Storage gx, int rows, int cols, bool log);
    /// <summary>logits: (rows, classes), labels (int32): (rows) -> losses: (rows) =, with label smoothing eps.</summary>
    void CrossEntropyForward(Storage logits, Storage labels, Storage losses, int rows, int classes, float smoothing);
    /// <summary>glogits = gLoss[row] * (softmax - smoothed one-hot).</summary>
    void CrossEntropyBackward(Storage logits, Storage labels, Storage gLoss, Storage glogits, int rows, int classes, float smoothing);
    /// <summary>losses = max(x,0) - x*t + log(1+exp(-|x|)), elementwise.</summary>
    void BceWithLogitsForward(Storage x, Storage target, Storage losses, int n);
    /// <summary>gx = gLoss * (sigmoid(x) - t); gt = gLoss * (-x) if gt not null.</summary>
    void BceWithLogitsBackward(Storage x, Storage target, Storage gLoss, Storage gx, Storage? gt, int n);

    // ---- dropout and optimizers --------------------------------------------------------
    /// <summary>mask = (U(seed,i) >= p) / (1-p); y = x * mask.</summary>
    void DropoutForward(Storage x, Storage y, Storage mask, int n, float p, ulong seed);
    /// <summary>SGD with momentum/nesterov and L2 weight decay, PyTorch semantics; buf used when momentum != 0.</summary>
    void SgdStep(Storage param, Storage grad, Storage? momentumBuffer, int n, float lr, float momentum,
                 float dampening, float weightDecay, bool nesterov, bool firstStep);
    /// <summary>Adam (L2 decay added to the grad) or AdamW (decoupled: p *= 1 - lr*wd), PyTorch semantics; step is 1-based.</summary>
    void AdamStep(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                  float eps, float weightDecay, bool decoupled, int step);
    /// <summary>Mixed precision: master (float32) = grad (float16 or float32) * invScale, n elements;
    /// found[0] = 1 if any grad element is inf or NaN (never cleared here, so one flag serves a whole step).</summary>
    void UnscaleGradients(Storage grad, Storage master, int n, float invScale, Storage found);
}
