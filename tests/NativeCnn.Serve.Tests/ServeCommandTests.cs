// `nativecnn serve` from the command line: it prints the device, the model with its identity and the URL
// it serves (127.0.0.1 and the port the system chose for --port 0), answers on that URL, and stops when
// asked; a bad command line exits 2 and a model that cannot be loaded exits 1, each with one line.
using System.Text.RegularExpressions;
using NativeCnn.Cli;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class ServeCommandTests
{
    [Fact]
    public async Task ServesOnTheLoopbackAddressAndPrintsTheUrl()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model);
        var text = new StringWriter();
        var output = TextWriter.Synchronized(text);   // the command writes from the server's threads too
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => ServeCommand.Run(new[] { "--model", model, "--port", "0", "--corrections", dir.Sub("c"), "--device", "cpu" }, output, TextWriter.Null, stop.Token));
        Match url = Match.Empty;
        for (int i = 0; i < 600 && !(url = Regex.Match(Read(output, text), @"serving (http://127\.0\.0\.1:\d+/)")).Success; i++)
        {
            Assert.False(run.IsCompleted, $"serve ended early: {Read(output, text)}");
            await Task.Delay(50);
        }
        Assert.True(url.Success, $"no URL printed: {Read(output, text)}");
        using var http = new HttpClient { BaseAddress = new Uri(url.Groups[1].Value) };
        var (status, health) = await Api.Get(http, "healthz");
        Assert.Equal(200, status);
        Assert.Equal(Bundles.Sha256(model), health.GetProperty("model").GetString());
        Assert.Contains($"sha256 {Bundles.Sha256(model)[..12]}", Read(output, text));
        Assert.Contains("corrections: " + dir.Sub("c"), Read(output, text));
        stop.Cancel();
        Assert.Equal(0, await run);
    }

    // A synchronized writer locks itself around each write, so reading under the same lock is safe.
    private static string Read(TextWriter synchronized, StringWriter text) { lock (synchronized) return text.ToString(); }

    [Theory]
    [InlineData(new[] { "--port", "1" }, 2, "--model DIR is required")]
    [InlineData(new[] { "--model", "m", "--port", "70000" }, 2, "--port '70000' is not an integer from 0 to 65535")]
    [InlineData(new[] { "--model", "m", "--max-batch", "0" }, 2, "--max-batch")]
    [InlineData(new[] { "--model", "m", "--max-wait-ms", "-1" }, 2, "--max-wait-ms '-1'")]
    [InlineData(new[] { "--model", "m", "--frobnicate" }, 2, "unknown option '--frobnicate'")]
    [InlineData(new[] { "--model", "/nonexistent/model", "--port", "0", "--device", "cpu" }, 1, "model '/nonexistent/model' does not exist")]
    public void BadCommandLinesAndModelsExitWithOneLine(string[] args, int code, string words)
    {
        var stderr = new StringWriter();
        int got = NativeCnn.Cli.Cli.Run(new[] { "serve" }.Concat(args).ToArray(), TextWriter.Null, stderr);
        Assert.Equal(code, got);
        Assert.Contains(words, stderr.ToString());
        Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
