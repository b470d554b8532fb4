// The README's architecture section states how many kernel entry points kernels/ holds (the engine's default
// path; experiments live in the GPU lab) and gives the grep that counts them; this holds the two together,
// so a kernel added to or moved out of kernels/ updates the README's table and count with it.
using System.Text.RegularExpressions;
using Xunit;

namespace NativeCnn.Tests.Architecture;

public class KernelInventoryTests
{
    [Fact]
    public void TheReadmeStatesTheNumberOfKernelEntryPoints()
    {
        string root = Layering.RepoRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var stated = Regex.Match(readme, @"It has (\d+) kernel entry points");
        Assert.True(stated.Success, "README.md: no 'It has N kernel entry points' in the GPU kernels section");
        // the README's own grep: cat kernels/NativeCnn.Kernels/*.cs | grep -cE 'public static void \w+Kernel(<\w+>)?\('
        Assert.Contains(@"grep -cE 'public static void \w+Kernel(<\w+>)?\('", readme);
        var entry = new Regex(@"public static void \w+Kernel(<\w+>)?\(");
        int counted = Directory.GetFiles(Path.Combine(root, "kernels", "NativeCnn.Kernels"), "*.cs")
            .SelectMany(File.ReadLines).Count(l => entry.IsMatch(l));
        Assert.Equal(int.Parse(stated.Groups[1].Value), counted);
        Assert.True(counted > 40, $"{counted} entry points: the count regex no longer matches the kernels");
    }
}
