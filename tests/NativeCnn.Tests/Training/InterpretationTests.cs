// ClassificationInterpretation: confusion matrices counted by hand, fastai's most_confused order,
// per-item losses and probabilities against a float64 reference, the validation pass of a Learner
// (logits recomputed on the host from the model's weights, the kept top-loss inputs, the restored
// mode) and the top-losses grid de-normalised pixel for pixel.
using NativeCnn.Data;
using NativeCnn.Nn;
using NativeCnn.Reports;
using NativeCnn.Training;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Training;

public class InterpretationTests
{
    // 8 items, 4 classes (class 3 never occurs as a target). Argmax per row: 0 0 1 1 1 2 0 2.
    private static readonly double[,] Logits =
    {
        { 3, 1, 0, 0 }, { 2, 1, 0, 1 }, { 0, 4, 1, 0 }, { 1, 2, 0, 0 },
        { 0, 5, 0, 0 }, { 0, 0, 2, 1 }, { 4, 0, 3, 0 }, { 1, 0, 1.5, 0 },
    };
    private static readonly int[] Actual = { 0, 1, 1, 0, 2, 2, 2, 0 };

    private static ClassificationInterpretation Sample() => ClassificationInterpretation.FromPredictions(Logits, Actual, new[] { "cat", "dog", "fox", "owl" });

    [Fact]
    public void ConfusionMatrixCountsActualRowsAgainstPredictedColumns()
    {
        var interp = Sample();
        Assert.Equal(new[] { 0, 0, 1, 1, 1, 2, 0, 2 }, interp.Predicted);
        // actual 0: predicted 0, 1, 2 -> row (1, 1, 1, 0); actual 1: predicted 0, 1 -> (1, 1, 0, 0);
        // actual 2: predicted 1, 2, 0 -> (1, 1, 1, 0); actual 3: none.
        var expected = new int[,] { { 1, 1, 1, 0 }, { 1, 1, 0, 0 }, { 1, 1, 1, 0 }, { 0, 0, 0, 0 } };
        Assert.Equal(expected, interp.ConfusionMatrix());
        var norm = interp.ConfusionMatrixNormalized();
        Assert.Equal(1.0 / 3, norm[0, 2], 15);
        Assert.Equal(0.5, norm[1, 0], 15);
        Assert.Equal(0.0, norm[1, 2]);
        for (int j = 0; j < 4; j++) Assert.True(double.IsNaN(norm[3, j]), "a class without items has a NaN row, as numpy gives");
    }

    [Fact]
    public void MostConfusedSortsByCountThenKeepsRowMajorOrder()
    {
        // Counts: (0 -> 2) x3, (1 -> 0) x1, (2 -> 0) x3, (2 -> 1) x1, (0 -> 1) x1.
        var logits = new double[9, 3];
        int[] actual = { 0, 0, 0, 1, 2, 2, 2, 2, 0 }, pred = { 2, 2, 2, 0, 0, 0, 0, 1, 1 };
        for (int i = 0; i < 9; i++) logits[i, pred[i]] = 5;
        var interp = ClassificationInterpretation.FromPredictions(logits, actual);
        Assert.Equal(new[] { ("0", "2", 3), ("2", "0", 3), ("0", "1", 1), ("1", "0", 1), ("2", "1", 1) }, interp.MostConfused());
        Assert.Equal(new[] { ("0", "2", 3), ("2", "0", 3) }, interp.MostConfused(minVal: 2));
        Assert.Empty(interp.MostConfused(minVal: 4));
    }

    [Fact]
    public void LossesAndProbabilitiesMatchAFloat64Reference()
    {
        var interp = Sample();
        for (int i = 0; i < Actual.Length; i++)
        {
            double sum = 0;
            for (int j = 0; j < 4; j++) sum += Math.Exp(Logits[i, j]);
            Assert.Equal(-Math.Log(Math.Exp(Logits[i, Actual[i]]) / sum), interp.Losses[i], 12);
            for (int j = 0; j < 4; j++) Assert.Equal(Math.Exp(Logits[i, j]) / sum, interp.Prob(i, j), 14);
        }
        // Top losses: sorted by loss, descending, each with its item index.
        var reference = Enumerable.Range(0, Actual.Length).Select(i => (interp.Losses[i], i)).OrderByDescending(t => t.Item1).ToList();
        var top = interp.TopLosses(3);
        Assert.Equal(reference.Take(3), top);
        // Item 4 (actual fox, logits 0 5 0 0): loss = log(e^5 + 3) = 5.0196...
        Assert.Equal(4, top[0].Index);
        Assert.Equal(Math.Log(Math.Exp(5) + 3), top[0].Loss, 12);
        Assert.Equal(reference.Last(), interp.TopLosses(1, largest: false)[0]);
        Assert.Equal(8, interp.TopLosses().Count);
    }

    [Fact]
    public void ExtremeLogitsGiveFiniteExactLosses()
    {
        var interp = ClassificationInterpretation.FromPredictions(new double[,] { { 1000, 0 }, { -1000, 1000 } }, new[] { 1, 1 });
        Assert.Equal(1000, interp.Losses[0], 9);
        Assert.Equal(0, interp.Losses[1], 12);
        Assert.Equal(0, interp.Prob(0, 1));
        Assert.Equal(1, interp.Prob(1, 1));
    }

    [Fact]
    public void BadInputsNameWhatIsWrong()
    {
        var e = Assert.Throws<NativeCnnException>(() => ClassificationInterpretation.FromPredictions(new double[2, 3], new[] { 0, 3 }));
        Assert.Contains("target class 3 of item 1", e.Message);
        e = Assert.Throws<NativeCnnException>(() => ClassificationInterpretation.FromPredictions(new double[2, 3], new[] { 0, 1 }, new[] { "a", "b" }));
        Assert.Contains("2 classes", e.Message);
        e = Assert.Throws<NativeCnnException>(() => Sample().PlotTopLosses(2));
        Assert.Contains("no input images were kept", e.Message);
        var one = ClassificationInterpretation.FromPredictions(new double[,] { { 0, 1 }, { 1, 0 } }, new[] { 0, 0 }, images: new Dictionary<int, float[]> { [1] = new float[4] }, imageShape: (1, 2, 2));
        e = Assert.Throws<NativeCnnException>(() => one.PlotTopLosses(2));
        Assert.Contains("items 0 were not kept (1 kept)", e.Message);
    }

    // Two validation batches of (n, 1, 2, 2) images through Flatten + Linear(4, 3).
    internal static (Learner Learn, float[][] X, int[] Y) TinyLearner(NormStats? stats = null, bool multiLabel = false, Device? device = null)
    {
        var rng = new Rng(7);
        var model = new Sequential(new Flatten(), new Linear(4, 3, rng: rng));
        var xs = new List<float[]>();
        var ys = new List<int>();
        var batches = new List<(Tensor, Tensor)>();
        foreach (int n in new[] { 5, 3 })
        {
            var x = new float[n * 4];
            var y = new int[n];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
            for (int i = 0; i < n; i++) { y[i] = (int)(rng.NextDouble() * 3); xs.Add(x.AsSpan(i * 4, 4).ToArray()); ys.Add(y[i]); }
            batches.Add((Tensor.FromArray(x, new[] { n, 1, 2, 2 }, device), Tensor.FromArray(y, new[] { n }, device)));
        }
        if (device is not null) model.To(device);
        var data = new DataBunch(new ListSource(batches), new ListSource(batches)) { Classes = new[] { "a", "b", "c" }, Stats = stats, MultiLabel = multiLabel };
        return (new Learner(data, model, (p, t) => F.CrossEntropy(p, t)), xs.ToArray(), ys.ToArray());
    }

    [Fact]
    public void FromLearnerRunsTheValidationSetOnceAndKeepsTheWorstInputs()
    {
        var (learn, xs, ys) = TinyLearner();
        var sd = learn.Model.StateDict();
        var w = sd["1.weight"].ToArray();
        var b = sd["1.bias"].ToArray();
        learn.Model.Train();
        var interp = ClassificationInterpretation.FromLearner(learn, keepImages: 3);
        Assert.True(learn.Model.Training, "the model's mode is restored");
        Assert.Equal(8, interp.Count);
        Assert.Equal(new[] { "a", "b", "c" }, interp.Classes);
        Assert.Equal(ys, interp.Actual);
        for (int i = 0; i < 8; i++)
        {
            var z = new double[3];
            for (int o = 0; o < 3; o++) { z[o] = b[o]; for (int k = 0; k < 4; k++) z[o] += (double)w[o * 4 + k] * xs[i][k]; }
            double lse = Math.Log(z.Sum(Math.Exp));
            // float32 logits: agreement to float32 rounding.
            Assert.Equal(lse - z[ys[i]], interp.Losses[i], 5);
            Assert.Equal(Array.IndexOf(z, z.Max()), interp.Predicted[i]);
            Assert.Equal(Math.Exp(z[1] - lse), interp.Prob(i, 1), 5);
        }
        var top = interp.TopLosses(3).Select(t => t.Index).ToHashSet();
        Assert.Equal(top, interp.ImageIndices.ToHashSet());
        foreach (int i in top) Assert.Equal(xs[i], interp.ImageOf(i));
        Assert.Equal((1, 2, 2), interp.ImageShape);
    }

    [Fact]
    public void FromLearnerRefusesMultiLabelData()
    {
        var (learn, _, _) = TinyLearner(multiLabel: true);
        var e = Assert.Throws<NativeCnnException>(() => ClassificationInterpretation.FromLearner(learn));
        Assert.Contains("multi-label", e.Message);
    }

    [Fact]
    public void TopLossesGridShowsTheWorstImagesDenormalised()
    {
        // 3 items of 1x2x2; item 1 has the highest loss, then item 2. Normalised with mean 0.5, std 0.25.
        var stats = new NormStats(new[] { 0.5f }, new[] { 0.25f });
        var raw = new[] { new[] { 0f, 0.25f, 0.5f, 1f }, new[] { 1f, 0.75f, 0.5f, 0f }, new[] { 0.2f, 0.4f, 0.6f, 0.8f } };
        var images = Enumerable.Range(0, 3).ToDictionary(i => i, i => raw[i].Select(v => (v - 0.5f) / 0.25f).ToArray());
        var interp = ClassificationInterpretation.FromPredictions(new double[,] { { 2, 0 }, { 3, 0 }, { 1, 0 } }, new[] { 0, 1, 1 }, new[] { "no", "yes" },
                                                                  images, (1, 2, 2), stats);
        Assert.Equal(new[] { 1, 2 }, interp.TopLosses(2).Select(t => t.Index));
        const int zoom = 10;
        using var grid = interp.PlotTopLosses(2, cols: 2, zoom: zoom);
        int cellW = 2 * zoom, cellH = 2 * zoom + 2 * ImageGrid.LineHeight + 2, gap = ImageGrid.Gap;
        Assert.Equal(2 * (cellW + gap) + gap, grid.Width);
        Assert.Equal(cellH + 2 * gap, grid.Height);
        for (int cell = 0; cell < 2; cell++)
        {
            int item = cell == 0 ? 1 : 2, ox = gap + cell * (cellW + gap);
            for (int p = 0; p < 4; p++)
            {
                var px = grid[ox + (p % 2) * zoom + zoom / 2, gap + (p / 2) * zoom + zoom / 2];
                byte want = (byte)Math.Round(raw[item][p] * 255);
                Assert.Equal(new Rgb24(want, want, want), px);
            }
            // Two label lines: dark pixels in each.
            for (int line = 0; line < 2; line++)
            {
                int y0 = gap + 2 * zoom + 2 + line * ImageGrid.LineHeight, dark = 0;
                for (int y = y0; y < y0 + 10; y++)
                    for (int x = ox; x < ox + cellW; x++) if (grid[x, y].R == 0) dark++;
                Assert.True(dark > 0, $"cell {cell} label line {line} is empty");
            }
        }
    }
}

/// <summary>The validation pass on the GPU backend (ILGPU's CPU simulator here, CUDA where present) gives the CPU's result.</summary>
[Collection("Gpu")]
public class InterpretationOnGpuBackendTests
{
    [Fact]
    public void SimulatorPassMatchesTheCpuPass()
    {
        var cpu = ClassificationInterpretation.FromLearner(InterpretationTests.TinyLearner().Learn, keepImages: 2);
        var sim = ClassificationInterpretation.FromLearner(InterpretationTests.TinyLearner(device: Devices.Simulator()).Learn, keepImages: 2);
        Assert.Equal(cpu.Predicted, sim.Predicted);
        Assert.Equal(cpu.Actual, sim.Actual);
        for (int i = 0; i < cpu.Count; i++) Assert.Equal(cpu.Losses[i], sim.Losses[i], 5);
        Assert.Equal(cpu.ImageIndices.Order(), sim.ImageIndices.Order());
        foreach (int i in cpu.ImageIndices) Assert.Equal(cpu.ImageOf(i), sim.ImageOf(i));
    }
}
