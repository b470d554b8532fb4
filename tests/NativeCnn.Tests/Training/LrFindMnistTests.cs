// The end-to-end check of the lr finder: on mnist_cnn and the embedded MNIST (8,000 train /
// 2,000 valid, batches of 64 as `nativecnn train`), LrFind suggests an lr in [1e-3, 1e-1], and five
// epochs of FitOneCycle at that lr reach at least 98% validation accuracy. About 30 s on two cores,
// hence the "Slow" category (it stays in the default suite; filter it out with Category!=Slow).
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Training;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Training;

public class LrFindMnistTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void LrFindSuggestsAGoodLrAndFiveEpochsReach98Percent()
    {
        var mnist = Mnist.LoadEmbedded();
        var rng = new Rng(42);
        var train = new BatchIterator(mnist.Train, 64, shuffle: true, dropLast: true, rng: rng);
        var valid = new BatchIterator(mnist.Valid, 256, shuffle: false);
        var learn = new Learner(DataBunch.From(train, valid), SimpleCnn.MnistCnn(10, rng), (p, y) => F.CrossEntropy(p, y), new[] { Metrics.Accuracy() });

        var found = learn.LrFind();
        output.WriteLine($"lr find: {found.Lrs.Count} batches, steepest {found.LrSteep:E3}, min/10 {found.LrMin:E3}, diverged {found.Diverged}");
        Assert.True(found.Lrs.Count > 50, $"the finder ran {found.Lrs.Count} batches before the loss diverged");
        // The suggestion used is the steepest descent (0.040 on the CPU); min/10 (0.091) is only checked
        // loosely, as it sits near the top of the range.
        Assert.InRange(found.LrSteep, 1e-3, 1e-1);
        Assert.InRange(found.LrMin, 1e-3, 1.0);

        learn.FitOneCycle(5, found.LrSteep);
        var acc = learn.Recorder.MetricValues.Select(m => m[0]).ToList();
        output.WriteLine("accuracy per epoch: " + string.Join(", ", acc.Select(a => a.ToString("F4"))));
        Assert.True(acc[^1] >= 0.98, $"accuracy {acc[^1]:F4} after 5 epochs at lr {found.LrSteep:E3}");
    }
}
