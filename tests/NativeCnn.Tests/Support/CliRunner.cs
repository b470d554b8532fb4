// Runs the `nativecnn` command in-process and captures its exit code, stdout and stderr.
namespace NativeCnn.Tests.Support;

public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = NativeCnn.Cli.Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
