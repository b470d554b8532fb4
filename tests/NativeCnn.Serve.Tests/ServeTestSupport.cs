// What the server tests share: a temporary folder, tiny export bundles (mnist_cnn on 16x16 grey images,
// weights from a seed), PNG images the tests write, a server on 127.0.0.1 with a port of its own
// choosing, and JSON helpers. Must hold: servers listen on the loopback address only and are stopped
// by the test that started them.
using System.Net.Http.Headers;
using System.Text.Json;
using NativeCnn.Data;
using NativeCnn.Models;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Serve.Tests;

public sealed class TempDir : IDisposable
{
    public TempDir() { Path = Directory.CreateTempSubdirectory("nativecnn-serve-").FullName; }
    public string Path { get; }
    public string Sub(params string[] parts) => System.IO.Path.Combine(new[] { Path }.Concat(parts).ToArray());
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
}

public static class Bundles
{
    public static readonly string[] Classes = { "cat", "dog", "fish" };

    /// <summary>A mnist_cnn bundle for size x size (16 by default) grey images, weights drawn from <paramref name="seed"/>.</summary>
    public static BundleInfo Write(string dir, int seed = 1, bool multiLabel = false, string[]? classes = null, int size = 16)
    {
        classes ??= Classes;
        var info = new BundleInfo
        {
            Arch = "mnist_cnn",
            Args = new ArchArgs(1, classes.Length),
            Classes = classes,
            Stats = new NormStats(new[] { 0.5f }, new[] { 0.25f }),
            Channels = 1,
            Size = (size, size),
            MultiLabel = multiLabel,
            Threshold = 0.5f,
        };
        ExportBundle.Save(Architectures.Build("mnist_cnn", info.Args, new Rng((ulong)seed)), info, dir);
        return info;
    }

    public static string Sha256(string dir) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(ExportBundle.Resolve(dir))));
}

public static class Images
{
    /// <summary>A w x h grey PNG: a gradient shifted by <paramref name="seed"/>, so each seed gives other bytes.</summary>
    public static byte[] Png(int seed, int w = 20, int h = 20)
    {
        using var img = new Image<L8>(w, h);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img[x, y] = new L8((byte)((x * 13 + y * 7 + seed * 31) % 256));
        using var ms = new MemoryStream();
        img.SaveAsPng(ms);
        return ms.ToArray();
    }

    /// <summary>A w x h grey PNG with a background level and a centred square of another level.</summary>
    public static byte[] Square(int background, int square, int side, int w = 16, int h = 16, int noiseSeed = 0)
    {
        var rng = new Random(noiseSeed);
        using var img = new Image<L8>(w, h);
        int x0 = (w - side) / 2, y0 = (h - side) / 2;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                bool inside = x >= x0 && x < x0 + side && y >= y0 && y < y0 + side;
                img[x, y] = new L8((byte)Math.Clamp((inside ? square : background) + rng.Next(-20, 21), 0, 255));
            }
        using var ms = new MemoryStream();
        img.SaveAsPng(ms);
        return ms.ToArray();
    }

    public static string Save(string path, byte[] bytes)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

public static class Api
{
    public static HttpClient Client(ModelServer server) => new() { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };

    public static ServeOptions Options(string model, string? corrections = null) => new()
    {
        ModelPath = model,
        Host = "127.0.0.1",
        Port = 0,
        CorrectionsDir = corrections,
        WatchInterval = TimeSpan.Zero,
        Device = Device.Cpu,
    };

    public static ByteArrayContent Raw(byte[] bytes, string? name = null)
    {
        var c = new ByteArrayContent(bytes);
        c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (name is not null) c.Headers.Add("X-File-Name", name);
        return c;
    }

    public static MultipartFormDataContent Correction(byte[]? image, params string[] classes)
    {
        var form = new MultipartFormDataContent();
        if (image is not null)
        {
            var part = new ByteArrayContent(image);
            part.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(part, "image", "upload.png");
        }
        foreach (var c in classes) form.Add(new StringContent(c), "class");
        return form;
    }

    public static async Task<(int Status, JsonElement Json)> Send(HttpClient http, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        JsonElement json;
        try { json = JsonDocument.Parse(text).RootElement.Clone(); }
        catch (JsonException) { throw new Xunit.Sdk.XunitException($"{method} {path}: HTTP {(int)response.StatusCode}, not JSON: {text}"); }
        return ((int)response.StatusCode, json);
    }

    public static Task<(int Status, JsonElement Json)> Post(HttpClient http, string path, HttpContent? content) => Send(http, HttpMethod.Post, path, content);

    public static Task<(int Status, JsonElement Json)> Get(HttpClient http, string path) => Send(http, HttpMethod.Get, path);

    /// <summary>Every file under <paramref name="dir"/>, relative, sorted (empty when it does not exist).</summary>
    public static string[] Files(string dir) => Directory.Exists(dir)
        ? Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order(StringComparer.Ordinal).ToArray()
        : Array.Empty<string>();
}
