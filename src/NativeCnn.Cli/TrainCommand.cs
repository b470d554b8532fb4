// `nativecnn train`: a registry architecture on the data --data names, through the Learner
// (FitOneCycle, fastai v1's AdamW), the fastai epoch table, optionally one JSON object with the final
// metrics, and with --out the export bundle, a checkpoint and metrics.json. Must hold: everything runs
// on the chosen device (the model is moved before the Learner makes its optimizer; the loaders stage
// batches there); one seed reaches every draw; without options the run is the README's (embedded
// MNIST, mnist_cnn) and prints the same table as before; a NaN or infinite loss stops the run (exit 1);
// --out is checked before any work and appears as one set (OutputFolder), a failed report costing a
// warning, never the model; --resume must fit the run's architecture, classes and input.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Reports;
using NativeCnn.Training;

namespace NativeCnn.Cli;

public static class TrainCommand
{
    private const int ProgressEvery = 25;

    public sealed record EpochResult(int Epoch, double TrainLoss, double ValidLoss, double Accuracy, double Seconds);

    /// <summary>A finished fit: the learner, its data, and the total wall time.</summary>
    public sealed record RunResult(Learner Learner, LoadedData Data, double Seconds);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = TrainOptions.Parse(args);
        if (o.Help)
        {
            stdout.WriteLine(TrainOptions.UsageText);
            return Cli.ExitOk;
        }
        var table = o.Json ? stderr : stdout;
        var log = o.Verbose ? stderr : TextWriter.Null;

        if (o.Resume is not null && o.Pretrained is not null)
            throw new UsageException("train: --resume and --pretrained do not go together: the checkpoint already holds the weights (resume with the --arch it was trained with)");
        var device = DevicesCommand.Resolve(o.Device);
        // One seed for every draw. A private generator (not Rng.Global) keeps a run reproducible even
        // when other code in the process draws concurrently (the CLI tests run in parallel).
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        // --out is checked (and its staging folder made) before any data is read or any epoch runs
        using var output = o.Out is null ? null : OutputFolder.Prepare(o.Out, "train", OutNames);
        var data = TrainData.Load(o, device, rng);
        MetricList.Parse(o.Metrics, data.MultiLabel, o.Thresh, "train");   // a metric of the wrong kind fails before any output
        log.WriteLine($"data: {data.Description} ({data.TrainCount} train, {data.ValidCount} valid images of {data.Bunch.Size.H}x{data.Bunch.Size.W}, {data.Classes.Count} classes{(data.MultiLabel ? ", multi-label" : "")})");
        table.WriteLine(DevicesCommand.Describe(device));

        // Initialised on the CPU (the same values on every device for a seed), then moved.
        var model = (o.Pretrained is null ? Architectures.Build(o.Arch, new ArchArgs(data.Bunch.Channels, data.Classes.Count), rng)
                                          : PretrainedCnn(o, data.Bunch.Channels, data.Classes.Count, rng)).To(device);
        var result = Fit(o, data, model, table, log, "train");
        Finish(o, result, stdout, stderr, output, device, "train", o.Thresh ?? 0.5f);
        return Cli.ExitOk;
    }

    /// <summary>The IDX training run (kept for callers that hold MNIST sets) on <paramref name="device"/> (the CPU if null).</summary>
    public static List<EpochResult> Train(TrainOptions o, ImageDataset train, ImageDataset valid, TextWriter table, TextWriter log, Device? device = null)
    {
        device ??= Device.Cpu;
        Rng.Manual(o.Seed);
        var rng = new Rng(o.Seed);
        var data = TrainData.FromIdx(o, train, valid, train.Name, device, rng);
        var model = Architectures.Build(o.Arch, new ArchArgs(1, train.Classes), rng).To(device);
        var r = Fit(o, data, model, table, log, "train").Learner.Recorder;
        return Enumerable.Range(0, r.EpochSeconds.Count)
            .Select(e => new EpochResult(e, r.TrainLosses[e], r.ValidLosses[e], r.MetricValues[e][0], r.EpochSeconds[e]))
            .ToList();
    }

    /// <summary>--pretrained: cnn_learner's model (body of the named ResNet, fastai's head) with the body's
    /// weights from the file (input channels adapted as fastai does when the data are not RGB).</summary>
    internal static Module PretrainedCnn(TrainOptions o, int channels, int classes, Rng rng)
    {
        string arch = o.Arch.StartsWith("cnn_", StringComparison.Ordinal) ? o.Arch[4..] : o.Arch;
        if (arch is not ("resnet18" or "resnet34"))
            throw new UsageException($"{o.Command}: --pretrained needs --arch resnet18 or resnet34 (torchvision weights), got --arch {o.Arch}");
        var model = (Sequential)Architectures.Build("cnn_" + arch, new ArchArgs(channels, classes), rng);
        var state = TorchCheckpoint.StripPrefix(TorchCheckpoint.LoadAny(o.Pretrained!), "module.");
        try
        {
            if (channels != 3) state = CnnModel.AdaptInputChannels(state, channels);
            CnnModel.LoadBody(model, arch == "resnet18" ? ResNet.ResNet18() : ResNet.ResNet34(), state);
        }
        catch (NativeCnnException e)
        {
            // every message names the file (the library's speak of "the pretrained weights" and their keys)
            throw new NativeCnnException($"{o.Command}: --pretrained '{o.Pretrained}' for --arch {arch}: {e.Message}");
        }
        ExportBundle.RefuseNonFinite(state, $"{o.Command}: --pretrained '{o.Pretrained}'");   // NaN weights would train to NaN
        return model;
    }

    /// <summary>FitOneCycle on <paramref name="data"/> with the loss its labels call for and the --metrics list.</summary>
    internal static RunResult Fit(TrainOptions o, LoadedData data, Module model, TextWriter table, TextWriter log, string command)
    {
        using var tf32 = Tf32Scope.For(o.Tf32);
        log.WriteLine(model);
        log.WriteLine($"parameters: {model.ParameterCount():N0}");
        var metrics = MetricList.Parse(o.Metrics, data.MultiLabel, o.Thresh, command);
        Func<Tensor, Tensor, Tensor> loss = data.MultiLabel ? F.BinaryCrossEntropyWithLogits : (pred, y) => F.CrossEntropy(pred, y);
        // fastai v1's defaults (Learner with bn_wd=True, true_wd=True): AdamW, betas (0.9, 0.99),
        // eps 1e-8, decoupled weight decay 1e-2 on every parameter (Learner.DefaultOptimizer).
        var learn = new Learner(data.Bunch, model, loss, metrics);
        if (o.Fp16) learn.ToFp16();
        // fastai's TerminateOnNaN, always on: a NaN loss must never end in a table of "accuracies"
        learn.AddCallback(new TerminateOnNaNCallback(string.Create(CultureInfo.InvariantCulture,
            $"try a lower --lr (it was {o.Lr:G3}; e.g. {o.Lr / 10:G3}){(o.Pretrained is not null ? $", and check --pretrained '{o.Pretrained}' for NaN or infinite weights" : "")}{(o.Resume is not null ? $", and check --resume '{o.Resume}'" : "")}")));
        learn.AddCallback(new EpochTablePrinter(table));
        learn.AddCallback(new ProgressBar());   // draws only on an interactive console's stderr
        if (log != TextWriter.Null) learn.AddCallback(new ProgressLog(log));
        bool cnn = o.Pretrained is not null && model is Sequential && Architectures.SpecOf(model)?.Name.StartsWith("cnn_", StringComparison.Ordinal) == true;
        if (cnn) learn.Split(CnnModel.ResNetLayerGroups((Sequential)model)).Freeze();   // cnn_learner starts frozen
        if (o.Resume is { } checkpoint)
        {
            // fastai's learn.load before the next fit: weights, optimizer state (and loss scale); a file of
            // another architecture, classes, input or optimizer is refused, naming it, before anything changes
            CheckResume(checkpoint, learn, command);
            learn.Load(checkpoint);
            log.WriteLine($"resumed from {checkpoint}");
        }
        var clock = Stopwatch.StartNew();
        learn.FitOneCycle(o.Epochs, o.Lr);
        if (cnn && o.Unfreeze > 0)
        {
            learn.Unfreeze();
            learn.FitOneCycle(o.Unfreeze, LrRange.Slice(o.Lr / 100.0, o.Lr / 10.0));
        }
        return new RunResult(learn, data, clock.Elapsed.TotalSeconds);
    }

    /// <summary>--out (bundle, checkpoint, metrics.json) and --json, shared by train and finetune.</summary>
    internal static void Finish(TrainOptions o, RunResult run, TextWriter stdout, TextWriter stderr, OutputFolder? output, Device device,
                                string command, float threshold, IReadOnlyDictionary<string, object>? extraSettings = null)
    {
        var learn = run.Learner;
        var settings = new Dictionary<string, object>
        {
            ["command"] = command, ["arch"] = Architectures.SpecOf(learn.Model)?.Name ?? o.Arch, ["data"] = run.Data.Description,
            ["epochs"] = o.Epochs, ["lr"] = o.Lr, ["bs"] = o.BatchSize, ["seed"] = o.Seed, ["device"] = device.ToString(),
            ["train_images"] = run.Data.TrainCount, ["valid_images"] = run.Data.ValidCount,
            ["size"] = new[] { learn.Data.Size.H, learn.Data.Size.W }, ["channels"] = learn.Data.Channels, ["multi_label"] = learn.Data.MultiLabel, ["fp16"] = o.Fp16, ["tf32"] = o.Tf32,
        };
        if (run.Data.Bunch.Augment is { } transforms) settings["transforms"] = o.Augment ? NativeCnn.Data.Transforms.AugmentMetadata.Describe(transforms) : "none (--no-augment)";
        if (o.Resume is not null) settings["resumed_from"] = o.Resume;
        if (extraSettings is not null) foreach (var (k, v) in extraSettings) settings[k] = v;

        if (output is not null)
        {
            // Everything goes to the staging folder, then switches in as one set (OutputFolder).
            OutputFolder.Pause("start");
            var info = ExportBundle.Describe(learn, threshold);
            ExportBundle.Save(learn, info, output.PathOf("model"));   // float32 weights, also after --fp16
            OutputFolder.Pause("model written");
            Checkpoint.Save(learn, output.PathOf("checkpoint.safetensors"), withOpt: true, info.ToMetadata());
            OutputFolder.Pause("checkpoint written");
            var json = RunJson.Metrics(learn, run.Seconds, settings);
            AtomicFile.Write(output.PathOf("metrics.json"), s => s.Write(json));
            OutputFolder.Pause("metrics written");
            WriteReport(learn, settings, output.PathOf("report.html"), stderr);
            output.Commit();
        }

        if (o.Json)
        {
            stdout.WriteLine(RunJson.Summary(learn, run.Seconds, settings));
            stdout.Flush();
        }
    }

    /// <summary>--resume: the checkpoint's recorded architecture, classes and input (channels, size, labels)
    /// must be this run's; the differences are named in one short line.</summary>
    private static void CheckResume(string checkpoint, Learner learn, string command)
    {
        var (_, meta) = Checkpoint.Read(checkpoint);
        if (!meta.ContainsKey(BundleInfo.FormatKey)) return;   // no settings recorded: Load's key-by-key check remains
        var info = BundleInfo.FromMetadata(meta, checkpoint);
        var d = learn.Data;
        static string Names(IReadOnlyList<string>? c) => c is null ? "unknown" : c.Count <= 4 ? string.Join(", ", c) : $"{string.Join(", ", c.Take(4))}, ... ({c.Count})";
        var diffs = new List<string>();
        if (Architectures.SpecOf(learn.Model)?.Name is { } arch && arch != info.Arch) diffs.Add($"architecture {info.Arch}, not {arch} (--arch)");
        if (d.Classes is null || !info.Classes.SequenceEqual(d.Classes)) diffs.Add($"classes ({Names(info.Classes)}), not the data's ({Names(d.Classes)})");
        if (info.Channels != d.Channels) diffs.Add($"{info.Channels} input channels, not {d.Channels} (--channels)");
        if (info.Size != d.Size) diffs.Add($"input size {info.Size.H}x{info.Size.W}, not {d.Size.H}x{d.Size.W} (--size)");
        if (info.MultiLabel != d.MultiLabel) diffs.Add(info.MultiLabel ? "multi-label outputs, not single-label" : "single-label outputs, not multi-label");
        if (diffs.Count > 0)
            throw new NativeCnnException($"{command}: checkpoint '{checkpoint}' (--resume) does not fit this run: it has {string.Join("; ", diffs)}");
    }

    /// <summary>Tests only: called before the report is written, to make it fail.</summary>
    [ThreadStatic] internal static Action<string>? ReportFault;

    /// <summary>The names a train (or finetune) --out folder holds.</summary>
    internal static readonly string[] OutNames = { "model", "checkpoint.safetensors", "metrics.json", "report.html" };

    /// <summary>report.html: loss curves, lr/momentum schedule, metrics, and for single-label data the confusion
    /// matrix and top losses (one more pass over the validation set). A report that fails costs a warning,
    /// never the trained model: the rest of the set is written and switched in all the same.</summary>
    private static void WriteReport(Learner learn, Dictionary<string, object> settings, string path, TextWriter stderr)
    {
        try
        {
            ReportFault?.Invoke(path);
            var interp = learn.Data.MultiLabel || learn.Data.Valid.BatchCount == 0 ? null : ClassificationInterpretation.FromLearner(learn);
            var summary = settings.ToDictionary(kv => kv.Key, kv => kv.Value switch
            {
                int[] a => string.Join(" x ", a),
                bool b => b ? "true" : "false",   // as metrics.json writes it, not .NET's "True"
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => kv.Value?.ToString() ?? "",
            });
            learn.WriteHtmlReport(path, interp, summary);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"nativecnn: warning: report.html was not written ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}); the model, checkpoint and metrics.json are");
        }
    }

    /// <summary>--verbose: the loss and lr every few steps (reading the loss there is the only extra sync).</summary>
    private sealed class ProgressLog(TextWriter log) : Callback
    {
        public override int Order => 30;

        public override void AfterBatch(Learner learn)
        {
            if (!learn.Training || learn.Loss is null || (learn.Iter + 1) % ProgressEvery != 0) return;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  epoch {learn.Epoch} step {learn.Iter + 1}/{learn.NIter}: loss {learn.Loss.Item():F4}, lr {learn.Opt!.ParamGroups[^1].Lr:G4}"));
        }
    }
}

/// <summary>The JSON a run writes: the one-line --json summary and DIR/metrics.json.</summary>
internal static class RunJson
{
    /// <summary>One object: each metric by name, valid_loss, train_loss, seconds, seconds_per_epoch, then the settings.</summary>
    public static string Summary(Learner learn, double seconds, IReadOnlyDictionary<string, object> settings)
    {
        var r = learn.Recorder;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            int last = r.EpochSeconds.Count - 1;
            for (int m = 0; m < r.MetricNames.Count; m++) Number(w, r.MetricNames[m], r.MetricValues[last][m]);
            Number(w, "valid_loss", r.ValidLosses[last]);
            Number(w, "train_loss", r.TrainLosses[last]);
            w.WriteNumber("seconds", Math.Round(seconds, 3));
            w.WriteNumber("seconds_per_epoch", Math.Round(r.EpochSeconds.Average(), 3));
            foreach (var (k, v) in settings)
            {
                w.WritePropertyName(k);
                JsonSerializer.Serialize(w, v);
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>metrics.json: final values, per-epoch history, timings, settings and classes.</summary>
    public static byte[] Metrics(Learner learn, double seconds, IReadOnlyDictionary<string, object> settings)
    {
        var r = learn.Recorder;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            void Epoch(int e)
            {
                Number(w, "train_loss", r.TrainLosses[e]);
                Number(w, "valid_loss", r.ValidLosses[e]);
                for (int m = 0; m < r.MetricNames.Count; m++) Number(w, r.MetricNames[m], r.MetricValues[e][m]);
            }
            int last = r.EpochSeconds.Count - 1;
            w.WriteStartObject();
            w.WriteStartObject("final");
            Epoch(last);
            w.WriteEndObject();
            w.WriteStartArray("history");
            for (int e = 0; e <= last; e++)
            {
                w.WriteStartObject();
                w.WriteNumber("epoch", e);
                Epoch(e);
                w.WriteNumber("seconds", Math.Round(r.EpochSeconds[e], 3));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("timings");
            w.WriteNumber("total_seconds", Math.Round(seconds, 3));
            w.WriteNumber("seconds_per_epoch", Math.Round(r.EpochSeconds.Average(), 3));
            w.WriteStartArray("epoch_seconds");
            foreach (var s in r.EpochSeconds) w.WriteNumberValue(Math.Round(s, 3));
            w.WriteEndArray();
            w.WriteEndObject();
            w.WritePropertyName("settings");
            JsonSerializer.Serialize(w, settings);
            w.WritePropertyName("classes");
            JsonSerializer.Serialize(w, learn.Data.Classes);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    // JSON has no NaN: an epoch without validation data writes null.
    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, Math.Round(v, 6));
        else w.WriteNull(name);
    }
}
