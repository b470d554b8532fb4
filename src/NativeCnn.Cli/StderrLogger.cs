// The CLI's logger: the engine's warnings (NativeCnnLogging) as "nativecnn: warning: ..." lines on
// stderr, the one place a command-line user looks. Warning level and above only.
using Microsoft.Extensions.Logging;

namespace NativeCnn.Cli;

internal sealed class StderrLoggerFactory(TextWriter stderr) : ILoggerFactory, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        var message = formatter(state, exception);
        lock (stderr) stderr.WriteLine(message.StartsWith("warning:", StringComparison.Ordinal) ? $"nativecnn: {message}" : $"nativecnn: {logLevel.ToString().ToLowerInvariant()}: {message}");
    }
}
