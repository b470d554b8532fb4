// Elementwise ops and broadcasting: forward against float64, backward against central differences.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class ElementwiseTests
{
    [Theory]
    [InlineData("exp")] [InlineData("log")] [InlineData("sqrt")] [InlineData("pow")] [InlineData("relu")]
    [InlineData("sigmoid")] [InlineData("tanh")] [InlineData("clamp")] [InlineData("neg")] [InlineData("affine")]
    public void UnaryMatchesReference(string op)
    {
        // log, sqrt and pow need positive inputs; the others see both signs
        bool positive = op is "log" or "sqrt" or "pow";
        var values = Input.Rand(3, 7 * 5, positive ? 0.2 : -2, 2);
        var input = new Input(new[] { 7, 5 }, values);
        Func<Tensor, Tensor> f = op switch
        {
            "exp" => x => x.Exp(), "log" => x => x.Log(), "sqrt" => x => x.Sqrt(), "pow" => x => x.Pow(2.5f),
            "relu" => x => x.Relu(), "sigmoid" => x => x.Sigmoid(), "tanh" => x => x.Tanh(),
            "clamp" => x => x.Clamp(-0.5f, 0.7f), "neg" => x => -x, _ => x => x.Affine(3f, -1f),
        };
        Func<double, double> r = op switch
        {
            "exp" => Math.Exp, "log" => Math.Log, "sqrt" => Math.Sqrt, "pow" => v => Math.Pow(v, 2.5),
            "relu" => v => Math.Max(v, 0), "sigmoid" => v => 1 / (1 + Math.Exp(-v)), "tanh" => Math.Tanh,
            "clamp" => v => Math.Min(Math.Max(v, -0.5), 0.7), "neg" => v => -v, _ => v => 3 * v - 1,
        };
        OpCheck.Run(new[] { input }, t => f(t[0]), v => v[0].Select(r).ToArray());
    }

    [Fact]
    public void ReluGradientAtZeroIsZero()
    {
        var x = Tensor.FromArray(new[] { -1f, 0f, 2f }, new[] { 3 }, requiresGrad: true);
        x.Relu().Sum().Backward();
        Assert.Equal(new[] { 0f, 0f, 1f }, x.Grad!.ToArray());
    }

    [Theory]
    [InlineData("add")] [InlineData("sub")] [InlineData("mul")] [InlineData("div")]
    public void BinaryBroadcastMatchesReference(string op)
    {
        // a: (2, 3, 4), b: (3, 1) broadcast over the first and last dimensions
        var a = Input.Random(1, 2, 3, 4);
        var b = new Input(new[] { 3, 1 }, Input.Rand(2, 3, 0.5, 2));
        Func<Tensor, Tensor, Tensor> f = op switch { "add" => (x, y) => x + y, "sub" => (x, y) => x - y, "mul" => (x, y) => x * y, _ => (x, y) => x / y };
        Func<double, double, double> r = op switch { "add" => (x, y) => x + y, "sub" => (x, y) => x - y, "mul" => (x, y) => x * y, _ => (x, y) => x / y };
        OpCheck.Run(new[] { a, b }, t => f(t[0], t[1]), v =>
        {
            var y = new double[24];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++)
                y[(i * 3 + j) * 4 + k] = r(v[0][(i * 3 + j) * 4 + k], v[1][j]);
            return y;
        });
    }

    [Fact]
    public void ShapeMismatchNamesBothShapes()
    {
        var ex = Assert.Throws<NativeCnnException>(() => Tensor.Zeros(2, 3) + Tensor.Zeros(4));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(4)", ex.Message);
    }
}
