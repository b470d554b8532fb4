// Fused optimizer steps: 5 steps of SGD (momentum, nesterov, dampening, weight decay) and Adam/AdamW
// against float64 references of torch.optim's formulas, and against PyTorch 1.13 itself
// (Goldens/optim_steps.json, made by Goldens/optim_steps.py).
using System.Text.Json;
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class OptimStepTests
{
    private const int Steps = 5;

    private static (double[] Param, double[][] Grads) Problem(int n, int seed)
    {
        var p = Input.Rand(seed, n, -2, 2).Select(v => (double)(float)v).ToArray();
        var grads = Enumerable.Range(0, Steps).Select(t => Input.Rand(seed + 1 + t, n, -1, 1).Select(v => (double)(float)v).ToArray()).ToArray();
        return (p, grads);
    }

    private static Tensor T(double[] v) => Tensor.FromArray(v.Select(x => (float)x).ToArray());

    [Theory]
    [InlineData(37, 0f, 0f, 0f, false)]
    [InlineData(37, 0.9f, 0f, 0f, false)]
    [InlineData(37, 0.9f, 0f, 1e-2f, true)]
    [InlineData(37, 0.9f, 0.1f, 5e-4f, false)]
    [InlineData(37, 0f, 0f, 0.1f, false)]
    [InlineData(50_000, 0.9f, 0f, 1e-2f, true)]   // split over threads in chunks
    public void SgdMatchesFloat64Reference(int n, float momentum, float dampening, float weightDecay, bool nesterov)
    {
        const float lr = 0.1f;
        var (p0, grads) = Problem(n, 100);

        var param = T(p0);
        var buf = momentum != 0 ? Tensor.Zeros(n) : null;
        for (int t = 0; t < Steps; t++)
            OptimOps.SgdStep(param, T(grads[t]), buf, lr, momentum, dampening, weightDecay, nesterov, firstStep: t == 0);

        var p = (double[])p0.Clone();
        var b = new double[n];
        double mom = momentum, damp = dampening, wd = weightDecay, eta = lr;
        for (int t = 0; t < Steps; t++)
            for (int i = 0; i < n; i++)
            {
                double g = grads[t][i] + wd * p[i];
                if (mom != 0)
                {
                    b[i] = t == 0 ? g : mom * b[i] + (1 - damp) * g;
                    g = nesterov ? g + mom * b[i] : b[i];
                }
                p[i] -= eta * g;
            }
        OpCheck.AssertClose(p, param.ToArray(), 1e-6, "param");
        if (buf is not null) OpCheck.AssertClose(b, buf.ToArray(), 1e-6, "momentum buffer");
    }

    [Theory]
    [InlineData(37, 0f, false)]
    [InlineData(37, 0.1f, false)]   // Adam: L2 decay added to the gradient
    [InlineData(37, 0.1f, true)]    // AdamW: decoupled decay
    [InlineData(50_000, 0.1f, true)]
    public void AdamMatchesFloat64Reference(int n, float weightDecay, bool decoupled)
    {
        const float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        var (p0, grads) = Problem(n, 200);

        var param = T(p0);
        var m = Tensor.Zeros(n);
        var v = Tensor.Zeros(n);
        for (int t = 0; t < Steps; t++)
            OptimOps.AdamStep(param, T(grads[t]), m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step: t + 1);

        var p = (double[])p0.Clone();
        var mr = new double[n];
        var vr = new double[n];
        double b1 = beta1, b2 = beta2, wd = weightDecay, eta = lr;
        for (int t = 0; t < Steps; t++)
        {
            double bc1 = 1 - Math.Pow(b1, t + 1), bc2 = 1 - Math.Pow(b2, t + 1);
            for (int i = 0; i < n; i++)
            {
                double g = grads[t][i];
                if (decoupled) p[i] *= 1 - eta * wd;
                else g += wd * p[i];
                mr[i] = b1 * mr[i] + (1 - b1) * g;
                vr[i] = b2 * vr[i] + (1 - b2) * g * g;
                p[i] -= eta / bc1 * mr[i] / (Math.Sqrt(vr[i]) / Math.Sqrt(bc2) + eps);
            }
        }
        OpCheck.AssertClose(p, param.ToArray(), 1e-6, "param");
        OpCheck.AssertClose(mr, m.ToArray(), 1e-6, "m");
        OpCheck.AssertClose(vr, v.ToArray(), 1e-6, "v");
    }

    [Fact]
    public void FiveStepsMatchPyTorch()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Goldens", "optim_steps.json")));
        var root = doc.RootElement;
        float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
        var p0 = Floats(root.GetProperty("param"));
        var grads = root.GetProperty("grads").EnumerateArray().Select(Floats).ToArray();
        int checkedCases = 0;
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            string kind = c.GetProperty("kind").GetString()!;
            float F(string name) => (float)c.GetProperty(name).GetDouble();
            var param = Tensor.FromArray(p0);
            if (kind == "sgd")
            {
                var buf = F("momentum") != 0 ? Tensor.Zeros(p0.Length) : null;
                for (int t = 0; t < grads.Length; t++)
                    OptimOps.SgdStep(param, Tensor.FromArray(grads[t]), buf, F("lr"), F("momentum"), F("dampening"),
                                     F("weight_decay"), c.GetProperty("nesterov").GetBoolean(), t == 0);
            }
            else
            {
                var m = Tensor.Zeros(p0.Length);
                var v = Tensor.Zeros(p0.Length);
                for (int t = 0; t < grads.Length; t++)
                    OptimOps.AdamStep(param, Tensor.FromArray(grads[t]), m, v, F("lr"), F("beta1"), F("beta2"), F("eps"),
                                      F("weight_decay"), kind == "adamw", t + 1);
            }
            OpCheck.AssertClose(Floats(c.GetProperty("result")), param.ToArray(), 1e-6, $"{kind} case {checkedCases}");
            checkedCases++;
        }
        Assert.Equal(8, checkedCases);
    }

    [Fact]
    public void GradientMayBeAnyLayoutOrFloat16()
    {
        var p1 = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 2, 3 });
        var p2 = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 2, 3 });
        var g = Tensor.FromArray(new[] { 0.5f, 1f, 1.5f, 2f, 2.5f, 3f }, new[] { 3, 2 });
        OptimOps.SgdStep(p1, g.T, null, 0.5f, 0, 0, 0, false, true);                       // transposed view
        OptimOps.SgdStep(p2, g.T.Contiguous().To(DType.Float16), null, 0.5f, 0, 0, 0, false, true);
        // p - 0.5 * g^T with g^T = [[0.5, 1.5, 2.5], [1, 2, 3]]
        var expected = new[] { 0.75f, 1.25f, 1.75f, 3.5f, 4f, 4.5f };
        Assert.Equal(expected, p1.ToArray());
        Assert.Equal(expected, p2.ToArray());
    }

    [Fact]
    public void ErrorsNameTheProblem()
    {
        var p = Tensor.Zeros(2, 3);
        var ex = Assert.Throws<NativeCnnException>(() => OptimOps.SgdStep(p, Tensor.Zeros(3, 2), null, 0.1f, 0, 0, 0, false, true));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(3, 2)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => OptimOps.SgdStep(p, Tensor.Zeros(2, 3), null, 0.1f, 0.9f, 0, 0, false, true));
        Assert.Contains("momentum buffer", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => OptimOps.SgdStep(p, Tensor.Zeros(2, 3), Tensor.Zeros(6), 0.1f, 0.9f, 0, 0, false, true));
        Assert.Contains("momentumBuffer must have the parameter's shape (2, 3), got (6)", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => OptimOps.SgdStep(Tensor.Zeros(3, 2).T, Tensor.Zeros(2, 3), null, 0.1f, 0, 0, 0, false, true));
        Assert.Contains("dense float32", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => OptimOps.AdamStep(p, Tensor.Zeros(2, 3), Tensor.Zeros(2, 3), Tensor.Zeros(2, 3), 1e-3f, 0.9f, 0.999f, 1e-8f, 0, false, 0));
        Assert.Contains("step counts from 1, got 0", ex.Message);
        ex = Assert.Throws<NativeCnnException>(() => OptimOps.AdamStep(p, Tensor.Zeros(2, 3), Tensor.Zeros(2, 3), Tensor.Zeros(new[] { 2, 3 }, DType.Float16), 1e-3f, 0.9f, 0.999f, 1e-8f, 0, false, 1));
        Assert.Contains("v (second moment) must be a dense float32", ex.Message);
    }
}
