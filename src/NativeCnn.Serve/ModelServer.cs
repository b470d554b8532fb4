// The model server: Kestrel bound to one address (127.0.0.1 unless told otherwise), the page at `/`
// (embedded HTML, CSS and JavaScript: no CDN, no build step), the JSON API (ApiEndpoints), the batcher,
// the model host with its watcher, and the corrections store. Start it with StartAsync (port 0 picks a
// free port; Address says which) and stop it by disposing it. Must hold: every request is counted in
// /metrics by its status; nothing the server writes lies outside the corrections folder.
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace NativeCnn.Serve;

/// <summary>A running model server.</summary>
public sealed class ModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ModelServer(WebApplication app, ServeOptions options, ModelHost host, InferenceBatcher batcher, CorrectionStore? corrections, ServeMetrics metrics, Uri address)
    {
        _app = app;
        Options = options;
        Models = host;
        Batcher = batcher;
        Corrections = corrections;
        Metrics = metrics;
        Address = address;
    }

    /// <summary>The settings it runs with.</summary>
    public ServeOptions Options { get; }

    /// <summary>The serving model and its reloads.</summary>
    public ModelHost Models { get; }

    /// <summary>The dynamic batcher every prediction goes through.</summary>
    public InferenceBatcher Batcher { get; }

    /// <summary>Where corrections go (null: corrections are refused).</summary>
    public CorrectionStore? Corrections { get; }

    /// <summary>The counters /metrics shows.</summary>
    public ServeMetrics Metrics { get; }

    /// <summary>The bound address, e.g. http://127.0.0.1:8080/ (with the chosen port when Port was 0).</summary>
    public Uri Address { get; }

    /// <summary>Cancelled when the host is asked to stop (SIGTERM, or Ctrl+C in a terminal): the caller then disposes the server.</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    /// <summary>Loads the model (throws naming the bundle when it cannot), binds and starts serving.</summary>
    public static async Task<ModelServer> StartAsync(ServeOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var address = Resolve(options.Host);
        var host = new ModelHost(options.ModelPath, options.Device, options.WatchInterval);
        var metrics = new ServeMetrics();
        var batcher = new InferenceBatcher(options.MaxBatch, options.MaxWait, metrics);
        CorrectionStore? corrections = options.CorrectionsDir is { } dir ? new CorrectionStore(dir) : null;
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>(), ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
                k.Listen(address, options.Port);
            });
            var app = builder.Build();
            app.Use(async (ctx, next) =>
            {
                try { await next(ctx); }
                finally { metrics.Request(ctx.Response.StatusCode); }
            });
            Page.Map(app);
            ApiEndpoints.Map(app, options, host, batcher, corrections, metrics);
            await app.StartAsync(cancel);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                ?? throw new NativeCnnException("serve: the server started but reports no address");
            return new ModelServer(app, options, host, batcher, corrections, metrics, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
        }
        catch (IOException e)
        {
            host.Dispose();
            await batcher.DisposeAsync();
            throw new NativeCnnException($"serve: cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        catch
        {
            host.Dispose();
            await batcher.DisposeAsync();
            throw;
        }
    }

    private static IPAddress Resolve(string host)
    {
        if (host == "localhost") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        try { return Dns.GetHostAddresses(host).First(); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or ArgumentException)
        {
            throw new NativeCnnException($"serve: host '{host}' is not an address and does not resolve ({e.Message}); expected e.g. 127.0.0.1");
        }
    }

    /// <summary>Stops taking requests, finishes those in flight, and stops watching the bundle.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Batcher.DisposeAsync();
        Models.Dispose();
    }
}
