// fastai's cnn_learner pieces: the body (a pretrained network cut before its pooling and classifier),
// fastai v1's head (AdaptiveConcatPool2d, Flatten, BN1d, Dropout(p/2), Linear(2nf, 512), ReLU, BN1d,
// Dropout(p), Linear(512, classes); the linear layers kaiming-normal with zero bias, as cnn_learner's
// apply_init does), the model Sequential(body, head) with fastai's state_dict names ("0.4.1.conv2.weight",
// "1.8.bias"), ResNet's three layer groups, and fastai v2's reuse of 3-channel first-layer weights for
// other channel counts.
// Must hold: the body shares its modules (and so its weights) with the network it was cut from; the
// groups partition the model's parameters (every one in exactly one group).
using NativeCnn.Autograd;
using NativeCnn.Nn;

namespace NativeCnn.Models;

/// <summary>fastai's cnn_learner model: a pretrained body cut before its pooling and classifier, with fastai v1's head (concat pooling, batch norm, dropout, two linear layers), under fastai's state-dict names.</summary>
public static class CnnModel
{
    /// <summary>The network's children up to (not including) <paramref name="cut"/>; by default up to its last
    /// pooling child, as fastai v1's create_body finds it (for a ResNet: conv1 .. layer4). The children
    /// are shared, not copied: the body keeps the network's (pretrained) weights.</summary>
    public static Sequential CreateBody(Module arch, int? cut = null)
    {
        ArgumentNullException.ThrowIfNull(arch);
        var children = arch.NamedChildren().Select(c => c.Module).ToList();
        int at = cut ?? children.FindLastIndex(HasPool);
        if (at < 0)
            throw new NativeCnnException($"CnnModel.CreateBody: {arch.GetType().Name} has no pooling child to cut before; pass cut (the index of the first child to drop)");
        if (at == 0 || at > children.Count)
            throw new NativeCnnException($"CnnModel.CreateBody: cut must be in 1..{children.Count} for {arch.GetType().Name}'s {children.Count} children, got {at}");
        return new Sequential(children.Take(at));
    }

    private static bool HasPool(Module m) => m.NamedModules().Any(x => x.Module is AdaptivePool2d or MaxPool2d or AvgPool2d);

    /// <summary>Channels of the body's output, from one forward pass of a small input (fastai's
    /// num_features_model), in eval mode without gradients; the body's mode is restored.</summary>
    public static int NumFeatures(Module body, int inChannels = 3, int size = 64)
    {
        ArgumentNullException.ThrowIfNull(body);
        bool training = body.Training;
        try
        {
            body.Eval();
            using var _ = new NoGrad();
            var y = body.Forward(Tensor.Zeros(new[] { 1, inChannels, size, size }, DType.Float32, body.Device));
            if (y.Dim != 4) throw new NativeCnnException($"CnnModel.NumFeatures: the body must output (N, C, H, W) feature maps, got shape {Shape.Format(y.ShapeArray)}");
            return y.Size(1);
        }
        finally { body.Train(training); }
    }

    /// <summary>fastai v1's create_head for a body with <paramref name="nf"/> output channels: AdaptiveConcatPool2d
    /// (so 2*nf features), Flatten, BatchNorm1d(2nf), Dropout(ps/2), Linear(2nf, 512), ReLU, BatchNorm1d(512),
    /// Dropout(ps), Linear(512, classes). Linear weights kaiming normal (fan_in, leaky_relu a=0), biases 0.</summary>
    public static Sequential CreateHead(int nf, int classes, float ps = 0.5f, Rng? rng = null)
    {
        Check.Positive(nf, "CnnModel.CreateHead: nf");
        Check.Positive(classes, "CnnModel.CreateHead: classes");
        if (!(ps >= 0 && ps < 1)) throw new NativeCnnException($"CnnModel.CreateHead: ps must be in [0, 1), got {ps}");
        var lin1 = new Linear(2 * nf, 512, rng: rng);
        var lin2 = new Linear(512, classes, rng: rng);
        foreach (var lin in new[] { lin1, lin2 })
        {
            Init.KaimingNormal(lin.Weight, rng: rng);
            Init.Constant(lin.Bias!, 0f);
        }
        return new Sequential(
            new AdaptiveConcatPool2d(), new Flatten(),
            new BatchNorm1d(2 * nf), new Dropout(ps / 2, rng), lin1, new ReLU(),
            new BatchNorm1d(512), new Dropout(ps, rng), lin2);
    }

    /// <summary>cnn_learner's model: Sequential(CreateBody(arch), CreateHead(features, classes, ps)), the head
    /// on the body's device.</summary>
    public static Sequential Create(Module arch, int classes, float ps = 0.5f, int? cut = null, Rng? rng = null)
    {
        var body = CreateBody(arch, cut);
        int inChannels = arch.NamedModules().Select(m => m.Module).OfType<Conv2d>().FirstOrDefault()?.InChannels ?? 3;
        var head = CreateHead(NumFeatures(body, inChannels), classes, ps, rng);
        head.To(body.Device);   // the new head lives where the pretrained body does
        return new Sequential(body, head);
    }

    /// <summary>fastai's three layer groups of a ResNet cnn_learner model (Sequential(body, head) from
    /// <see cref="Create"/>): [conv1, bn1, relu, maxpool, layer1, layer2], [layer3, layer4], [head].</summary>
    public static IReadOnlyList<Module>[] ResNetLayerGroups(Sequential model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Count != 2 || model[0] is not Sequential body || body.Count != 8 || body[4] is not Sequential || !((Sequential)body[4]).Layers.All(l => l is BasicBlock))
            throw new NativeCnnException($"CnnModel.ResNetLayerGroups: expected Sequential(ResNet body of 8 children, head) as CnnModel.Create makes it, got {model.GetType().Name} with {model.Count} children");
        return new IReadOnlyList<Module>[] { body.Layers.Take(6).ToArray(), body.Layers.Skip(6).ToArray(), new[] { model[1] } };
    }

    /// <summary>A first-layer weight (out, 3, kH, kW) trained on RGB, for <paramref name="channels"/> input
    /// channels as fastai v2 does: 1 = the sum of the three filters; 2 = the first two times 1.5; 3 = a copy;
    /// 4 or more = the three copied and the rest zero.</summary>
    public static Tensor AdaptInputChannels(Tensor conv1Weight, int channels)
    {
        ArgumentNullException.ThrowIfNull(conv1Weight);
        Check.Positive(channels, "CnnModel.AdaptInputChannels: channels");
        if (conv1Weight.Dim != 4 || conv1Weight.Size(1) != 3)
            throw new NativeCnnException($"CnnModel.AdaptInputChannels: expected a first-layer weight (out, 3, kH, kW), got shape {Shape.Format(conv1Weight.ShapeArray)}");
        int o = conv1Weight.Size(0), kh = conv1Weight.Size(2), kw = conv1Weight.Size(3), plane = kh * kw;
        var w = conv1Weight.Detach().To(DType.Float32).ToArray();
        var result = new float[o * channels * plane];   // zero beyond the third channel
        for (int f = 0; f < o; f++)
            for (int k = 0; k < plane; k++)
            {
                float r = w[(f * 3 + 0) * plane + k], g = w[(f * 3 + 1) * plane + k], b = w[(f * 3 + 2) * plane + k];
                int at = f * channels * plane + k;
                switch (channels)
                {
                    case 1: result[at] = r + g + b; break;
                    case 2: result[at] = r * 1.5f; result[at + plane] = g * 1.5f; break;
                    default: result[at] = r; result[at + plane] = g; result[at + 2 * plane] = b; break;
                }
            }
        return Tensor.FromArray(result, new[] { o, channels, kh, kw }, conv1Weight.Device);
    }

    /// <summary>A copy of <paramref name="state"/> with its first-layer weight <paramref name="key"/> adapted to
    /// <paramref name="channels"/> input channels (see <see cref="AdaptInputChannels(Tensor, int)"/>), ready for
    /// LoadStateDict into e.g. ResNet.ResNet18(inChannels: channels).</summary>
    public static Dictionary<string, Tensor> AdaptInputChannels(IReadOnlyDictionary<string, Tensor> state, int channels, string key = "conv1.weight")
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue(key, out var w))
            throw new NativeCnnException($"CnnModel.AdaptInputChannels: the state has no '{key}' (its first keys: {string.Join(", ", state.Keys.Take(5))})");
        var copy = state.ToDictionary(kv => kv.Key, kv => kv.Value);
        copy[key] = AdaptInputChannels(w, channels);
        return copy;
    }

    /// <summary>Loads the weights of a whole pretrained network (<paramref name="archState"/>, with the names
    /// of <paramref name="arch"/>, e.g. torchvision's <c>layer1.0.conv1.weight</c>) into the body of
    /// <paramref name="model"/> = Create(arch-like, ...): the body's children are the arch's first children,
    /// so "layer1.0.conv1.weight" goes to "0.4.0.conv1.weight". Strict, as torch's load_state_dict: every key
    /// must be one of <paramref name="arch"/>'s (a key of another network, e.g. resnet34's layer3.5 in
    /// resnet18, is an error listing them); the keys of the dropped children (pool, classifier: the head that
    /// is replaced) are excepted; every body key must be present with its shape (num_batches_tracked, which
    /// torch before 0.4.1 did not save, excepted). Errors use the file's own key names.</summary>
    public static void LoadBody(Sequential model, Module arch, IReadOnlyDictionary<string, Tensor> archState)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(arch);
        ArgumentNullException.ThrowIfNull(archState);
        var body = model.NamedChildren().FirstOrDefault().Module as Sequential
            ?? throw new NativeCnnException("CnnModel.LoadBody: the model's first child must be the body (a Sequential), as CnnModel.Create builds it");
        var names = arch.NamedChildren().Select(c => c.Name).ToList();
        int kept = body.NamedChildren().Count();
        var archKeys = arch.StateDict().Keys.ToHashSet(StringComparer.Ordinal);
        var mapped = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var (key, value) in archState)
        {
            if (!archKeys.Contains(key)) { unexpected.Add(key); continue; }
            int dot = key.IndexOf('.');
            int index = dot < 0 ? -1 : names.IndexOf(key[..dot]);
            if (index >= 0 && index < kept) mapped[$"{index}{key[dot..]}"] = value;
        }
        // body key "4.0.conv1.weight" -> the file's "layer1.0.conv1.weight"
        string FileName(string bodyKey) { int dot = bodyKey.IndexOf('.'); return names[int.Parse(bodyKey.AsSpan(0, dot), System.Globalization.CultureInfo.InvariantCulture)] + bodyKey[dot..]; }
        var own = body.StateDict();
        var missing = own.Keys.Where(k => !mapped.ContainsKey(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).Select(FileName).ToList();
        var shapes = own.Where(kv => mapped.TryGetValue(kv.Key, out var v) && !Shape.Equal(v.ShapeArray, kv.Value.ShapeArray))
            .Select(kv => $"{FileName(kv.Key)} has shape {Shape.Format(mapped[kv.Key].ShapeArray)}, expected {Shape.Format(kv.Value.ShapeArray)}").ToList();
        static string Few(List<string> keys) => string.Join(", ", keys.Take(4)) + (keys.Count > 4 ? $", ... ({keys.Count} in all)" : "");
        var problems = new List<string>();
        if (unexpected.Count > 0) problems.Add($"{unexpected.Count} unexpected key(s) that {arch.GetType().Name} does not have ({Few(unexpected)})");
        if (missing.Count > 0) problems.Add($"{missing.Count} missing key(s) ({Few(missing)})");
        if (shapes.Count > 0) problems.Add($"{shapes.Count} tensor(s) of the wrong shape ({string.Join("; ", shapes.Take(3))}{(shapes.Count > 3 ? "; ..." : "")})");
        if (problems.Count > 0)
            throw new NativeCnnException($"the pretrained weights do not fit {arch.GetType().Name}: {string.Join("; ", problems)}; expected a state dict of the same architecture with its own names");
        foreach (var k in own.Keys.Where(k => !mapped.ContainsKey(k))) mapped[k] = own[k];   // num_batches_tracked keeps its value
        body.LoadStateDict(mapped, strict: true);
    }
}
