// Module naming and state dicts: MnistCnn's names and shapes equal PyTorch's state_dict listing of
// the same nn.Sequential (printed by torch 1.13), and LoadStateDict rejects bad dicts clearly.
using NativeCnn.Models;
using NativeCnn.Nn;
using Xunit;

namespace NativeCnn.Tests.Nn;

public class StateDictTests
{
    // From torch 1.13: [(k, tuple(v.shape)) for k, v in mnist_cnn().state_dict().items()]
    private static readonly (string Name, int[] Shape)[] TorchStateDict =
    {
        ("0.weight", new[] { 32, 1, 3, 3 }), ("1.weight", new[] { 32 }), ("1.bias", new[] { 32 }),
        ("1.running_mean", new[] { 32 }), ("1.running_var", new[] { 32 }), ("1.num_batches_tracked", new int[0]),
        ("3.weight", new[] { 64, 32, 3, 3 }), ("4.weight", new[] { 64 }), ("4.bias", new[] { 64 }),
        ("4.running_mean", new[] { 64 }), ("4.running_var", new[] { 64 }), ("4.num_batches_tracked", new int[0]),
        ("6.weight", new[] { 128, 64, 3, 3 }), ("7.weight", new[] { 128 }), ("7.bias", new[] { 128 }),
        ("7.running_mean", new[] { 128 }), ("7.running_var", new[] { 128 }), ("7.num_batches_tracked", new int[0]),
        ("9.weight", new[] { 128, 128, 3, 3 }), ("10.weight", new[] { 128 }), ("10.bias", new[] { 128 }),
        ("10.running_mean", new[] { 128 }), ("10.running_var", new[] { 128 }), ("10.num_batches_tracked", new int[0]),
        ("14.weight", new[] { 10, 128 }), ("14.bias", new[] { 10 }),
    };

    [Fact]
    public void MnistCnnStateDictMatchesPyTorchNamesOrderAndShapes()
    {
        var state = SimpleCnn.MnistCnn(rng: new Rng(1)).StateDict();
        Assert.Equal(TorchStateDict.Select(e => e.Name), state.Keys);
        foreach (var (name, shape) in TorchStateDict)
            Assert.Equal(shape, state[name].Shape);
    }

    [Fact]
    public void MnistCnnParametersAreTheTrainableEntriesInTorchOrder()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(1));
        var names = model.NamedParameters().Select(p => p.Name).ToArray();
        var expected = TorchStateDict.Select(e => e.Name)
            .Where(n => !n.EndsWith("running_mean") && !n.EndsWith("running_var") && !n.EndsWith("num_batches_tracked"));
        Assert.Equal(expected, names);
        Assert.Equal(241898, model.ParameterCount()); // torch: sum(p.numel() for p in m.parameters())
        Assert.All(model.Parameters(), p => Assert.True(p.RequiresGrad && p.IsLeaf));
        Assert.Equal(new[] { "1.running_mean", "1.running_var", "1.num_batches_tracked" }, model.NamedBuffers().Take(3).Select(b => b.Name));
    }

    [Fact]
    public void MnistCnnForwardGivesLogitsPerClass()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(2));
        model.Eval();
        var y = model.Forward(Tensor.Randn(new[] { 3, 1, 28, 28 }, new Rng(3)));
        Assert.Equal(new[] { 3, 10 }, y.Shape);
        Assert.All(y.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void LoadStateDictCopiesEveryValueInPlace()
    {
        var source = SimpleCnn.MnistCnn(rng: new Rng(10));
        var target = SimpleCnn.MnistCnn(rng: new Rng(11));
        var bn = (BatchNorm2d)source[1];
        bn.RunningMean!.CopyFrom(Tensor.Full(new[] { 32 }, 0.25f));
        var targetWeight = ((Conv2d)target[0]).Weight;
        Assert.NotEqual(((Conv2d)source[0]).Weight.ToArray(), targetWeight.ToArray());

        target.LoadStateDict(source.StateDict());

        Assert.Same(targetWeight, ((Conv2d)target[0]).Weight);
        var s = source.StateDict();
        foreach (var (name, value) in target.StateDict())
            Assert.Equal(s[name].ToArray(), value.ToArray());
        Assert.All(((BatchNorm2d)target[1]).RunningMean!.ToArray(), v => Assert.Equal(0.25f, v));
    }

    [Fact]
    public void LoadStateDictNamesMissingKeys()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(1));
        var state = SimpleCnn.MnistCnn(rng: new Rng(2)).StateDict();
        state.Remove("14.bias");
        state.Remove("4.running_var");
        var before = ((Conv2d)model[0]).Weight.ToArray();
        var e = Assert.Throws<NativeCnnException>(() => model.LoadStateDict(state));
        Assert.Contains("missing keys: 4.running_var, 14.bias", e.Message);
        Assert.DoesNotContain("unexpected", e.Message);
        // Nothing is copied when a check fails.
        Assert.Equal(before, ((Conv2d)model[0]).Weight.ToArray());
    }

    [Fact]
    public void LoadStateDictNamesUnexpectedKeys()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(1));
        var state = SimpleCnn.MnistCnn(rng: new Rng(2)).StateDict();
        state["fc.weight"] = Tensor.Zeros(10, 128);
        var e = Assert.Throws<NativeCnnException>(() => model.LoadStateDict(state));
        Assert.Contains("unexpected keys: fc.weight", e.Message);
        Assert.DoesNotContain("missing", e.Message);
    }

    [Fact]
    public void LoadStateDictNamesShapeMismatchesEvenWhenNotStrict()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(1));
        var state = SimpleCnn.MnistCnn(rng: new Rng(2)).StateDict();
        state["14.weight"] = Tensor.Zeros(5, 128);
        var e = Assert.Throws<NativeCnnException>(() => model.LoadStateDict(state, strict: false));
        Assert.Contains("14.weight: expected shape (10, 128), got (5, 128)", e.Message);
    }

    [Fact]
    public void NonStrictLoadIgnoresMissingAndUnexpectedKeys()
    {
        var model = SimpleCnn.MnistCnn(rng: new Rng(1));
        var other = SimpleCnn.MnistCnn(rng: new Rng(2));
        var state = new Dictionary<string, Tensor> { ["14.bias"] = other.StateDict()["14.bias"], ["head.x"] = Tensor.Zeros(1) };
        var firstConv = ((Conv2d)model[0]).Weight.ToArray();
        model.LoadStateDict(state, strict: false);
        Assert.Equal(((Linear)other[14]).Bias!.ToArray(), ((Linear)model[14]).Bias!.ToArray());
        Assert.Equal(firstConv, ((Conv2d)model[0]).Weight.ToArray());
    }

    [Fact]
    public void NumBatchesTrackedCountsTrainingForwardsAndSurvivesLoading()
    {
        var bn = new BatchNorm2d(2);
        var x = Tensor.Randn(new[] { 4, 2, 3, 3 }, new Rng(5));
        bn.Forward(x);
        bn.Forward(x);
        bn.Eval();
        bn.Forward(x);
        Assert.Equal(DType.Int32, bn.NumBatchesTracked!.DType);
        Assert.Equal(2f, bn.NumBatchesTracked.Item());

        var copy = new BatchNorm2d(2);
        copy.LoadStateDict(bn.StateDict());
        copy.Forward(x);
        Assert.Equal(3f, copy.NumBatchesTracked!.Item());
    }

    [Fact]
    public void NumBatchesTrackedLoadsFromAFloatTensor()
    {
        // A torch state dict converted to float32 (torch stores int64) still loads.
        var bn = new BatchNorm2d(2);
        var state = bn.StateDict();
        state["num_batches_tracked"] = Tensor.Scalar(7f);
        bn.LoadStateDict(state);
        Assert.Equal(DType.Int32, bn.NumBatchesTracked!.DType);
        Assert.Equal(7, bn.NumBatchesTracked.ToInt32Array()[0]);
        bn.Forward(Tensor.Randn(new[] { 2, 2, 2, 2 }, new Rng(1)));
        Assert.Equal(8, bn.NumBatchesTracked.ToInt32Array()[0]);
        Assert.Equal("BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", bn.ToString());
    }

    [Fact]
    public void SequentialNamesChildrenByIndexAndRejectsBadIndex()
    {
        var seq = new Sequential(new Linear(3, 4, rng: new Rng(1)), new ReLU(), new Linear(4, 2, bias: false, rng: new Rng(1)));
        Assert.Equal(new[] { "0.weight", "0.bias", "2.weight" }, seq.NamedParameters().Select(p => p.Name));
        Assert.Equal(new[] { "", "0", "1", "2" }, seq.NamedModules().Select(m => m.Name));
        var e = Assert.Throws<NativeCnnException>(() => seq[3]);
        Assert.Contains("index 3", e.Message);
    }
}
