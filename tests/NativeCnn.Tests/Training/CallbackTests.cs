// Callback events arrive in the loop's order and, within an event, in ascending Order (ties in the
// order added); each Cancel* exception ends exactly its level, its After* event still runs.
using NativeCnn.Nn;
using NativeCnn.Optim;
using NativeCnn.Training;
using Xunit;
using Probe = NativeCnn.Tests.Training.LearnerTests.Probe;

namespace NativeCnn.Tests.Training;

public class CallbackTests
{
    private static List<(Tensor, Tensor)> Batches(int count, int size, float seed)
    {
        var list = new List<(Tensor, Tensor)>();
        for (int b = 0; b < count; b++)
        {
            var x = Enumerable.Range(0, size).Select(i => seed + b + i * 0.1f).ToArray();
            list.Add((Tensor.FromArray(x, new[] { size, 1 }), Tensor.FromArray(x.Select(v => 2 * v + 1).ToArray(), new[] { size, 1 })));
        }
        return list;
    }

    private static Learner Make(int trainBatches = 2, int validBatches = 1) =>
        new(DataBunch.From(Batches(trainBatches, 4, 0.1f), Batches(validBatches, 4, 0.3f)), new Linear(1, 1, rng: new Rng(3)), F.MseLoss,
            optFunc: (ps, lr) => new SGD(ps, lr));

    private static readonly string[] TrainBatch = { "BeforeBatch", "AfterPred", "AfterLoss", "AfterBackward", "AfterStep", "AfterBatch" };
    private static readonly string[] ValidBatch = { "BeforeBatch", "AfterPred", "AfterLoss", "AfterBatch" };

    private static float[] Weights(Learner l) => l.Model.Parameters().SelectMany(p => p.ToArray()).ToArray();

    [Fact]
    public void EventsArriveInLoopOrder()
    {
        var learn = Make();
        var events = new List<string>();
        var phases = new List<bool>();
        var scoped = new List<bool>();
        learn.Fit(1, 0.01f, new Probe((l, e) =>
        {
            events.Add(e);
            if (e == "AfterLoss") phases.Add(l.Training);
            // Batch events run inside the batch's MemoryScope, with the batch's tensors; others outside, without.
            scoped.Add(MemoryScope.Current is not null);
            Assert.Equal(e is "AfterPred" or "AfterLoss" or "AfterBackward" or "AfterStep" or "AfterBatch", l.Pred is not null);
        }));
        Assert.Equal(events.Select(e => e.EndsWith("Batch") || e is "AfterPred" or "AfterLoss" or "AfterBackward" or "AfterStep"), scoped);
        Assert.Null(MemoryScope.Current);
        var expected = new List<string> { "BeforeFit", "BeforeEpoch", "BeforeTrain" };
        expected.AddRange(TrainBatch); expected.AddRange(TrainBatch);
        expected.AddRange(new[] { "AfterTrain", "BeforeValidate" });
        expected.AddRange(ValidBatch);
        expected.AddRange(new[] { "AfterValidate", "AfterEpoch", "AfterFit" });
        Assert.Equal(expected, events);
        Assert.Equal(new[] { true, true, false }, phases);
    }

    [Fact]
    public void CallbacksRunByOrderThenByTheOrderAdded()
    {
        var learn = Make(trainBatches: 1);
        var seen = new List<string>();
        learn.AddCallback(new Probe((_, e) => { if (e == "BeforeBatch") seen.Add("late"); }, order: 5));
        learn.AddCallback(new Probe((_, e) => { if (e == "BeforeBatch") seen.Add("early"); }, order: -5));
        learn.Fit(1, 0.01f, new Probe((_, e) => { if (e == "BeforeBatch") seen.Add("extra"); }, order: 5));
        // One train and one valid batch.
        Assert.Equal(new[] { "early", "late", "extra", "early", "late", "extra" }, seen);
        // Extras live for one fit only.
        seen.Clear();
        learn.Fit(1, 0.01f);
        Assert.Equal(new[] { "early", "late", "early", "late" }, seen);
    }

    [Fact]
    public void CancelBatchAfterTheLossSkipsBackwardAndStep()
    {
        var learn = Make();
        var before = Weights(learn);
        var events = new List<string>();
        learn.Fit(1, 0.1f, new Probe((l, e) =>
        {
            if (l.Training) events.Add(e);
            if (e == "AfterLoss" && l.Training) throw new CancelBatchException();
        }));
        Assert.Equal(before, Weights(learn));
        var batch = new[] { "BeforeBatch", "AfterPred", "AfterLoss", "AfterBatch" };
        Assert.Equal(new[] { "BeforeTrain" }.Concat(batch).Concat(batch).Append("AfterTrain"), events);
        Assert.Equal(2, learn.Recorder.Losses.Count);  // the losses existed, so they are recorded
        Assert.Equal(learn.Recorder.Losses.Average(), learn.Recorder.TrainLosses[0], 1e-6);
    }

    [Fact]
    public void CancelBatchAfterBackwardSkipsOnlyTheStep()
    {
        var learn = Make();
        var before = Weights(learn);
        var events = new List<string>();
        bool hadGrad = false;
        learn.Fit(1, 0.1f, new Probe((l, e) =>
        {
            if (l.Training) events.Add(e);
            if (e == "AfterBackward" && l.Training)
            {
                hadGrad = l.Model.Parameters().All(p => p.Grad is not null);
                throw new CancelBatchException();
            }
        }));
        Assert.True(hadGrad, "backward ran before the cancellation");
        Assert.Equal(before, Weights(learn));
        var batch = new[] { "BeforeBatch", "AfterPred", "AfterLoss", "AfterBackward", "AfterBatch" };
        Assert.Equal(new[] { "BeforeTrain" }.Concat(batch).Concat(batch).Append("AfterTrain"), events);
    }

    [Fact]
    public void CancelBatchBeforeTheForwardRecordsNothing()
    {
        var learn = Make();
        learn.Fit(1, 0.1f, new Probe((l, e) => { if (e == "BeforeBatch" && l.Training) throw new CancelBatchException(); }));
        Assert.Empty(learn.Recorder.Losses);
        Assert.True(double.IsNaN(learn.Recorder.TrainLosses[0]));
        Assert.True(double.IsFinite(learn.Recorder.ValidLosses[0]));
    }

    [Fact]
    public void CancelTrainEndsTheTrainingPhaseAndValidationStillRuns()
    {
        var learn = Make(trainBatches: 4);
        var events = new List<string>();
        learn.Fit(2, 0.1f, new Probe((l, e) =>
        {
            events.Add(e);
            if (e == "BeforeBatch" && l.Training && l.Iter == 1) throw new CancelTrainException();
        }));
        Assert.Equal(2, events.Count(e => e == "AfterStep"));        // one step per epoch
        Assert.Equal(2, events.Count(e => e == "AfterTrain"));
        Assert.Equal(2, events.Count(e => e == "AfterValidate"));
        Assert.Equal(2, learn.Recorder.Losses.Count);
        Assert.Equal(2, learn.Recorder.ValidLosses.Count(double.IsFinite));
    }

    [Fact]
    public void CancelValidEndsValidationAndAfterValidateRuns()
    {
        var learn = Make(validBatches: 3);
        var validBatches = 0;
        var events = new List<string>();
        learn.Fit(1, 0.1f, new Probe((l, e) =>
        {
            events.Add(e);
            if (!l.Training && e == "BeforeBatch") validBatches++;
            if (!l.Training && e == "AfterBatch" && l.Iter == 0) throw new CancelValidException();
        }));
        Assert.Equal(1, validBatches);
        Assert.Equal(new[] { "AfterValidate", "AfterEpoch", "AfterFit" }, events.TakeLast(3));
        Assert.True(learn.Model.Training);
    }

    [Fact]
    public void CancelEpochSkipsTheRestOfThatEpochOnly()
    {
        var learn = Make();
        var events = new List<string>();
        learn.Fit(2, 0.1f, new Probe((l, e) =>
        {
            events.Add($"{l.Epoch}:{e}");
            if (e == "AfterTrain" && l.Epoch == 0) throw new CancelEpochException();
        }));
        Assert.DoesNotContain("0:BeforeValidate", events);
        Assert.Contains("0:AfterEpoch", events);
        Assert.Contains("1:AfterValidate", events);
        var r = learn.Recorder;
        Assert.Equal(2, r.ValidLosses.Count);
        Assert.True(double.IsNaN(r.ValidLosses[0]));
        Assert.True(double.IsFinite(r.ValidLosses[1]));
        Assert.Equal(2, r.TrainLosses.Count(double.IsFinite));
        Assert.Equal(4, r.Losses.Count);
    }

    [Fact]
    public void CancelFitStopsEverythingButAfterFitRuns()
    {
        var learn = Make();
        var events = new List<string>();
        learn.Fit(5, 0.1f, new Probe((l, e) =>
        {
            events.Add(e);
            if (e == "AfterEpoch" && l.Epoch == 1) throw new CancelFitException();
        }));
        Assert.Equal(2, events.Count(e => e == "AfterEpoch"));
        Assert.Equal("AfterFit", events[^1]);
        Assert.Equal(2, learn.Recorder.EpochSeconds.Count);
        Assert.Equal(4, learn.Recorder.Losses.Count);
    }

    [Fact]
    public void OtherExceptionsPropagateAndLeaveTheModelInTrainMode()
    {
        var learn = Make();
        var ex = Assert.Throws<InvalidOperationException>(() => learn.Fit(1, 0.1f, new Probe((l, e) =>
        {
            if (!l.Training && e == "AfterLoss") throw new InvalidOperationException("boom");
        })));
        Assert.Equal("boom", ex.Message);
        Assert.True(learn.Model.Training);
    }

    [Fact]
    public void BadArgumentsNameWhatWasExpected()
    {
        var learn = Make();
        Assert.Contains("lr must be finite and > 0, got -1", Assert.Throws<NativeCnnException>(() => learn.Fit(1, -1f)).Message);
        Assert.Contains("epochs", Assert.Throws<NativeCnnException>(() => learn.Fit(0, 0.1f)).Message);
        Assert.Contains("yields 0 batches", Assert.Throws<NativeCnnException>(() => DataBunch.From(new List<(Tensor, Tensor)>(), Batches(1, 4, 0))).Message);
    }
}
