// The progress-bar callback on a forced StringWriter (the phase bar alone, master: false; the master bar is
// MasterBarTests): one redraw per batch with no minimum interval
// (the bar, the counts, the loss of the batch it drew after), only the first and last draw of each
// phase with a long interval, a clean line at the end of each phase, and silence when not forced.
using NativeCnn.Nn;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Reports;

public class ProgressBarTests
{
    internal static Learner Tiny()
    {
        var rng = new Rng(3);
        (Tensor, Tensor) Batch(int n)
        {
            var x = new float[n * 2];
            for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
            var y = Enumerable.Range(0, n).Select(i => i % 2).ToArray();
            return (Tensor.FromArray(x, new[] { n, 2 }), Tensor.FromArray(y, new[] { n }));
        }
        var data = DataBunch.From(new[] { Batch(4), Batch(4), Batch(4) }, new[] { Batch(3), Batch(2) });
        return new Learner(data, new Linear(2, 2, rng: new Rng(4)), (p, t) => F.CrossEntropy(p, t));
    }

    [Fact]
    public void RedrawsEveryBatchWithoutAMinimumIntervalAndClearsAtTheEnd()
    {
        var sw = new StringWriter();
        var learn = Tiny();
        var bar = new ProgressBar(sw, force: true, minInterval: TimeSpan.Zero, width: 6, master: false);
        Assert.True(bar.Enabled);
        learn.Fit(1, 0.1f, bar);
        string s = sw.ToString();
        // train: first draw + 3 batches + clear ("\r" blank "\r"); valid: first draw + 2 batches + clear.
        Assert.Equal((1 + 3 + 2) + (1 + 2 + 2), s.Count(c => c == '\r'));
        var draws = s.Split('\r').Select(d => d.TrimEnd()).Where(d => d.Length > 0).ToList();
        Assert.Equal(7, draws.Count);
        Assert.StartsWith("train [------] 0/3 00:00<--:--", draws[0]);
        Assert.StartsWith("train [##----] 1/3 ", draws[1]);
        Assert.StartsWith("train [######] 3/3 ", draws[3]);
        // The loss it shows is the one the Recorder kept for that batch.
        Assert.EndsWith(FormattableString.Invariant($" loss {learn.Recorder.Losses[2]:F4}"), draws[3]);
        Assert.EndsWith(FormattableString.Invariant($" loss {learn.Recorder.Losses[0]:F4}"), draws[1]);
        Assert.StartsWith("valid [------] 0/2 ", draws[4]);
        Assert.StartsWith("valid [######] 2/2 ", draws[6]);
        Assert.DoesNotContain("loss", draws[6]);
        // The line is blank after the last clear, so the epoch table starts clean.
        Assert.EndsWith("\r", s);
        Assert.Equal("", s.Split('\r')[^2].Trim());
    }

    [Fact]
    public void ALongIntervalDrawsOnlyTheFirstAndLastBatchOfEachPhase()
    {
        var sw = new StringWriter();
        Tiny().Fit(2, 0.1f, new ProgressBar(sw, force: true, minInterval: TimeSpan.FromHours(1), master: false));
        var draws = sw.ToString().Split('\r').Select(d => d.Trim()).Where(d => d.Length > 0).ToList();
        Assert.Equal(8, draws.Count);   // 2 epochs x (train 0/3, 3/3, valid 0/2, 2/2)
        Assert.Equal(new[] { "0/3", "3/3", "0/2", "2/2" }, draws.Take(4).Select(d => d.Split(' ')[2]));
    }

    [Fact]
    public void WritesNothingToANonConsoleWriterUnlessForced()
    {
        var sw = new StringWriter();
        var bar = new ProgressBar(sw);
        Assert.False(bar.Enabled);
        Tiny().Fit(1, 0.1f, bar);
        Assert.Equal("", sw.ToString());
    }
}
