// Shell completion: `nativecnn completion bash|zsh|powershell` prints a script that a shell sources; the
// script asks `nativecnn __complete WORD...` (the words after `nativecnn`, the last one being completed,
// possibly empty) and offers what it prints, one candidate a line: command names, the command's flags
// (Cli.Commands' lists, the ones its parser takes), or a flag's fixed values (--device, --arch, --norm,
// --resize, --extra-channel, --cpu-path, --metrics); nothing where a path goes, so the shell completes
// file names. Must hold: __complete never fails (no output at worst) and never runs a command.
using NativeCnn.Models;

namespace NativeCnn.Cli;

internal static class Completion
{
    /// <summary>The hidden command the scripts call.</summary>
    public const string Hidden = "__complete";

    public static readonly string[] ScriptFlags = { "--help" };

    /// <summary>Flags that take no value (every other flag takes one).</summary>
    private static readonly HashSet<string> Switches = new()
    {
        "--json", "--verbose", "--help", "--multi-label", "--no-augment", "--fp16", "--tf32", "--no-flip", "--flip-vert", "--no-stop-div", "--quick", "--profile", "--no-corrections",
    };

    /// <summary>The fixed values of a flag; null: any value (a path, a number).</summary>
    private static IReadOnlyList<string>? Values(string flag) => flag switch
    {
        "--device" => new[] { "auto", "cpu", "cuda", "cuda:0", "simulator" },
        "--arch" => Architectures.Names.ToArray(),
        "--norm" => new[] { "data", "imagenet", "cifar", "mnist" },
        "--resize" => new[] { "squish", "crop", "pad" },
        "--extra-channel" => new[] { "alpha", "data" },
        "--cpu-path" => new[] { "auto", "avx512", "avx2", "portable" },
        "--metrics" => new[] { "accuracy", "error_rate", "top_k", "accuracy_thresh", "fbeta" },
        _ => null,
    };

    /// <summary>Prints the candidates for the last of <paramref name="words"/>.</summary>
    public static int Complete(string[] words, TextWriter stdout)
    {
        try
        {
            string current = words.Length > 0 ? words[^1] : "";
            IEnumerable<string> candidates;
            if (words.Length <= 1)
                candidates = Cli.Commands.Select(c => c.Name).Append("help").Append("--help").Append("--version");
            else if (words[0] == "help")
                candidates = words.Length == 2 ? Cli.Commands.Select(c => c.Name) : Array.Empty<string>();
            else if (Cli.Commands.FirstOrDefault(c => c.Name == words[0]) is not { } command)
                candidates = Array.Empty<string>();
            else if (words.Length >= 3 && words[^2].StartsWith('-') && !Switches.Contains(words[^2]))
                candidates = Values(words[^2]) ?? Array.Empty<string>();   // a flag's value: its fixed values, or files (the shell)
            else if (current.StartsWith('-'))
                candidates = command.Flags.Except(words[1..^1]);   // a flag already given is not offered again
            else
                candidates = Array.Empty<string>();   // a positional argument (a file): the shell completes it
            foreach (var c in candidates.Where(c => c.StartsWith(current, StringComparison.Ordinal)))
                stdout.WriteLine(c);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // a completion must never print an error into the user's command line
        }
        return Cli.ExitOk;
    }

    /// <summary>`nativecnn completion SHELL`: the script for bash, zsh or powershell.</summary>
    public static int Script(string[] args, TextWriter stdout)
    {
        if (args is ["--help" or "-h"])
        {
            stdout.WriteLine(Usage);
            return Cli.ExitOk;
        }
        if (args.Length != 1)
            throw new UsageException($"completion: expected one shell, bash, zsh or powershell, got {(args.Length == 0 ? "none" : $"'{string.Join(" ", args)}'")} (see 'nativecnn completion --help')");
        stdout.Write(args[0] switch
        {
            "bash" => Bash,
            "zsh" => "autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + Bash,
            "powershell" or "pwsh" => PowerShell,
            _ => throw (args[0].StartsWith('-') ? ArgReader.Unknown("completion", args[0], ScriptFlags)
                : new UsageException($"completion: expected bash, zsh or powershell, got '{args[0]}'")),
        });
        return Cli.ExitOk;
    }

    public const string Usage =
        "Usage: nativecnn completion bash|zsh|powershell\n" +
        "\n" +
        "Prints a script that makes the shell complete nativecnn's commands, options and option values\n" +
        "(--device, --arch, --norm, ...); paths are completed by the shell. Enable it for this shell, or\n" +
        "for every new one by adding the line to the shell's start-up file:\n" +
        "  bash:        source <(nativecnn completion bash)           (~/.bashrc)\n" +
        "  zsh:         source <(nativecnn completion zsh)            (~/.zshrc)\n" +
        "  PowerShell:  nativecnn completion powershell | Out-String | Invoke-Expression   ($PROFILE)\n" +
        "\n" +
        "Options:\n" +
        "  -h, --help     show this help";

    private const string Bash =
        "# nativecnn completion for bash (nativecnn completion bash)\n" +
        "_nativecnn_complete() {\n" +
        "    local IFS=$'\\n'\n" +
        "    COMPREPLY=( $(nativecnn __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null) )\n" +
        "}\n" +
        "complete -o default -o nospace -F _nativecnn_complete nativecnn\n";

    private const string PowerShell =
        "# nativecnn completion for PowerShell (nativecnn completion powershell)\n" +
        "Register-ArgumentCompleter -Native -CommandName nativecnn -ScriptBlock {\n" +
        "    param($wordToComplete, $commandAst, $cursorPosition)\n" +
        "    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })\n" +
        "    if ($wordToComplete -eq '') { $words += '\"\"' }\n" +
        "    nativecnn __complete @words | ForEach-Object {\n" +
        "        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)\n" +
        "    }\n" +
        "}\n";
}
