// Where the engine's warnings go (a skipped unreadable image, a folder with unreadable files): an ILogger
// from Microsoft.Extensions.Logging.Abstractions, so a web or worker service sees them in its own logs.
// Must hold: the engine never writes to the console itself; with no logger set, warnings are dropped
// (NullLoggerFactory), and an option's own logger or Warn callback wins over the global factory.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace NativeCnn;

/// <summary>The logger factory the engine takes its loggers from when an option names none.</summary>
public static class NativeCnnLogging
{
    private static ILoggerFactory _factory = NullLoggerFactory.Instance;

    /// <summary>The factory for the engine's loggers (categories are the engine's type names, e.g.
    /// <c>NativeCnn.Data.DataLoader</c>). Default: <see cref="NullLoggerFactory.Instance"/>, which drops every
    /// message. Set it once at start-up, e.g. to the host's <c>ILoggerFactory</c>.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public static ILoggerFactory LoggerFactory
    {
        get => Volatile.Read(ref _factory);
        set => Volatile.Write(ref _factory, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>A logger for category <typeparamref name="T"/> from <see cref="LoggerFactory"/>.</summary>
    internal static ILogger For<T>() => LoggerFactory.CreateLogger<T>();

    /// <summary>The warning sink of an option set: its Warn callback if set, else its logger, else the global factory's.</summary>
    internal static Action<string> Warner<T>(Action<string>? warn, ILogger? logger)
    {
        if (warn is not null) return warn;
        var log = logger ?? For<T>();
        return m => log.LogWarning("{Message}", m);
    }
}
