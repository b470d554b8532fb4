// Walks a command's arguments flag by flag, for the commands' option parsers: "--flag value" and
// "--flag=value" both give the value; a flag that takes none refuses "--flag=value". Must hold: every
// complaint is a UsageException naming the command and the flag.
namespace NativeCnn.Cli;

internal sealed class ArgReader
{
    private readonly string[] _args;
    private readonly string _command;
    private int _next;
    private string? _inline;

    public ArgReader(string[] args, string command)
    {
        _args = args;
        _command = command;
    }

    /// <summary>The current flag (without any "=value" part).</summary>
    public string Flag { get; private set; } = "";

    /// <summary>Moves to the next argument; false at the end.</summary>
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
}
