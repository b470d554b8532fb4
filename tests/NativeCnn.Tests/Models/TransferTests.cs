// Transfer pays: mnist_cnn pretrained on digits 0-4 of the embedded MNIST, exported as safetensors,
// imported as a body with fastai's new head and fine-tuned on digits 5-9 from a few examples per class,
// must beat the same model trained from scratch on those examples with the same number of steps.
// Images are averaged 2x2 down to 14 px (a quarter of the compute). The test uses 5 examples per class
// (16 steps of 25 for each learner): with 20 per class at 14 px the scratch model catches up (margins
// ~0.01, see the notes).
// Numbers across seeds: benchmarks/results/transfer-notes.md.
using NativeCnn.Autograd;
using NativeCnn.Data;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Models;

public class TransferTests
{
    private const int Side = 14;   // digits averaged 2x2 down to 14 px: a quarter of the compute, same lesson

    /// <summary>Normalised (1, 14, 14) images of the digits in [lo, hi], labels shifted to 0.., at most perClass each (0: all).</summary>
    private static (float[] X, int[] Y) Digits(ImageDataset d, int lo, int hi, int perClass, int skipPerClass = 0)
    {
        var seen = new int[10];
        var xs = new List<float>();
        var ys = new List<int>();
        int plane = d.Height * d.Width;
        for (int i = 0; i < d.Count; i++)
        {
            int label = d.Labels[i];
            if (label < lo || label > hi) continue;
            int n = seen[label]++;
            if (n < skipPerClass || (perClass > 0 && n >= skipPerClass + perClass)) continue;
            for (int r = 0; r < Side; r++)
                for (int c = 0; c < Side; c++)
                {
                    int at = i * plane + 2 * r * d.Width + 2 * c;
                    float v = (d.Pixels[at] + d.Pixels[at + 1] + d.Pixels[at + d.Width] + d.Pixels[at + d.Width + 1]) / (4 * 255f);
                    xs.Add((v - Mnist.Mean) / Mnist.Std);
                }
            ys.Add(label - lo);
        }
        return (xs.ToArray(), ys.ToArray());
    }

    private static List<(Tensor X, Tensor Y)> Batches((float[] X, int[] Y) data, int batch, Rng rng)
    {
        int n = data.Y.Length, plane = Side * Side;
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = (int)(rng.NextSeed() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }
        var list = new List<(Tensor, Tensor)>();
        for (int s = 0; s + batch <= n; s += batch)
        {
            var x = new float[batch * plane];
            var y = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(data.X, order[s + b] * plane, x, b * plane, plane);
                y[b] = data.Y[order[s + b]];
            }
            list.Add((Tensor.FromArray(x, new[] { batch, 1, Side, Side }), Tensor.FromArray(y, new[] { batch })));
        }
        return list;
    }

    private static double Accuracy(Module model, List<(Tensor X, Tensor Y)> batches)
    {
        model.Eval();
        int right = 0, total = 0;
        using (new NoGrad())
            foreach (var (x, y) in batches)
            {
                var p = model.Forward(x).ToArray();
                var t = y.ToInt32Array();
                int c = p.Length / t.Length;
                for (int i = 0; i < t.Length; i++)
                {
                    int best = 0;
                    for (int k = 1; k < c; k++) if (p[i * c + k] > p[i * c + best]) best = k;
                    right += best == t[i] ? 1 : 0;
                }
                total += t.Length;
            }
        model.Train();
        return (double)right / total;
    }

    /// <summary>(transfer accuracy, scratch accuracy) on the valid digits 5-9 for one seed.</summary>
    internal static (double Transfer, double Scratch, double Pretrain) Run(ulong seed, int perClass = 20, int epochs = 4)
    {
        var mnist = Mnist.LoadEmbedded();
        var rng = new Rng(seed);
        var valid59 = Batches(Digits(mnist.Valid, 5, 9, 0), 100, new Rng(1));

        // 1. Pretrain on digits 0-4 (300 per class, one epoch) and export as safetensors.
        var pre = SimpleCnn.MnistCnn(classes: 5, rng: new Rng(seed + 1));
        var preData = Batches(Digits(mnist.Train, 0, 4, 300), 50, rng);
        var preLearn = new Learner(DataBunch.From(preData, Batches(Digits(mnist.Valid, 0, 4, 0), 100, new Rng(2)).Take(2).ToList()), pre, (p, y) => F.CrossEntropy(p, y));
        preLearn.FitOneCycle(1, 1e-2f);
        double pretrain = Accuracy(pre, Batches(Digits(mnist.Valid, 0, 4, 0), 100, new Rng(2)));
        var file = Path.Combine(Path.GetTempPath(), $"nc_transfer_{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(file, pre.StateDict());

            // 2. Few-shot data for digits 5-9: perClass examples each, batches of 25.
            var few = Batches(Digits(mnist.Train, 5, 9, perClass), 25, new Rng(seed + 2));
            var data = DataBunch.From(few, valid59.Take(1).ToList());

            // 3. Transfer: import the exported weights, cut the body, new head; fit the head frozen, then all.
            var imported = SimpleCnn.MnistCnn(classes: 5, rng: new Rng(seed + 3));
            imported.LoadStateDict(SafeTensors.Load(file), strict: true);
            var transfer = CnnLearner.Create(data, CnnModel.CreateBody(imported), classes: 5, rng: new Rng(seed + 4));
            transfer.FitOneCycle(epochs, 1e-2f);
            transfer.Unfreeze();
            transfer.FitOneCycle(epochs, 1e-3f);

            // 4. Scratch: the same model shape and the same 8 epochs, all trainable from the start.
            var scratch = CnnLearner.Create(data, CnnModel.CreateBody(SimpleCnn.MnistCnn(classes: 5, rng: new Rng(seed + 3))), classes: 5, rng: new Rng(seed + 4));
            scratch.Unfreeze();
            scratch.FitOneCycle(epochs, 1e-2f);
            scratch.FitOneCycle(epochs, 1e-3f);

            return (Accuracy(transfer.Model, valid59), Accuracy(scratch.Model, valid59), pretrain);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void PretrainedBodyBeatsScratchOnFewExamples()
    {
        var (transfer, scratch, pretrain) = Run(seed: 1, perClass: 5, epochs: 8);
        string msg = $"digits 5-9 from 5 per class: transfer {transfer:F3}, scratch {scratch:F3} (pretraining on 0-4: {pretrain:F3})";
        Console.WriteLine(msg);
        Assert.True(pretrain > 0.9, msg);
        // Measured for seeds 1, 2, 3 (transfer-notes.md): margins 0.186, 0.123, 0.269; asserted with room.
        Assert.True(transfer > scratch + 0.06, msg);
    }

    [Fact(Skip = "measurement, minutes: run by hand for benchmarks/results/transfer-notes.md")]
    public void MeasureAcrossSeeds()
    {
        foreach (var (pc, ep) in new[] { (5, 8), (10, 6) })
            for (ulong s = 1; s <= 3; s++)
            {
                var (t, sc, p) = Run(s, pc, ep);
                Console.WriteLine($"perClass {pc} epochs {ep} seed {s}: pretrain(0-4) {p:F3} transfer {t:F3} scratch {sc:F3} margin {t - sc:F3}");
            }
    }
}
