// MatMul and Linear: forward against float64 and backward by central differences (OpCheck), for
// plain, batched, transposed-view and strided-view inputs, with and without bias; and the shape
// errors, which must name both shapes.
using NativeCnn.Tests.Support;
using Xunit;

namespace NativeCnn.Tests.Ops;

public class LinearTests
{
    /// <summary>(m, k) x (k, n) in float64 on row-major arrays, for each of <paramref name="batch"/> pairs.</summary>
    private static double[] MatMulRef(double[] a, double[] b, int m, int k, int n, int batch = 1)
    {
        var y = new double[batch * m * n];
        for (int bt = 0; bt < batch; bt++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += a[bt * m * k + i * k + p] * b[bt * k * n + p * n + j];
                    y[bt * m * n + i * n + j] = s;
                }
        return y;
    }

    /// <summary>The transpose of a row-major (rows, cols) array.</summary>
    private static double[] T(double[] x, int rows, int cols)
    {
        var y = new double[x.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) y[j * rows + i] = x[i * cols + j];
        return y;
    }

    [Fact]
    public void MatMul2dMatchesReference()
    {
        // n = 35 spans two 32-column tiles; m and k fit no tile.
        OpCheck.Run(new[] { Input.Random(1, 9, 13), Input.Random(2, 13, 35) },
                    t => t[0].MatMul(t[1]), v => MatMulRef(v[0], v[1], 9, 13, 35));
    }

    [Fact]
    public void MatMulBatchedMatchesReference()
    {
        OpCheck.Run(new[] { Input.Random(3, 3, 4, 5), Input.Random(4, 3, 5, 6) },
                    t => t[0].MatMul(t[1]), v => MatMulRef(v[0], v[1], 4, 5, 6, batch: 3));
    }

    [Fact]
    public void MatMulOfTransposedViewsUsesTheirLayout()
    {
        // a is stored (7, 5) and used as (5, 7); b is stored (3, 7) and used as (7, 3).
        OpCheck.Run(new[] { Input.Random(5, 7, 5), Input.Random(6, 3, 7) },
                    t => t[0].T.MatMul(t[1].T), v => MatMulRef(T(v[0], 7, 5), T(v[1], 3, 7), 5, 7, 3));
    }

    [Fact]
    public void MatMulOfStridedViewsIsCopiedFirst()
    {
        // Every other column of a (4, 10): column stride 2 fits no Gemm layout. Rows 1..6 of b
        // (offset view, row-major with ld 3) do fit one.
        OpCheck.Run(new[] { Input.Random(7, 4, 10), Input.Random(8, 8, 3) },
                    t => t[0].Slice(1, 0, 10, 2).MatMul(t[1].Slice(0, 1, 6)),
                    v =>
                    {
                        var a = new double[4 * 5];
                        for (int i = 0; i < 4; i++) for (int j = 0; j < 5; j++) a[i * 5 + j] = v[0][i * 10 + 2 * j];
                        return MatMulRef(a, v[1][3..18], 4, 5, 3);
                    });
    }

    [Fact]
    public void MatMulOfBatchedTransposedViews()
    {
        // (2, 6, 4) permuted to (2, 4, 6): each matrix transposed, batch stride 24.
        OpCheck.Run(new[] { Input.Random(9, 2, 6, 4), Input.Random(10, 2, 6, 5) },
                    t => t[0].Transpose(1, 2).MatMul(t[1]),
                    v =>
                    {
                        var a = new double[2 * 4 * 6];
                        for (int bt = 0; bt < 2; bt++) T(v[0][(bt * 24)..(bt * 24 + 24)], 6, 4).CopyTo(a, bt * 24);
                        return MatMulRef(a, v[1], 4, 6, 5, batch: 2);
                    });
    }

    private static double[] LinearRef(double[] x, double[] w, double[]? b, int n, int inF, int outF)
    {
        var y = MatMulRef(x, T(w, outF, inF), n, inF, outF);
        if (b is not null)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < outF; j++) y[i * outF + j] += b[j];
        return y;
    }

    [Fact]
    public void LinearWithBiasMatchesReference()
    {
        OpCheck.Run(new[] { Input.Random(11, 6, 10), Input.Random(12, 33, 10), Input.Random(13, 33) },
                    t => F.Linear(t[0], t[1], t[2]), v => LinearRef(v[0], v[1], v[2], 6, 10, 33));
    }

    [Fact]
    public void LinearWithoutBiasMatchesReference()
    {
        OpCheck.Run(new[] { Input.Random(14, 5, 7), Input.Random(15, 3, 7) },
                    t => F.Linear(t[0], t[1], null), v => LinearRef(v[0], v[1], null, 5, 7, 3));
    }

    [Fact]
    public void LinearFlattensLeadingDimensions()
    {
        // x: (2, 3, 4) -> (2, 3, 5)
        OpCheck.Run(new[] { Input.Random(16, 2, 3, 4), Input.Random(17, 5, 4), Input.Random(18, 5) },
                    t =>
                    {
                        var y = F.Linear(t[0], t[1], t[2]);
                        Assert.Equal(new[] { 2, 3, 5 }, y.Shape);
                        return y;
                    },
                    v => LinearRef(v[0], v[1], v[2], 6, 4, 5));
    }

    [Fact]
    public void LinearWithTransposedWeightAndInputViews()
    {
        // weight stored (in, out) = (4, 6) and passed as its transpose; x stored (4, 3) and passed as (3, 4).
        OpCheck.Run(new[] { Input.Random(19, 4, 3), Input.Random(20, 4, 6), Input.Random(21, 6) },
                    t => F.Linear(t[0].T, t[1].T, t[2]), v => LinearRef(T(v[0], 4, 3), T(v[1], 4, 6), v[2], 3, 4, 6));
    }

    [Fact]
    public void GemmOperandsShareTheViewsStorage()
    {
        var x = Tensor.Zeros(6, 4);
        var plain = GemmOperand.Of(x);
        Assert.Same(x.Storage, plain.Storage);
        Assert.Equal((0, 4, false), (plain.Offset, plain.Ld, plain.Trans));

        var transposed = GemmOperand.Of(x.T);                     // (4, 6) read through the flag
        Assert.Same(x.Storage, transposed.Storage);
        Assert.Equal((0, 4, true), (transposed.Offset, transposed.Ld, transposed.Trans));

        var rows = GemmOperand.Of(x.Slice(0, 2, 5).Slice(1, 1, 3)); // offset 9, ld 4
        Assert.Same(x.Storage, rows.Storage);
        Assert.Equal((9, 4, false), (rows.Offset, rows.Ld, rows.Trans));

        var batch = GemmOperand.Of(Tensor.Zeros(3, 5, 2).Transpose(1, 2));
        Assert.Equal((2, true, 10), (batch.Ld, batch.Trans, batch.BatchStride)); // stored (5, 2) per batch

        var strided = GemmOperand.Of(x.Slice(1, 0, 4, 2));           // column stride 2: copied
        Assert.NotSame(x.Storage, strided.Storage);
        Assert.Equal((0, 2, false), (strided.Offset, strided.Ld, strided.Trans));
    }

    [Fact]
    public void Float16InputsGiveFloat16Output()
    {
        var a = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 2, 3 });
        var b = Tensor.FromArray(new[] { 1f, 0.5f, -1f, 2f, 0.25f, 1f }, new[] { 3, 2 });
        var y = a.To(DType.Float16).MatMul(b.To(DType.Float16));
        Assert.Equal(DType.Float16, y.DType);
        Assert.Equal(new[] { 1f - 2f + 0.75f, 0.5f + 4f + 3f, 4f - 5f + 1.5f, 2f + 10f + 6f }, y.ToArray());
    }

    [Fact]
    public void EmptyInnerDimensionGivesZeros()
    {
        var y = Tensor.Zeros(3, 0).MatMul(Tensor.Zeros(0, 2));
        Assert.Equal(new[] { 3, 2 }, y.Shape);
        Assert.Equal(new float[6], y.ToArray());
    }

    [Fact]
    public void MatMulShapeErrorsNameBothShapes()
    {
        var ex = Assert.Throws<NativeCnnException>(() => Tensor.Zeros(2, 3).MatMul(Tensor.Zeros(4, 5)));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(4, 5)", ex.Message);
        Assert.Contains("3 vs 4", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => Tensor.Zeros(2, 3).MatMul(Tensor.Zeros(1, 3, 4)));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(1, 3, 4)", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => Tensor.Zeros(2, 2, 3).MatMul(Tensor.Zeros(3, 3, 4)));
        Assert.Contains("batch", ex.Message);
        Assert.Contains("(2, 2, 3)", ex.Message);
        Assert.Contains("(3, 3, 4)", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => Tensor.FromArray(new[] { 1, 2 }, new[] { 1, 2 }).MatMul(Tensor.Zeros(2, 2)));
        Assert.Contains("floating-point", ex.Message);
    }

    [Fact]
    public void LinearShapeErrorsNameTheShapes()
    {
        var ex = Assert.Throws<NativeCnnException>(() => F.Linear(Tensor.Zeros(4, 3), Tensor.Zeros(5, 2), null));
        Assert.Contains("(4, 3)", ex.Message);
        Assert.Contains("(5, 2)", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => F.Linear(Tensor.Zeros(4, 3), Tensor.Zeros(5, 3), Tensor.Zeros(4)));
        Assert.Contains("(5)", ex.Message);
        Assert.Contains("(4)", ex.Message);

        ex = Assert.Throws<NativeCnnException>(() => F.Linear(Tensor.Zeros(4, 3), Tensor.Zeros(3), null));
        Assert.Contains("weight must be 2-D", ex.Message);
        Assert.Contains("(3)", ex.Message);
    }
}
