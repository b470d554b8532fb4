// fastai's cnn_learner: a pretrained body with a new head (CnnModel.Create), split into layer groups
// (a ResNet: stem+layer1+layer2, layer3+layer4, head; any other body: body, head) and frozen, so the
// first fit trains the head (and the body's batch-norm layers) only. Data that were not normalised
// (DataBunch.Stats null) are normalised with the body's statistics (ImageNet for torchvision weights),
// as fastai v2's _add_norm does: only when the channel counts agree; data that carry statistics are
// left as they are.
// Must hold: the returned learner's model shares the body's modules with the network given (its
// pretrained weights are used, not copied), and its layer groups partition the model's parameters.
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Optim;

namespace NativeCnn.Training;

/// <summary>fastai's cnn_learner: a Learner over a pretrained body with a new head, split into layer groups and frozen so the first fit trains the head.</summary>
public static class CnnLearner
{
    /// <summary>A frozen Learner over Sequential(body of <paramref name="arch"/>, new head for <paramref name="classes"/>),
    /// with ResNet's three layer groups; unnormalised data are normalised with <paramref name="bodyStats"/>
    /// (null: ImageNet's, what torchvision's weights were trained with). Loss: cross-entropy unless given.</summary>
    public static Learner Create(DataBunch data, ResNet arch, int classes, NormStats? bodyStats = null, float ps = 0.5f,
                                 IEnumerable<Metric>? metrics = null, Func<Tensor, Tensor, Tensor>? lossFunc = null,
                                 Func<IEnumerable<ParamGroup>, float, Optimizer>? optFunc = null, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(arch);
        var model = CnnModel.Create(arch, classes, ps, rng: rng);
        return Build(data, model, CnnModel.ResNetLayerGroups(model), arch.InChannels, bodyStats ?? NormStats.ImageNet, metrics, lossFunc, optFunc);
    }

    /// <summary>A frozen Learner over Sequential(<paramref name="body"/>, new head) with two layer groups (body,
    /// head). <paramref name="body"/> is already cut (e.g. CnnModel.CreateBody of a pretrained network);
    /// unnormalised data are normalised with <paramref name="bodyStats"/> when given.</summary>
    public static Learner Create(DataBunch data, Module body, int classes, NormStats? bodyStats = null, float ps = 0.5f,
                                 IEnumerable<Metric>? metrics = null, Func<Tensor, Tensor, Tensor>? lossFunc = null,
                                 Func<IEnumerable<ParamGroup>, float, Optimizer>? optFunc = null, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (body is ResNet r)
            throw new NativeCnnException($"CnnLearner.Create: got a whole {r.GetType().Name} as a body; pass it as the arch (the ResNet overload cuts it) or pass CnnModel.CreateBody(it)");
        int inChannels = body.NamedModules().Select(m => m.Module).OfType<Conv2d>().FirstOrDefault()?.InChannels ?? 3;
        var head = CnnModel.CreateHead(CnnModel.NumFeatures(body, inChannels), classes, ps, rng);
        head.To(body.Device);
        var model = new Sequential(body, head);
        return Build(data, model, new IReadOnlyList<Module>[] { new[] { body }, new[] { (Module)head } }, inChannels, bodyStats, metrics, lossFunc, optFunc);
    }

    private static Learner Build(DataBunch data, Sequential model, IReadOnlyList<Module>[] groups, int inChannels, NormStats? stats,
                                 IEnumerable<Metric>? metrics, Func<Tensor, Tensor, Tensor>? lossFunc, Func<IEnumerable<ParamGroup>, float, Optimizer>? optFunc)
    {
        if (data is null) throw new NativeCnnException("CnnLearner.Create: data is null; expected a DataBunch");
        int channels = data.Channels > 0 ? data.Channels : inChannels;
        if (data.Stats is null && stats is not null && stats.Channels == channels) data = Normalized(data, stats);
        var learn = new Learner(data, model, lossFunc ?? ((p, y) => F.CrossEntropy(p, y)), metrics, optFunc);
        return learn.Split(groups).Freeze();
    }

    /// <summary>The same data with every batch normalised per channel by <paramref name="stats"/>.</summary>
    public static DataBunch Normalized(DataBunch data, NormStats stats)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(stats);
        if (data.Stats is not null)
            throw new NativeCnnException($"CnnLearner.Normalized: the data are already normalised (mean [{string.Join(", ", data.Stats.Mean)}]); normalising twice would be wrong");
        return new DataBunch(new NormalizedSource(data.Train, stats), new NormalizedSource(data.Valid, stats))
        {
            Classes = data.Classes, Stats = stats, Channels = data.Channels, Size = data.Size, MultiLabel = data.MultiLabel,
        };
    }

    /// <summary>Normalises x of each batch, (x - mean) / std per channel, on the batch's device, into one
    /// persistent buffer reused while the batch shape stays the same (the batch contract allows it: a batch
    /// is valid until the next is asked for), so a step allocates nothing new; the source's own tensors are
    /// never written (an in-memory source hands the same ones out every epoch).</summary>
    private sealed class NormalizedSource : IBatchSource
    {
        private readonly IBatchSource _inner;
        private readonly NormStats _stats;
        private (Device Device, Tensor Mean, Tensor InvStd)? _consts;
        private Tensor? _out;

        public NormalizedSource(IBatchSource inner, NormStats stats) { _inner = inner; _stats = stats; }

        public int BatchCount => _inner.BatchCount;

        public IEnumerable<(Tensor X, Tensor Y)> Epoch()
        {
            foreach (var (x, y) in _inner.Epoch())
            {
                if (x.Dim != 4 || x.Size(1) != _stats.Channels)
                    throw new NativeCnnException($"CnnLearner: batches must be (N, {_stats.Channels}, H, W) to be normalised with {_stats.Channels}-channel statistics, got shape {Shape.Format(x.ShapeArray)}");
                var (mean, invStd) = Consts(x.Device);
                if (_out is null || _out.Device != x.Device || _out.DType != x.DType || !Shape.Equal(_out.ShapeArray, x.ShapeArray))
                    _out = MemoryScope.Outside(() => Tensor.Zeros(x.ShapeArray, x.DType, x.Device)).Keep();
                using (MemoryScope.Begin()) _out.CopyFrom((x - mean) * invStd);
                yield return (_out, y);
            }
        }

        private (Tensor, Tensor) Consts(Device device)
        {
            if (_consts is not { } c || c.Device != device)
            {
                int ch = _stats.Channels;
                var mean = MemoryScope.Outside(() => Tensor.FromArray(_stats.Mean, new[] { 1, ch, 1, 1 }, device).Keep());
                var inv = MemoryScope.Outside(() => Tensor.FromArray(_stats.Std.Select(s => 1f / s).ToArray(), new[] { 1, ch, 1, 1 }, device).Keep());
                _consts = c = (device, mean, inv);
            }
            return (c.Mean, c.InvStd);
        }
    }
}
