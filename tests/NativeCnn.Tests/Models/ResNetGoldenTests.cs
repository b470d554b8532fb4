// ResNet-18 against PyTorch 1.13: the files under Goldens/resnet were written by
// tests/goldens/make_resnet_goldens.py (torchvision's resnet18 topology written out, 10 classes,
// seeded weights on a coarse grid, a seeded 2x3x64x64 batch). Both weight files (.safetensors and
// torch.save's .pth) must load into ResNet.ResNet18 with strict key checks and give torch's logits
// and gradients.
// Tolerances: every value v is compared with |ours - torch| <= tol * max|torch| over its tensor
// (float32 summation order differs between oneDNN and our GEMM; per-tensor scaling keeps near-zero
// entries from dominating). Logits 1e-4; gradients 1e-4; gradient norms of the large convs 1e-4
// relative, sums 1e-4 of (|sum| + norm). Measured worst (CPU backend): eval logits 1.7e-6, train
// logits 2.4e-6, full gradients 6.1e-6, sampled gradients 3.3e-6, norms 1.8e-7.
//
// Manual check that PyTorch reads a file NativeCnn wrote (not run in CI: it needs python3-torch):
//   NATIVECNN_EXPORT_TO=/tmp/nc_resnet18.safetensors dotnet test tests/NativeCnn.Tests --filter ExportedFileRoundTrips
//   keeps the file that test writes (a ResNet18(10) loaded from resnet18.pth, saved with
//   SafeTensors.Save(path, model.StateDict())); then, with the ResNet class of make_resnet_goldens.py,
//     /usr/bin/python3 -c "import sys; sys.path.insert(0,'tests/goldens'); import make_resnet_goldens as m, torch;
//       d=m.load_safetensors(open('/tmp/nc_resnet18.safetensors','rb').read());
//       sd={k: torch.from_numpy(v.copy()).long() if k.endswith('num_batches_tracked') else torch.from_numpy(v.copy()) for k,v in d.items()};
//       r=m.resnet18(10); print(r.load_state_dict(sd, strict=True)); ref=torch.load('tests/NativeCnn.Tests/Goldens/resnet/resnet18.pth');
//       print(all(torch.equal(sd[k].to(ref[k].dtype), ref[k]) for k in ref))"
//   printed "<All keys matched successfully>" and "True" (see ExportedFileRoundTripsThroughSafeTensors).
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;
using Xunit;

namespace NativeCnn.Tests.Models;

public class ResNetGoldenTests
{
    internal static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Goldens", "resnet");
    internal static string PathOf(string file) => Path.Combine(Dir, file);

    private static Dictionary<string, Tensor> Io() => SafeTensors.Load(PathOf("resnet18_io.safetensors"));

    // Each weight file is parsed once for the class (45 MB each); LoadStateDict copies out of them and no
    // test writes into them, so sharing is safe.
    private static readonly Lazy<Dictionary<string, Tensor>> Pth = new(() => TorchCheckpoint.Load(PathOf("resnet18.pth")));
    private static readonly Lazy<Dictionary<string, Tensor>> St = new(() => SafeTensors.Load(PathOf("resnet18.safetensors")));

    /// <summary>Asserts the rule above; returns the worst |diff| / max|torch| seen (printed for the record).</summary>
    private static double AssertClose(string what, float[] ours, float[] torch, double tol)
    {
        Assert.Equal(torch.Length, ours.Length);
        double scale = torch.Length == 0 ? 0 : torch.Max(v => Math.Abs((double)v));
        double worst = 0;
        for (int i = 0; i < torch.Length; i++) worst = Math.Max(worst, Math.Abs(ours[i] - torch[i]) / scale);
        for (int i = 0; i < torch.Length; i++)
            Assert.True(Math.Abs(ours[i] - torch[i]) <= tol * scale + 1e-30,
                $"{what}[{i}]: ours {ours[i]}, torch {torch[i]} (|diff| {Math.Abs(ours[i] - torch[i]):e3} > {tol} x max|torch| {scale:e3})");
        return worst;
    }

    private static ResNet Loaded(string file)
    {
        var model = ResNet.ResNet18(classes: 10);
        var weights = file == "resnet18.pth" ? Pth.Value : file == "resnet18.safetensors" ? St.Value : throw new ArgumentException(file);
        var result = model.LoadStateDict(weights, strict: true);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        return model;
    }

    [Fact]
    public void StateDictKeysAndShapesAreTorchvisions()
    {
        var torch = St.Value;   // written in torch's state_dict order
        var ours = ResNet.ResNet18(classes: 10).StateDict();
        Assert.Equal(torch.Keys.ToList(), ours.Keys.ToList());
        foreach (var (name, t) in torch)
            Assert.True(t.Shape.SequenceEqual(ours[name].Shape), $"{name}: torch {Shape.Format(t.ShapeArray)}, ours {Shape.Format(ours[name].ShapeArray)}");
        Assert.Equal(122, ours.Count);
        Assert.Contains("layer2.0.downsample.0.weight", ours.Keys);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", ours.Keys);
        // The .pth holds the same names in the same order.
        Assert.Equal(torch.Keys.ToList(), Pth.Value.Keys.ToList());
    }

    [Fact]
    public void SafeTensorsAndPthHoldTheSameValues()
    {
        var a = St.Value;
        var b = Pth.Value;
        foreach (var (name, t) in a)
        {
            Assert.Equal(t.DType, b[name].DType);
            if (t.DType == DType.Int32) Assert.Equal(t.ToInt32Array(), b[name].ToInt32Array());
            else Assert.Equal(t.ToArray(), b[name].ToArray());
        }
        Assert.Equal(new[] { 7 }, b["layer3.1.bn2.num_batches_tracked"].ToInt32Array());
    }

    [Theory]
    [InlineData("resnet18.safetensors")]
    [InlineData("resnet18.pth")]
    public void EvalLogitsMatchTorch(string file)
    {
        var io = Io();
        var model = Loaded(file);
        model.Eval();
        Tensor logits;
        using (new NativeCnn.Autograd.NoGrad()) logits = model.Forward(io["input"]);
        Assert.Equal(new[] { 2, 10 }, logits.Shape);
        Console.WriteLine($"{file}: eval logits worst |diff|/max {AssertClose("eval_logits", logits.ToArray(), io["eval_logits"].ToArray(), 1e-4):e2}");
    }

    [Fact]
    public void TrainForwardAndGradientsMatchTorch()
    {
        var io = Io();
        var model = Loaded("resnet18.pth");
        model.Train();
        var logits = model.Forward(io["input"]);
        double worstLogits = AssertClose("train_logits", logits.ToArray(), io["train_logits"].ToArray(), 1e-4);
        var loss = F.CrossEntropy(logits, io["labels"]);
        Assert.True(Math.Abs(loss.Item() - io["loss"].Item()) <= 1e-5 * Math.Abs(io["loss"].Item()), $"loss: ours {loss.Item()}, torch {io["loss"].Item()}");
        loss.Backward();

        int full = 0, sampled = 0;
        double worstFull = 0, worstNorm = 0, worstSample = 0;
        foreach (var (name, p) in model.NamedParameters())
        {
            Assert.True(p.Grad is not null, $"{name} has no gradient");
            var g = p.Grad!.ToArray();
            if (io.TryGetValue("grad." + name, out var torchGrad))
            {
                worstFull = Math.Max(worstFull, AssertClose("grad." + name, g, torchGrad.ToArray(), 1e-4));
                full++;
                continue;
            }
            var stat = io["gstat." + name].ToArray();   // [L2 norm, sum, max |g|]
            double norm = Math.Sqrt(g.Sum(v => (double)v * v)), sum = g.Sum(v => (double)v);
            Assert.True(Math.Abs(norm - stat[0]) <= 1e-4 * stat[0], $"{name}: |grad| ours {norm}, torch {stat[0]}");
            worstNorm = Math.Max(worstNorm, Math.Abs(norm - stat[0]) / stat[0]);
            Assert.True(Math.Abs(sum - stat[1]) <= 1e-4 * (Math.Abs(stat[1]) + stat[0]),
                $"{name}: sum(grad) ours {sum}, torch {stat[1]} (norm {stat[0]})");
            var idx = io["gidx." + name].ToInt32Array();
            var torchVals = io["gval." + name].ToArray();
            var ours = idx.Select(i => g[i]).ToArray();
            for (int k = 0; k < idx.Length; k++)
                worstSample = Math.Max(worstSample, Math.Abs(ours[k] - torchVals[k]) / stat[2]);
            for (int k = 0; k < idx.Length; k++)
                Assert.True(Math.Abs(ours[k] - torchVals[k]) <= 1e-4 * stat[2],
                    $"grad.{name}[{idx[k]}]: ours {ours[k]}, torch {torchVals[k]} (max |g| {stat[2]})");
            sampled++;
        }
        Assert.Equal(io.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)), full);
        Assert.Equal(io.Keys.Count(k => k.StartsWith("gstat.", StringComparison.Ordinal)), sampled);
        Assert.True(full > 40 && sampled > 10, $"{full} full and {sampled} sampled gradients");
        Console.WriteLine($"train logits {worstLogits:e2}; full grads {worstFull:e2}; grad norms {worstNorm:e2} (relative); sampled grads {worstSample:e2} (of max |g|)");

        var state = model.StateDict();
        foreach (var key in io.Keys.Where(k => k.StartsWith("after.", StringComparison.Ordinal)))
        {
            var name = key["after.".Length..];
            if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                Assert.Equal(io[key].ToInt32Array(), state[name].ToInt32Array());
            else
                AssertClose(key, state[name].ToArray(), io[key].ToArray(), 1e-4);
        }
    }

    [Fact]
    public void ExportedFileRoundTripsThroughSafeTensors()
    {
        var model = Loaded("resnet18.pth");
        var path = Path.Combine(Path.GetTempPath(), $"nc_resnet18_{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Save(path, model.StateDict());
            // For the manual PyTorch check in the header: NATIVECNN_EXPORT_TO=/tmp/nc_resnet18.safetensors keeps a copy.
            if (Environment.GetEnvironmentVariable("NATIVECNN_EXPORT_TO") is { Length: > 0 } keep) File.Copy(path, keep, overwrite: true);
            var back = SafeTensors.Load(path);
            var fresh = ResNet.ResNet18(classes: 10);
            fresh.LoadStateDict(back, strict: true);
            var torch = Pth.Value;
            foreach (var (name, t) in fresh.StateDict())
                if (t.DType == DType.Int32) Assert.Equal(torch[name].ToInt32Array(), t.ToInt32Array());
                else Assert.Equal(torch[name].ToArray(), t.ToArray());
        }
        finally { File.Delete(path); }
    }
}
