// Walks a command's arguments flag by flag, for the commands' option parsers: "--flag value" and
// "--flag=value" both give the value; a flag that takes none refuses "--flag=value"; a flag the command
// does not declare is refused at once, suggesting the declared one it most likely meant (--epoch:
// --epochs). Must hold: every complaint is one UsageException naming the command and the flag; the
// declared flags are the ones the command's parser handles (CommandLineTests enumerates them).
namespace NativeCnn.Cli;

internal sealed class ArgReader
{
    private readonly string[] _args;
    private readonly string _command;
    private readonly IReadOnlyList<string> _flags;
    private int _next;
    private string? _inline;

    /// <param name="flags">every flag the command accepts (besides -h): an undeclared one is an unknown option.</param>
    public ArgReader(string[] args, string command, IReadOnlyList<string> flags)
    {
        _args = args;
        _command = command;
        _flags = flags;
    }

    /// <summary>The current flag (without any "=value" part).</summary>
    public string Flag { get; private set; } = "";

    /// <summary>Moves to the next argument; false at the end. An undeclared option is a UsageException.</summary>
    public bool Next()
    {
        if (_next >= _args.Length) return false;
        string arg = _args[_next++];
        _inline = null;
        int eq = arg.IndexOf('=');
        if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2)
        {
            _inline = arg[(eq + 1)..];
            arg = arg[..eq];
        }
        Flag = arg;
        if (arg.Length > 1 && arg[0] == '-' && arg != "-h" && !_flags.Contains(arg)) throw Unknown(_command, arg, _flags);
        return true;
    }

    /// <summary>The current flag's value ("--flag=value", or the next argument).</summary>
    public string Value()
    {
        if (_inline is not null) return _inline;
        if (_next >= _args.Length) throw new UsageException($"{_command}: {Flag} needs a value (see 'nativecnn {_command} --help')");
        return _args[_next++];
    }

    /// <summary>Refuses "--flag=value" for a flag that takes no value.</summary>
    public void NoValue()
    {
        if (_inline is not null) throw new UsageException($"{_command}: {Flag} takes no value, got '{Flag}={_inline}'");
    }

    /// <summary>"unknown option": with the likely meant flag when one is close, else the list of flags.</summary>
    public static UsageException Unknown(string command, string flag, IReadOnlyList<string> flags)
    {
        if (Suggest.Closest(flag, flags) is { } s)
            return new UsageException($"{command}: unknown option '{flag}'; did you mean '{s}'? (see 'nativecnn {command} --help')");
        var others = flags.Where(f => f != "--help").ToList();
        return new UsageException(others.Count == 0
            ? $"{command}: unknown option '{flag}'; {command} takes no options but --help"
            : $"{command}: unknown option '{flag}'; expected {string.Join(", ", others)} or --help");
    }
}

/// <summary>The closest name to a mistyped one, as a command line suggests it.</summary>
internal static class Suggest
{
    /// <summary>The candidate <paramref name="typed"/> most likely meant: a unique one it begins, one it begins
    /// with, or the nearest by edit distance within a third of its length (at least 1 edit, at most 3); null when none is close.</summary>
    public static string? Closest(string typed, IEnumerable<string> candidates)
    {
        var list = candidates.ToList();
        var prefixed = list.Where(c => c.StartsWith(typed, StringComparison.Ordinal) && typed.TrimStart('-').Length >= 2).ToList();
        if (prefixed.Count == 1) return prefixed[0];
        // a name with more after it (--flip-vertical: --flip-vert), the longest such
        if (list.Where(c => typed.StartsWith(c, StringComparison.Ordinal) && c.TrimStart('-').Length >= 3 && typed.Length > c.Length)
                .MaxBy(c => c.Length) is { } stem) return stem;
        int limit = Math.Clamp(typed.TrimStart('-').Length / 3, 1, 3);
        return list.Select(c => (c, d: Distance(typed, c))).Where(t => t.d <= limit).OrderBy(t => t.d).Select(t => t.c).FirstOrDefault();
    }

    /// <summary>Levenshtein distance with adjacent transpositions (optimal string alignment).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
