// Parameter initialisation with PyTorch's formulas (torch.nn.init), drawn from a seeded Rng so one
// seed reproduces a model. Every function overwrites the whole tensor in place, is not recorded,
// and consumes exactly one seed from the generator (so the draw order of a model is fixed).
namespace NativeCnn.Nn;

/// <summary>Parameter initialisation with PyTorch's formulas (torch.nn.init), drawn from a seeded Rng; each function overwrites the whole tensor in place, is not recorded, and returns it.</summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) as torch computes them: weight (out, in, *kernel).</summary>
    public static (int FanIn, int FanOut) Fans(IReadOnlyList<int> shape)
    {
        if (shape.Count < 2)
            throw new NativeCnnException($"Init: fan in and fan out need a tensor with at least 2 dimensions, got {shape.Count}");
        int receptive = 1;
        for (int i = 2; i < shape.Count; i++) receptive *= shape[i];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>torch.nn.init.calculate_gain for "linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu".</summary>
    public static double Gain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "conv2d" or "sigmoid" => 1.0,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2.0),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + param * param)),
        _ => throw new NativeCnnException($"Init.Gain: unknown nonlinearity '{nonlinearity}'; expected linear, conv2d, sigmoid, tanh, relu or leaky_relu"),
    };

    /// <summary>U(lo, hi) in place.</summary>
    public static Tensor Uniform(Tensor t, float lo, float hi, Rng? rng = null) => t.FillUniform(lo, hi, rng);

    /// <summary>N(mean, std^2) in place.</summary>
    public static Tensor Normal(Tensor t, float mean = 0f, float std = 1f, Rng? rng = null) => t.FillNormal(mean, std, rng);

    /// <summary>Fills <paramref name="t"/> with <paramref name="value"/>; returns <paramref name="t"/>.</summary>
    /// <exception cref="ArgumentException">The tensor is not a float32 tensor.</exception>
    public static Tensor Constant(Tensor t, float value)
    {
        if (t.DType != DType.Float32)
            throw new NativeCnnException($"Init.Constant: expected a float32 tensor, got {t.DType} of shape {Shape.Format(t.ShapeArray)}");
        return t.Fill(value);
    }

    /// <summary>torch.nn.init.kaiming_uniform_: U(-b, b) with b = gain * sqrt(3 / fan). With the
    /// default a = sqrt(5) of Conv2d and Linear this is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).</summary>
    public static Tensor KaimingUniform(Tensor t, double a = 0, bool fanOut = false, string nonlinearity = "leaky_relu", Rng? rng = null)
    {
        var (fanIn, fo) = Fans(t.Shape);
        double std = Gain(nonlinearity, a) / Math.Sqrt(fanOut ? fo : fanIn);
        float bound = (float)(Math.Sqrt(3.0) * std);
        return Uniform(t, -bound, bound, rng);
    }

    /// <summary>torch.nn.init.kaiming_normal_: N(0, (gain / sqrt(fan))^2) (torchvision's ResNet uses fan_out, relu).</summary>
    public static Tensor KaimingNormal(Tensor t, double a = 0, bool fanOut = false, string nonlinearity = "leaky_relu", Rng? rng = null)
    {
        var (fanIn, fo) = Fans(t.Shape);
        double std = Gain(nonlinearity, a) / Math.Sqrt(fanOut ? fo : fanIn);
        return Normal(t, 0f, (float)std, rng);
    }

    /// <summary>The default weight and bias draw of torch's Conv2d and Linear (reset_parameters).</summary>
    internal static void DefaultLayer(Tensor weight, Tensor? bias, Rng? rng)
    {
        KaimingUniform(weight, a: Math.Sqrt(5), rng: rng);
        if (bias is null) return;
        var (fanIn, _) = Fans(weight.Shape);
        float bound = fanIn > 0 ? (float)(1 / Math.Sqrt(fanIn)) : 0f;
        Uniform(bias, -bound, bound, rng);
    }
}
