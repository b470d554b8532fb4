// CPU dropout and fused optimizer steps (SGD with momentum/nesterov/weight decay, Adam and AdamW).
// Must always hold: dropout's mask depends only on (seed, element index), never on threading; the
// optimizer updates follow PyTorch 1.13's single-tensor (foreach=False) formulas in float32 and in
// the same order, with fused multiply-adds exactly where PyTorch's vectorised add(alpha) uses them,
// so a few steps agree with torch.optim to float rounding. The vector body and the scalar tail do
// identical arithmetic per element.
using System.Numerics;
using System.Runtime.InteropServices;

namespace NativeCnn.Backends.Cpu;

internal sealed partial class CpuBackend
{
    // x: (n) -> y, mask: (n) =
    public void DropoutForward(Storage x, Storage y, Storage mask, int n, float p, ulong seed)
    {
        var xs = F(x);
        var ys = F(y);
        var ms = F(mask);
        float scale = 1f / (1f - p);
        For(n, 1 << 14, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                float m = Rng.Uniform(seed, i) >= p ? scale : 0f;
                ms[i] = m;
                ys[i] = xs[i] * m;
            }
        });
    }

    // param, momentumBuffer updated in place (+ momentumBuffer written on the first step); grad read.
    public void SgdStep(Storage param, Storage grad, Storage? momentumBuffer, int n, float lr, float momentum,
                        float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        using var _ = Time("sgd_step");
        var ps = F(param);
        var gs = F(grad);
        var bs = momentum != 0 ? F(momentumBuffer ?? throw new InvalidOperationException("internal: SgdStep with momentum needs a momentum buffer")) : null;
        float negLr = -lr, wd = weightDecay, mom = momentum;
        // PyTorch forms 1 - dampening in double (a Python float) and the kernel sees it as float
        float keep = (float)(1.0 - dampening);
        For(n, 1 << 14, (s, e) =>
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(ps.AsSpan(s, e - s));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(gs.AsSpan(s, e - s));
            var bv = bs is null ? default : MemoryMarshal.Cast<float, Vector<float>>(bs.AsSpan(s, e - s));
            Vector<float> wdV = new(wd), momV = new(mom), keepV = new(keep), lrV = new(negLr);
            for (int k = 0; k < pv.Length; k++)
            {
                var g = gv[k];
                if (wd != 0) g = Vector.FusedMultiplyAdd(pv[k], wdV, g);                 // g = g.add(p, alpha=wd)
                if (mom != 0)
                {
                    var b = firstStep ? g : Vector.FusedMultiplyAdd(g, keepV, bv[k] * momV);  // buf.mul_(m).add_(g, alpha=1-d)
                    bv[k] = b;
                    g = nesterov ? Vector.FusedMultiplyAdd(b, momV, g) : b;              // g.add(buf, alpha=m) or buf
                }
                pv[k] = Vector.FusedMultiplyAdd(g, lrV, pv[k]);                          // p.add_(g, alpha=-lr)
            }
            for (int i = s + pv.Length * Vector<float>.Count; i < e; i++)
            {
                float g = gs[i];
                if (wd != 0) g = MathF.FusedMultiplyAdd(ps[i], wd, g);
                if (mom != 0)
                {
                    float b = firstStep ? g : MathF.FusedMultiplyAdd(g, keep, bs![i] * mom);
                    bs![i] = b;
                    g = nesterov ? MathF.FusedMultiplyAdd(b, mom, g) : b;
                }
                ps[i] = MathF.FusedMultiplyAdd(g, negLr, ps[i]);
            }
        });
    }

    // param, m, v updated in place; grad read. step is 1-based (the bias corrections use it).
    public void AdamStep(Storage param, Storage grad, Storage m, Storage v, int n, float lr, float beta1, float beta2,
                         float eps, float weightDecay, bool decoupled, int step)
    {
        using var _ = Time("adam_step");
        var ps = F(param);
        var gs = F(grad);
        var ms = F(m);
        var vs = F(v);
        // Scalars that torch.optim computes in Python (double) and hands to float kernels.
        float l2 = decoupled ? 0f : weightDecay;
        float decay = decoupled ? (float)(1.0 - (double)lr * weightDecay) : 1f;
        float b1 = beta1, b2 = beta2, keep1 = (float)(1.0 - beta1), keep2 = (float)(1.0 - beta2);
        double bc1 = 1.0 - Math.Pow(beta1, step), bc2 = 1.0 - Math.Pow(beta2, step);
        float negStepSize = (float)-(lr / bc1);
        float bc2Sqrt = (float)Math.Sqrt(bc2);
        float epsF = eps;
        For(n, 1 << 13, (s, e) =>
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(ps.AsSpan(s, e - s));
            var gv = MemoryMarshal.Cast<float, Vector<float>>(gs.AsSpan(s, e - s));
            var mv = MemoryMarshal.Cast<float, Vector<float>>(ms.AsSpan(s, e - s));
            var vv = MemoryMarshal.Cast<float, Vector<float>>(vs.AsSpan(s, e - s));
            Vector<float> l2V = new(l2), decayV = new(decay), b1V = new(b1), b2V = new(b2), k1V = new(keep1), k2V = new(keep2),
                          stepV = new(negStepSize), bc2V = new(bc2Sqrt), epsV = new(epsF);
            for (int k = 0; k < pv.Length; k++)
            {
                var g = gv[k];
                var p = pv[k];
                if (l2 != 0) g = Vector.FusedMultiplyAdd(p, l2V, g);              // grad.add(param, alpha=wd)
                if (decoupled) p *= decayV;                                      // param.mul_(1 - lr*wd)
                var mk = Vector.FusedMultiplyAdd(g, k1V, mv[k] * b1V);            // m.mul_(b1).add_(g, alpha=1-b1)
                var vk = vv[k] * b2V + k2V * g * g;                              // v.mul_(b2).addcmul_(g, g, value=1-b2)
                var denom = Vector.SquareRoot(vk) / bc2V + epsV;                 // (v.sqrt() / sqrt(bc2)).add_(eps)
                pv[k] = p + stepV * mk / denom;                                  // p.addcdiv_(m, denom, value=-lr/bc1)
                mv[k] = mk;
                vv[k] = vk;
            }
            for (int i = s + pv.Length * Vector<float>.Count; i < e; i++)
            {
                float g = gs[i], p = ps[i];
                if (l2 != 0) g = MathF.FusedMultiplyAdd(p, l2, g);
                if (decoupled) p *= decay;
                float mk = MathF.FusedMultiplyAdd(g, keep1, ms[i] * b1);
                float vk = vs[i] * b2 + keep2 * g * g;
                float denom = MathF.Sqrt(vk) / bc2Sqrt + epsF;
                ps[i] = p + negStepSize * mk / denom;
                ms[i] = mk;
                vs[i] = vk;
            }
        });
    }
}
