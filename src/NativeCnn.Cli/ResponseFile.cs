// Response files, as .NET command lines take them: an argument @FILE is replaced by the arguments in
// FILE (whitespace-separated, "double quotes" keep spaces, a line starting with # is a comment), so a
// long train command can live in a file (nativecnn train @run.rsp --epochs 3). Must hold: a missing or
// unreadable file is a usage error naming it, and so is a line whose double quote is never closed (a
// truncated file must not run with a half-read argument); a response file does not name another (no recursion);
// "@" alone and arguments that merely contain @ are left as they are.
using System.Text;

namespace NativeCnn.Cli;

internal static class ResponseFile
{
    public static string[] Expand(string[] args)
    {
        if (!args.Any(a => a.Length > 1 && a[0] == '@')) return args;
        var result = new List<string>();
        foreach (var a in args)
        {
            if (a.Length <= 1 || a[0] != '@') { result.Add(a); continue; }
            string path = a[1..];
            string text;
            try { text = File.ReadAllText(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"response file '{path}' ({a}) cannot be read: {e.Message.ReplaceLineEndings(" ")}");
            }
            var lines = text.ReplaceLineEndings("\n").Split('\n');
            for (int n = 0; n < lines.Length; n++)
            {
                if (lines[n].TrimStart().StartsWith('#')) continue;
                if (lines[n].Count(c => c == '"') % 2 != 0)
                    throw new UsageException($"response file '{path}' ({a}), line {n + 1}: a double quote is not closed");
                result.AddRange(Split(lines[n]));
            }
        }
        return result.ToArray();
    }

    /// <summary>A line's arguments: split at whitespace outside double quotes; the quotes are removed.</summary>
    internal static IEnumerable<string> Split(string line)
    {
        var current = new StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '"') { quoted = !quoted; any = true; continue; }
            if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any) yield return current.ToString();
                current.Clear();
                any = false;
                continue;
            }
            current.Append(c);
            any = true;
        }
        if (any) yield return current.ToString();
    }
}
