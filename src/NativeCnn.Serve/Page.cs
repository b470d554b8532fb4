// The web page: index.html, style.css and app.js compiled into the assembly (wwwroot/*), served as they
// are. Must hold: the page needs nothing from outside this server (no CDN, no fonts, no build step).
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace NativeCnn.Serve;

internal static class Page
{
    private static readonly (string Route, string Resource, string ContentType)[] Files =
    {
        ("/", "wwwroot/index.html", "text/html; charset=utf-8"),
        ("/style.css", "wwwroot/style.css", "text/css; charset=utf-8"),
        ("/app.js", "wwwroot/app.js", "text/javascript; charset=utf-8"),
    };

    public static void Map(WebApplication app)
    {
        foreach (var (route, resource, type) in Files)
        {
            var bytes = Read(resource);
            app.MapGet(route, (HttpContext ctx) =>
            {
                ctx.Response.Headers.CacheControl = "no-cache";
                return Results.Bytes(bytes, type);
            });
        }
    }

    private static byte[] Read(string resource)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the page resource '{resource}' is not embedded in {Assembly.GetExecutingAssembly().GetName().Name}");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
