// model.json, the readable settings of an export bundle: the safetensors metadata under the same keys
// with each value as real JSON (objects, lists, numbers, booleans; not JSON text inside strings) and the
// tensor shapes, while the safetensors "__metadata__" stays string -> string as the format requires;
// a bundle with the old model.json (escaped strings) still loads, since no loader reads model.json.
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeCnn.Data;
using NativeCnn.IO;
using NativeCnn.Models;
using NativeCnn.Nn;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Training;

public class BundleSettingsJsonTests
{
    private static (Module Model, BundleInfo Info) Small()
    {
        var model = Architectures.Build("mnist_cnn", new ArchArgs(1, 3), new Rng(4));
        var info = new BundleInfo
        {
            Arch = "mnist_cnn", Args = new ArchArgs(1, 3), Classes = new[] { "cat \"tabby\"", "dög", "2" },
            Stats = new NormStats(new[] { 0.1307f }, new[] { 0.3081f }), Channels = 1, Size = (28, 28), Threshold = 0.5f,
        };
        return (model, info);
    }

    [Fact]
    public void ModelJsonHoldsNestedJsonThatAgreesWithTheWeightsMetadata()
    {
        using var dir = new TempDir();
        var (model, info) = Small();
        ExportBundle.Save(model, info, dir.Path);

        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, ExportBundle.SettingsFile)))!.AsObject();
        var args = root["arch.args"]!.AsObject();
        Assert.Equal(1, (int)args["in_channels"]!);
        Assert.Equal(3, (int)args["classes"]!);
        Assert.Empty(args["extra"]!.AsObject());
        Assert.Equal(new[] { "cat \"tabby\"", "dög", "2" }, root["classes"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(new[] { 0.1307 }, root["norm.mean"]!.AsArray().Select(v => (double)v!));
        Assert.Equal(new[] { 0.3081 }, root["norm.std"]!.AsArray().Select(v => (double)v!));
        Assert.Equal(JsonValueKind.False, root["multi_label"]!.GetValueKind());
        Assert.Equal(0.5, (double)root["threshold"]!);
        Assert.Equal(1, (int)root["input.channels"]!);
        Assert.Equal("28x28", (string)root["input.size"]!);
        Assert.Equal("crop", (string)root["input.resize"]!);
        Assert.Equal("1", (string)root[BundleInfo.FormatKey]!);
        var state = model.StateDict();
        var tensors = root["tensors"]!.AsObject();
        Assert.Equal(state.Keys.Order(StringComparer.Ordinal), tensors.Select(t => t.Key));
        foreach (var (name, t) in state) Assert.Equal(t.ShapeArray, tensors[name]!.AsArray().Select(d => (int)d!));
        Assert.DoesNotContain(Strings(root), v => v.StartsWith('{') || v.StartsWith('['));   // no JSON text left inside a string
        string text = File.ReadAllText(Path.Combine(dir.Path, ExportBundle.SettingsFile));
        Assert.Contains("\n  \"classes\": [\"cat \\\"tabby\\\"\", \"dög\", \"2\"],\n", text);   // lists of scalars on one line, letters as written
        Assert.Contains("\n    \"0.weight\": [32, 1, 3, 3],\n", text);

        // The weights file's metadata: every value a string (safetensors), each the text model.json's value stands for.
        var bytes = File.ReadAllBytes(Path.Combine(dir.Path, ExportBundle.WeightsFile));
        long n = BitConverter.ToInt64(bytes, 0);
        var meta = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))![SafeTensors.MetadataKey]!.AsObject();
        Assert.All(meta, kv => Assert.Equal(JsonValueKind.String, kv.Value!.GetValueKind()));
        Assert.Equal(meta.Select(kv => kv.Key).Order(StringComparer.Ordinal), root.Select(kv => kv.Key).Where(k => k != "tensors"));
        foreach (var (key, value) in meta)
        {
            string metaText = (string)value!;
            var shown = root[key]!;
            if (shown.GetValueKind() is JsonValueKind.Object or JsonValueKind.Array && key is not ("norm.mean" or "norm.std"))
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(metaText), shown), $"{key}: {metaText} vs {shown.ToJsonString()}");
            else if (shown.GetValueKind() == JsonValueKind.Array)
                Assert.Equal(metaText, string.Join(",", shown.AsArray().Select(v => ((float)(double)v!).ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
            else if (shown.GetValueKind() == JsonValueKind.String)
                Assert.Equal(metaText, (string)shown!);
            else
                Assert.Equal(metaText, shown.ToJsonString());
        }
        Assert.Equal(info.Classes, Predictor.Load(dir.Path).Classes);
    }

    [Fact]
    public void ReadableJsonParsesBackToTheSameTree()
    {
        var tree = JsonNode.Parse("""
            {"a": {"b": [1, 2.5, -3e-7, true, null, "x"], "empty": {}, "none": []},
             "objects": [{"k": "v"}, [1, [2]], 3],
             "text": "quote \" backslash \\ newline \n tab \t <html> & é 中"}
            """);
        string written = ReadableJson.Write(tree);
        Assert.True(JsonNode.DeepEquals(tree, JsonNode.Parse(written)), written);
        Assert.Contains("\n    \"b\": [1, 2.5, -3e-7, true, null, \"x\"],\n", written);
        Assert.Contains("<html> & é 中", written);
        Assert.EndsWith("}\n", written);
    }

    private static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(kv => Strings(kv.Value)),
        JsonArray a => a.SelectMany(Strings),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => new[] { (string)v! },
        _ => Array.Empty<string>(),
    };

    [Fact]
    public void ABundleWithTheOldEscapedModelJsonStillLoads()
    {
        using var dir = new TempDir();
        var (model, info) = Small();
        ExportBundle.Save(model, info, dir.Path);
        // model.json as bundles wrote it before: every value a string, nested JSON escaped inside it.
        var old = new SortedDictionary<string, string>(info.ToMetadata(), StringComparer.Ordinal);
        foreach (var (name, t) in model.StateDict()) old["tensor." + name] = Shape.Format(t.ShapeArray);
        File.WriteAllText(Path.Combine(dir.Path, ExportBundle.SettingsFile), JsonSerializer.Serialize(old, new JsonSerializerOptions { WriteIndented = true }));
        Assert.Contains("\"arch.args\": \"{\\u0022in_channels", File.ReadAllText(Path.Combine(dir.Path, ExportBundle.SettingsFile)));

        var (loaded, loadedInfo) = ExportBundle.Load(dir.Path);
        Assert.Equal(info.Classes, loadedInfo.Classes);
        Assert.Equal((info.Arch, info.Size, info.Channels), (loadedInfo.Arch, loadedInfo.Size, loadedInfo.Channels));
        foreach (var (name, t) in model.StateDict()) Assert.Equal(t.ToArray(), loaded.StateDict()[name].ToArray());
    }
}
