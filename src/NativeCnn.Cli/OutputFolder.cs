// A run's --out folder, written as one set: checked writable before the work starts, filled in a fresh
// hidden sibling folder (".NAME.nativecnn-PID-ID"), then switched in. On Linux the switch is one
// renameat2(RENAME_EXCHANGE) of the two folders, so at every instant --out holds either the whole
// previous set or the whole new one; elsewhere (or on a file system without it) the old folder is
// renamed aside (".NAME.nativecnn-old-PID-ID"), the new one renamed in, and a later run that finds
// --out missing puts the old set back. Must hold: nothing is deleted that a run did not write (an
// --out holding other files is refused up front); leftovers of killed runs (siblings whose process is
// gone) are removed by the next run on the same --out; a failed run removes its own staging folder.
// NATIVECNN_TEST_WRITE_PAUSE_MS (tests only) pauses between the steps of the write phase so a test can
// kill the process inside it.
using System.Globalization;
using System.Runtime.InteropServices;

namespace NativeCnn.Cli;

internal sealed partial class OutputFolder : IDisposable
{
    private const string Tag = ".nativecnn-";
    private static readonly int PauseMs =
        int.TryParse(Environment.GetEnvironmentVariable("NATIVECNN_TEST_WRITE_PAUSE_MS"), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 0;

    private readonly string _full, _parent, _name;
    private bool _committed;

    private OutputFolder(string given, string full, string staging)
    {
        Given = given;
        _full = full;
        _parent = Path.GetDirectoryName(full)!;
        _name = Path.GetFileName(full);
        Staging = staging;
    }

    /// <summary>--out as given.</summary>
    public string Given { get; }

    /// <summary>Where this run writes its files until <see cref="Commit"/>.</summary>
    public string Staging { get; }

    /// <summary>Checks --out and makes the staging folder, before any work, so a run that cannot write its
    /// results fails at once. <paramref name="known"/>: the names a previous run of the command leaves in it.</summary>
    public static OutputFolder Prepare(string given, string command, IReadOnlyCollection<string> known)
    {
        string full = Path.GetFullPath(given).TrimEnd(Path.DirectorySeparatorChar);
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || Path.GetFileName(full).Length == 0)
            throw new UsageException($"{command}: --out '{given}' is a file system root; expected a folder to create or a previous --out folder");
        if (File.Exists(full))
            throw new NativeCnnException($"{command}: --out '{given}' is a file; expected a folder (new, empty, or a previous {command} --out)");
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{command}: --out '{given}' cannot be created: its parent '{parent}' cannot be made ({e.Message})");
        }
        RemoveLeftovers(parent, Path.GetFileName(full));
        if (Directory.Exists(full))
        {
            var foreign = Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName)
                .Where(n => !known.Contains(n!) && !(n!.StartsWith('.') && n.EndsWith(".tmp", StringComparison.Ordinal))).Order(StringComparer.Ordinal).ToList();
            if (foreign.Count > 0)
                throw new NativeCnnException($"{command}: --out '{given}' holds files that are not a previous run's output ({string.Join(", ", foreign.Take(5))}{(foreign.Count > 5 ? ", ..." : "")}); expected a new or empty folder or a previous {command} --out (it is replaced as a whole)");
            Probe(full, given, command);
        }
        string staging = Path.Combine(parent, $".{Path.GetFileName(full)}{Tag}{Environment.ProcessId}-{ShortId()}");
        try { Directory.CreateDirectory(staging); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{command}: --out '{given}' is not writable: cannot create a folder in '{parent}' ({e.Message})");
        }
        var folder = new OutputFolder(given, full, staging);
        Probe(staging, given, command);
        return folder;
    }

    private static string ShortId() => Guid.NewGuid().ToString("N")[..8];

    // Creating a file is the only reliable test (permissions, read-only mounts, ACLs, a full quota).
    private static void Probe(string dir, string given, string command)
    {
        string probe = Path.Combine(dir, $".probe{Tag}{Guid.NewGuid():N}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write)) { }
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{command}: --out '{given}' is not writable: cannot create a file in '{dir}' ({e.Message})");
        }
    }

    /// <summary>Checks, before any work, that the output FILE <paramref name="given"/> (named by
    /// <paramref name="flag"/>) can be written: not a folder, its folder creatable and writable.</summary>
    public static void CheckFile(string given, string command, string flag)
    {
        string full = Path.GetFullPath(given);
        if (Directory.Exists(full))
            throw new NativeCnnException($"{command}: {flag} '{given}' is a folder; expected a file path");
        string parent = Path.GetDirectoryName(full) ?? throw new UsageException($"{command}: {flag} '{given}' is a file system root; expected a file path");
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{command}: {flag} '{given}' cannot be written: its folder '{parent}' cannot be made ({e.Message})");
        }
        string probe = Path.Combine(parent, $".probe{Tag}{ShortId()}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write)) { }
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"{command}: {flag} '{given}' is not writable: cannot create a file in '{parent}' ({e.Message})");
        }
    }

    /// <summary>The path of <paramref name="name"/> inside the staging folder.</summary>
    public string PathOf(string name) => Path.Combine(Staging, name);

    /// <summary>The test hook: announces the write phase (once) and pauses between its steps.</summary>
    public static void Pause(string step)
    {
        if (PauseMs <= 0) return;
        Console.Error.WriteLine($"nativecnn-test: write phase: {step}");
        Thread.Sleep(PauseMs);
    }

    /// <summary>Switches the staged set in place of --out (see the header for the order).</summary>
    public void Commit()
    {
        Pause("switch");
        try
        {
            if (!Directory.Exists(_full))
                Directory.Move(Staging, _full);
            else if (Exchange(Staging, _full))
            {
                Pause("remove the previous set");
                Directory.Delete(Staging, recursive: true);
            }
            else
            {
                string old = Path.Combine(_parent, $".{_name}{Tag}old-{Environment.ProcessId}-{ShortId()}");
                Directory.Move(_full, old);
                Pause("between the renames");
                Directory.Move(Staging, _full);
                Directory.Delete(old, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NativeCnnException($"cannot put the results in place at --out '{Given}': {e.Message} (they are complete in '{Staging}')");
        }
        _committed = true;
    }

    /// <summary>A run that did not commit removes its staging folder.</summary>
    public void Dispose()
    {
        if (_committed) return;
        try { if (Directory.Exists(Staging)) Directory.Delete(Staging, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    // Siblings ".NAME.nativecnn-[old-]PID-ID" whose process is gone: a killed run's. A missing --out with an
    // "old" sibling is the moment between the two renames of the portable switch: that complete set goes back.
    private static void RemoveLeftovers(string parent, string name)
    {
        string prefix = $".{name}{Tag}";
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*").Order(StringComparer.Ordinal))
        {
            string rest = Path.GetFileName(dir)[prefix.Length..];
            bool old = rest.StartsWith("old-", StringComparison.Ordinal);
            if (old) rest = rest[4..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || Alive(pid)) continue;
            try
            {
                string full = Path.Combine(parent, name);
                if (old && !Directory.Exists(full)) Directory.Move(dir, full);
                else Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static bool Alive(int pid)
    {
        if (pid == Environment.ProcessId) return false;   // an earlier run in this process (tests) that failed to clean up
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    // Linux's atomic swap of two paths (glibc 2.28+, kernel 3.15+); false where it is not available.
    private static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        const int AtFdCwd = -100;
        const uint RenameExchange = 2;
        try { return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0; }
        catch (EntryPointNotFoundException) { return false; }
        catch (DllNotFoundException) { return false; }
    }
}
