// Dependencies point down (../shared/DESIGN.md, "Layers"): the allowed reference graph, written once here,
// between the projects (their ProjectReference items) and between the folders of src/NativeCnn (read from
// the source: `using NativeCnn.X` directives, `NativeCnn.X.Type` / `X.Type` qualifications, and names of the
// types declared in the root-namespace folders Core, Tensors, Ops and in Backends/MemoryScope.cs used as
// types: `Name.`, `Name<`, `new Name`, `Name variable`; and calls through a backend, `x.Backend.Op(...)`).
// Comments and string literals are ignored. A
// reference not in the graph fails, naming the folder (or project), the target and the file.
// Backends/MemoryScope.cs is a node of its own: the scope every layer may open, while the rest of Backends
// is called only from Tensors, Autograd's scope use aside, Ops (DESIGN.md: "the only place that calls a
// backend") and Benchmarking. Tensors and Autograd reference each other: a tensor carries its grad node.
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace NativeCnn.Tests.Architecture;

public class LayeringTests
{
    /// <summary>Who may reference whom among the folders of src/NativeCnn (DESIGN.md's layers, bottom up).</summary>
    internal static readonly IReadOnlyDictionary<string, string[]> AllowedFolders = new Dictionary<string, string[]>
    {
        ["Core"] = Array.Empty<string>(),
        ["Backends"] = new[] { "Core" },
        ["Backends/MemoryScope.cs"] = new[] { "Core", "Backends" },
        ["Backends/Cpu"] = new[] { "Core", "Backends", "Backends/MemoryScope.cs" },
        ["Backends/Gpu"] = new[] { "Core", "Backends", "Backends/MemoryScope.cs" },
        ["Tensors"] = new[] { "Core", "Backends", "Backends/MemoryScope.cs", "Backends/Cpu", "Backends/Gpu", "Autograd" },
        ["Autograd"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors" },
        ["Ops"] = new[] { "Core", "Backends", "Backends/MemoryScope.cs", "Tensors", "Autograd" },
        ["Nn"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops" },
        ["Models"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Nn" },
        ["Optim"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Nn" },
        ["Data"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Data/Transforms" },
        ["Data/Transforms"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Data" },
        ["IO"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Nn", "Models" },
        ["Reports"] = new[] { "Core", "IO" },
        ["Training"] = new[] { "Core", "Backends/MemoryScope.cs", "Tensors", "Autograd", "Ops", "Nn", "Models", "Optim", "Data", "Data/Transforms", "IO", "Reports" },
        ["Benchmarking"] = new[] { "Core", "Backends", "Backends/MemoryScope.cs", "Backends/Cpu", "Backends/Gpu", "Tensors", "Autograd", "Ops", "Nn", "Models", "Optim", "Data", "Data/Transforms", "IO", "Reports", "Training" },
    };

    /// <summary>Who may reference whom among the projects (every .csproj of the repository must be listed).</summary>
    internal static readonly IReadOnlyDictionary<string, string[]> AllowedProjects = new Dictionary<string, string[]>
    {
        ["NativeCnn.Kernels"] = Array.Empty<string>(),
        ["NativeCnn"] = new[] { "NativeCnn.Kernels" },
        ["NativeCnn.Datasets.Mnist"] = Array.Empty<string>(),
        ["NativeCnn.Serve"] = new[] { "NativeCnn" },
        ["NativeCnn.Cli"] = new[] { "NativeCnn", "NativeCnn.Datasets.Mnist", "NativeCnn.Serve" },
        ["NativeCnn.Benchmarks"] = new[] { "NativeCnn", "NativeCnn.Kernels", "NativeCnn.Datasets.Mnist" },
        ["NativeCnn.GpuLab"] = new[] { "NativeCnn", "NativeCnn.Kernels", "NativeCnn.Datasets.Mnist", "NativeCnn.Cli" },
        ["NativeCnn.Tests"] = new[] { "NativeCnn", "NativeCnn.Kernels", "NativeCnn.Datasets.Mnist", "NativeCnn.Cli", "NativeCnn.GpuLab" },
        ["NativeCnn.Serve.Tests"] = new[] { "NativeCnn", "NativeCnn.Serve", "NativeCnn.Cli" },
        // samples/: built against the packed NativeCnn package (a PackageReference), no project of this repository
        ["QuickStart"] = Array.Empty<string>(),
        ["CustomModel"] = Array.Empty<string>(),
        ["Tour"] = Array.Empty<string>(),
        ["WebService"] = Array.Empty<string>(),
    };

    [Fact]
    public void ProjectReferencesPointDown()
    {
        var projects = Layering.ProjectReferences(Layering.RepoRoot());
        Assert.Contains("NativeCnn", projects.Keys);   // the scan found the projects
        var unknown = projects.Keys.Where(p => !AllowedProjects.ContainsKey(p)).ToList();
        Assert.True(unknown.Count == 0, $"projects missing from LayeringTests.AllowedProjects: {string.Join(", ", unknown)}");
        var wrong = projects.SelectMany(p => p.Value.Where(r => !AllowedProjects[p.Key].Contains(r)).Select(r => $"{p.Key} -> {r}")).ToList();
        Assert.True(wrong.Count == 0, "project references against DESIGN.md's layers:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void FolderReferencesPointDown()
    {
        var edges = Layering.FolderReferences(Path.Combine(Layering.RepoRoot(), "src", "NativeCnn"));
        // the scan sees the references that must exist, so an empty or blind scan cannot pass
        foreach (var (from, to) in new[] { ("Training", "Reports"), ("Ops", "Backends"), ("Nn", "Ops"), ("Ops", "Core"), ("Models", "Nn"), ("Nn", "Backends/MemoryScope.cs") })
            Assert.True(edges.Any(e => e.From == from && e.To == to), $"the scan found no reference {from} -> {to}");
        Assert.Empty(Layering.Violations(edges, AllowedFolders));
    }

    [Fact]
    public void AnUpwardReferenceIsCaught()
    {
        // the scanner on files written here: a Core file that uses Training, and one that names Tensor (Tensors);
        // a Reports file that qualifies a Training type; an Nn file that calls a backend (Storage, Backends)
        using var temp = new Data.TempDir();
        string root = temp.Path;
        void Write(string rel, string text)
        {
            var path = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write("Core/A.cs", "using NativeCnn.Training;\nnamespace NativeCnn;\ninternal static class A { static void M(Tensor t) { } }\n");
        Write("Tensors/Tensor.cs", "namespace NativeCnn;\npublic sealed partial class Tensor { }\n");
        Write("Training/L.cs", "namespace NativeCnn.Training;\npublic class L { }\n");
        Write("Reports/R.cs", "// using NativeCnn.Training; in a comment is no reference\nnamespace NativeCnn.Reports;\nclass R { string s = \"Training.L\"; object o = new NativeCnn.Training.L(); }\n");
        Write("Nn/N.cs", "namespace NativeCnn.Nn;\nclass N { void M() { Backends.Storage s = null!; } }\n");
        Write("Data/D.cs", "namespace NativeCnn.Data;\nclass D { void M(Tensor t) => t.Backend.Fill(t.Storage, 0f); }\n");
        Write("Backends/Storage.cs", "namespace NativeCnn.Backends;\npublic class Storage { }\n");
        var violations = Layering.Violations(Layering.FolderReferences(root), AllowedFolders);
        Assert.Equal(new[] { "Core -> Tensors (A.cs)", "Core -> Training (A.cs)", "Data -> Backends (D.cs)", "Nn -> Backends (N.cs)", "Reports -> Training (R.cs)" }, violations);
    }
}

/// <summary>Reads project and folder references (see LayeringTests' header).</summary>
internal static class Layering
{
    /// <summary>The repository root: the folder above the test's output that holds NativeCnn.sln.</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NativeCnn.sln"))) return d.FullName;
        throw new InvalidOperationException($"no NativeCnn.sln above {AppContext.BaseDirectory}");
    }

    private static bool Built(string path) => path.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj" or ".git");

    /// <summary>Each project's name with the names of the projects it references.</summary>
    public static Dictionary<string, string[]> ProjectReferences(string root) =>
        Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories).Where(p => !Built(Path.GetRelativePath(root, p)))
            .ToDictionary(p => Path.GetFileNameWithoutExtension(p),
                          p => XDocument.Load(p).Descendants("ProjectReference")
                                   .Select(r => Path.GetFileNameWithoutExtension(((string?)r.Attribute("Include") ?? "").Replace('\\', '/'))).ToArray());

    /// <summary>Namespaces below NativeCnn and the folder each names.</summary>
    private static readonly Dictionary<string, string> NamespaceFolders = new()
    {
        ["Autograd"] = "Autograd", ["Backends"] = "Backends", ["Backends.Cpu"] = "Backends/Cpu", ["Backends.Gpu"] = "Backends/Gpu",
        ["Benchmarking"] = "Benchmarking", ["Data"] = "Data", ["Data.Transforms"] = "Data/Transforms", ["IO"] = "IO",
        ["Models"] = "Models", ["Nn"] = "Nn", ["Optim"] = "Optim", ["Reports"] = "Reports", ["Training"] = "Training",
    };

    /// <summary>Lowest first: a type declared in several root-namespace folders (Tensor's partial files) belongs to the lowest.</summary>
    private static readonly string[] RootOrder = { "Core", "Backends", "Backends/MemoryScope.cs", "Backends/Cpu", "Backends/Gpu", "Tensors", "Autograd", "Ops" };

    private static string NodeOf(string root, string file)
    {
        var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
        if (rel == "Backends/MemoryScope.cs") return rel;
        int slash = rel.LastIndexOf('/');
        return slash < 0 ? "." : rel[..slash];
    }

    /// <summary>Comments and string and character literals removed (verbatim, interpolated and raw strings included, roughly).</summary>
    private static string Code(string text)
    {
        text = Regex.Replace(text, @"/\*.*?\*/", " ", RegexOptions.Singleline);
        text = Regex.Replace(text, "\"\"\".*?\"\"\"", "\"\"", RegexOptions.Singleline);
        text = Regex.Replace(text, @"@""(?:[^""]|"""")*""", "\"\"");
        text = Regex.Replace(text, @"\$?""(?:[^""\\\n]|\\.)*""", "\"\"");
        text = Regex.Replace(text, @"'(?:[^'\\\n]|\\.)'", "' '");
        return Regex.Replace(text, @"//[^\n]*", "");
    }

    private static readonly Regex Using = new(@"^\s*(?:global\s+)?using\s+(?:static\s+)?NativeCnn\.([\w.]+)\s*;", RegexOptions.Multiline);
    private static readonly Regex Qualified = new(@"(?<![\w.])(?:NativeCnn\.)?(Autograd|Backends(?:\.Cpu|\.Gpu)?|Benchmarking|Data(?:\.Transforms)?|IO|Models|Nn|Optim|Reports|Training)\.[A-Z]");
    private static readonly Regex FullyQualified = new(@"NativeCnn\.(Autograd|Backends(?:\.Cpu|\.Gpu)?|Benchmarking|Data(?:\.Transforms)?|IO|Models|Nn|Optim|Reports|Training)\.[A-Z]");
    private static readonly Regex TypeUse = new(@"(?<![\w.])([A-Z]\w*)(?=\s*[.<?\[]|\s+[a-zA-Z_]\w*\s*[=;,)(]|\s*>)|(?<=\bnew\s+)([A-Z]\w*)");
    /// <summary>A call on a tensor's (or anything's) backend: `x.Backend.Fill(...)`.</summary>
    private static readonly Regex BackendCall = new(@"(?<=[\w)\]])\.Backend\.[A-Z]");
    private static readonly Regex Declaration = new(@"\b(?:class|struct|record|enum|interface)\s+([A-Z]\w*)");

    /// <summary>Every reference from a folder (node) of <paramref name="root"/> to another: (from, to, file).</summary>
    public static List<(string From, string To, string File)> FolderReferences(string root)
    {
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Built(Path.GetRelativePath(root, f)))
            .Select(f => (Node: NodeOf(root, f), Name: Path.GetFileName(f), Code: Code(File.ReadAllText(f)))).ToList();
        // types of the root namespace, by the folders that declare them
        var rootTypes = new Dictionary<string, List<string>>();
        foreach (var f in files.Where(f => Regex.IsMatch(f.Code, @"^\s*namespace\s+NativeCnn\s*;", RegexOptions.Multiline)))
            foreach (Match m in Declaration.Matches(f.Code))
                (rootTypes.TryGetValue(m.Groups[1].Value, out var l) ? l : rootTypes[m.Groups[1].Value] = new()).Add(f.Node);
        var edges = new HashSet<(string, string, string)>();
        foreach (var (node, name, code) in files)
        {
            foreach (Match m in Using.Matches(code))
                if (FolderOf(m.Groups[1].Value) is { } to) edges.Add((node, to, name));
            foreach (Match m in Qualified.Matches(code)) edges.Add((node, NamespaceFolders[m.Groups[1].Value], name));
            foreach (Match m in FullyQualified.Matches(code)) edges.Add((node, NamespaceFolders[m.Groups[1].Value], name));
            if (BackendCall.IsMatch(code)) edges.Add((node, "Backends", name));
            foreach (Match m in TypeUse.Matches(code))
            {
                string type = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
                if (!rootTypes.TryGetValue(type, out var homes) || homes.Contains(node)) continue;
                edges.Add((node, homes.OrderBy(h => Array.IndexOf(RootOrder, h) is var i and >= 0 ? i : int.MaxValue).First(), name));
            }
        }
        return edges.Where(e => e.Item1 != e.Item2).Select(e => (e.Item1, e.Item2, e.Item3)).OrderBy(e => e.Item1).ThenBy(e => e.Item2).ToList();
    }

    private static string? FolderOf(string ns)
    {
        for (string n = ns; n.Length > 0; n = n.Contains('.') ? n[..n.LastIndexOf('.')] : "")
            if (NamespaceFolders.TryGetValue(n, out var folder)) return folder;
        return null;
    }

    /// <summary>"From -> To (first file)" for each reference the graph does not allow (a folder missing from it allows nothing).</summary>
    public static List<string> Violations(IEnumerable<(string From, string To, string File)> edges, IReadOnlyDictionary<string, string[]> allowed) =>
        edges.Where(e => !(allowed.TryGetValue(e.From, out var ok) && ok.Contains(e.To)))
             .GroupBy(e => (e.From, e.To)).Select(g => $"{g.Key.From} -> {g.Key.To} ({g.Select(e => e.File).Order().First()})")
             .Order(StringComparer.Ordinal).ToList();
}
