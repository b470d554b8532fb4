// The standard check every op goes through: the engine's float32 forward against a float64
// reference, and the engine's backward against a float64 central-difference gradient of that same
// reference. The loss is sum(out * w) with fixed random weights w, so every output element counts.
using Xunit;

namespace NativeCnn.Tests.Support;

/// <summary>An input for an op check: its shape and values (float64; the engine gets them as float32).</summary>
public sealed record Input(int[] Shape, double[] Values, bool Differentiable = true)
{
    public static Input Random(int seed, params int[] shape) => new(shape, Rand(seed, (int)NativeCnn.Shape.Numel(shape), -1, 1));

    public static double[] Rand(int seed, int n, double lo, double hi)
    {
        var r = new Random(seed);
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = lo + (hi - lo) * r.NextDouble();
        return v;
    }

    /// <summary>Values rounded to float32, so engine and reference see exactly the same numbers.</summary>
    public double[] AsFloat32Exact() => Values.Select(v => (double)(float)v).ToArray();
}

public static class OpCheck
{
    /// <param name="engine">the op on engine tensors (float32).</param>
    /// <param name="reference">the op in float64 on flat row-major arrays.</param>
    /// <param name="forwardTol">max |engine - reference| / (1 + |reference|).</param>
    /// <param name="gradTol">the same bound for gradients.</param>
    /// <param name="eps">central-difference step (float64).</param>
    public static void Run(Input[] inputs, Func<Tensor[], Tensor> engine, Func<double[][], double[]> reference,
                           double forwardTol = 1e-5, double gradTol = 1e-4, double eps = 1e-6, int seed = 7)
    {
        var values = inputs.Select(i => i.AsFloat32Exact()).ToArray();
        var tensors = inputs.Select((inp, k) => Tensor.FromArray(values[k].Select(v => (float)v).ToArray(), inp.Shape, requiresGrad: inp.Differentiable)).ToArray();

        var output = engine(tensors);
        var expected = reference(values);
        var actual = output.ToArray();
        Assert.Equal(expected.Length, actual.Length);
        AssertClose(expected, actual, forwardTol, "forward");

        var w = Input.Rand(seed, expected.Length, -1, 1).Select(v => (double)(float)v).ToArray();
        var wt = Tensor.FromArray(w.Select(v => (float)v).ToArray(), output.Shape.ToArray());
        (output * wt).Sum().Backward();

        for (int k = 0; k < inputs.Length; k++)
        {
            if (!inputs[k].Differentiable) continue;
            var numeric = NumericGradient(values, k, reference, w, eps);
            var grad = tensors[k].Grad ?? throw new Xunit.Sdk.XunitException($"input {k} received no gradient");
            AssertClose(numeric, grad.ToArray(), gradTol, $"gradient of input {k}");
        }
    }

    public static double[] NumericGradient(double[][] values, int k, Func<double[][], double[]> reference, double[] w, double eps)
    {
        var g = new double[values[k].Length];
        for (int i = 0; i < g.Length; i++)
        {
            double keep = values[k][i];
            values[k][i] = keep + eps;
            double plus = Dot(reference(values), w);
            values[k][i] = keep - eps;
            double minus = Dot(reference(values), w);
            values[k][i] = keep;
            g[i] = (plus - minus) / (2 * eps);
        }
        return g;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<float> actual, double tol, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            double err = Math.Abs(expected[i] - actual[i]) / (1 + Math.Abs(expected[i]));
            if (!(err <= tol) && !(double.IsNaN(expected[i]) && float.IsNaN(actual[i])) && !(double.IsInfinity(expected[i]) && expected[i] == actual[i]))
                throw new Xunit.Sdk.XunitException($"{what}: element {i} is {actual[i]}, expected {expected[i]} (relative error {err:E2} > {tol:E1})");
        }
    }

    public static void AssertClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tol, string what) =>
        AssertClose(expected.Select(v => (double)v).ToArray(), actual, tol, what);
}
