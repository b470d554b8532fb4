// Every request the server refuses, with its status code and reason, and with nothing written to the
// corrections folder: a body over the size limit (declared or chunked), too many images, no image, a
// form instead of an image, bytes that are not an image, a truncated image, an image over the pixel limit
// (a header claiming 100000x100000 is refused from the header alone), a missing or unknown class, a
// class that tries to be a path, two classes for a single-label model, an image slower to decode than
// the time bound, and corrections switched off.
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Xunit;

namespace NativeCnn.Serve.Tests;

public class BadRequestTests
{
    private const long BodyLimit = 64 * 1024;

    /// <summary>A real PNG whose header claims <paramref name="w"/> x <paramref name="h"/> (CRC fixed up).</summary>
    internal static byte[] ClaimedSize(int w, int h)
    {
        var png = Images.Png(1, 4, 4);
        // IHDR: length (4) "IHDR" (4) width (4) height (4) ... CRC over type and data, at 8..33.
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), w);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), h);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Crc32(png.AsSpan(12, 17)));
        return png;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    public static TheoryData<string, string, int, string> Cases() => new()
    {
        // endpoint, case, status, words the error must hold
        { "api/predict", "empty body", 400, "no image" },
        { "api/predict", "over the body limit", 413, "over the limit" },
        { "api/predict", "over the body limit, chunked", 413, "over the limit" },
        { "api/predict", "too many images", 413, "over the limit of 3 per request" },
        { "api/predict", "url-encoded form", 422, "not a known image type" },
        { "api/predict", "not an image", 422, "not a known image type" },
        { "api/predict", "truncated", 422, "truncated" },
        { "api/predict", "over the pixel limit", 422, "over the limit of 10000" },
        { "api/predict", "bomb header", 422, "10000000000 pixels" },
        { "api/corrections", "over the body limit", 413, "over the limit" },
        { "api/corrections", "missing class", 400, "'class' field is missing" },
        { "api/corrections", "missing image", 400, "no image" },
        { "api/corrections", "two images", 400, "one correction per request" },
        { "api/corrections", "unknown class", 422, "'bird' is not one of the model's classes (cat, dog, fish)" },
        { "api/corrections", "class as a path", 422, "'../../evil' is not one of the model's classes" },
        { "api/corrections", "two classes, single-label", 422, "single-label" },
        { "api/corrections", "not an image", 422, "not a known image type" },
        { "api/corrections", "truncated", 422, "truncated" },
        { "api/corrections", "over the pixel limit", 422, "over the limit of 10000" },
        { "api/corrections", "bomb header", 422, "10000000000 pixels" },
    };

    private static HttpContent Body(string endpoint, string kind)
    {
        var good = Images.Png(3);
        var big = new byte[BodyLimit + 1000];
        new Random(1).NextBytes(big);
        byte[]? image = kind switch
        {
            "not an image" => "this is plain text, not an image"u8.ToArray(),
            "truncated" => good[..(good.Length / 2)],
            "over the pixel limit" => Images.Png(2, 101, 100),
            "bomb header" => ClaimedSize(100_000, 100_000),
            _ => good,
        };
        if (kind == "over the body limit, chunked")
            return new ChunkedContent(big);
        if (kind == "over the body limit" && endpoint == "api/predict") return Api.Raw(big);
        if (kind == "over the body limit") return Api.Correction(big, "cat");
        if (kind == "url-encoded form") return new FormUrlEncodedContent(new Dictionary<string, string> { ["class"] = "cat" });
        if (kind == "empty body") return Api.Raw(Array.Empty<byte>());
        if (kind == "too many images")
        {
            var form = new MultipartFormDataContent();
            for (int i = 0; i < 4; i++) form.Add(new ByteArrayContent(Images.Png(i)), "files", $"f{i}.png");
            return form;
        }
        if (endpoint == "api/predict") return Api.Raw(image);
        return kind switch
        {
            "missing class" => Api.Correction(image),
            "missing image" => Api.Correction(null, "cat"),
            "two images" => TwoImages(),
            "unknown class" => Api.Correction(image, "bird"),
            "class as a path" => Api.Correction(image, "../../evil"),
            "two classes, single-label" => Api.Correction(image, "cat", "dog"),
            _ => Api.Correction(image, "cat"),
        };
    }

    // A body sent without Content-Length (chunked): the limit must hold while reading.
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();
        protected override bool TryComputeLength(out long length) { length = -1; return false; }
    }

    private static MultipartFormDataContent TwoImages()
    {
        var form = Api.Correction(Images.Png(1), "cat");
        form.Add(new ByteArrayContent(Images.Png(2)), "image", "second.png");
        return form;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IsRefusedWithItsStatusAndNothingIsWritten(string endpoint, string kind, int status, string words)
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model);
        var corrections = dir.Sub("corrections");
        var before = Api.Files(dir.Path);
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections) with
        {
            MaxBodyBytes = BodyLimit, MaxPixels = 10_000, MaxImagesPerRequest = 3,
        });
        using var http = Api.Client(server);
        var (got, json) = await Api.Post(http, endpoint, Body(endpoint, kind));
        Assert.True(got == status, $"{kind}: HTTP {got}, expected {status}: {json}");
        Assert.Contains(words, json.GetProperty("error").GetString());
        Assert.Equal(before, Api.Files(dir.Path));    // nothing stored, no log line, no temporary file
        var (_, metrics) = await Api.Get(http, "metrics");
        Assert.Equal(1, metrics.GetProperty("requests").GetProperty("client_errors").GetInt64());
        Assert.Equal(0, metrics.GetProperty("corrections").GetProperty("stored").GetInt64());
    }

    [Theory]
    [InlineData("api/predict")]
    [InlineData("api/corrections")]
    public async Task AnImageThatDecodesTooSlowlyIsRefused(string endpoint)
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model);
        var corrections = dir.Sub("corrections");
        var before = Api.Files(dir.Path);
        // A bound no decode can meet (a tenth of a microsecond) against a 1000x1000 image (milliseconds).
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections) with { DecodeTimeout = TimeSpan.FromTicks(1) });
        using var http = Api.Client(server);
        var image = Images.Png(1, 1000, 1000);
        var (status, json) = await Api.Post(http, endpoint, endpoint == "api/predict" ? Api.Raw(image) : Api.Correction(image, "cat"));
        Assert.Equal(422, status);
        Assert.Contains("took longer than", json.GetProperty("error").GetString());
        Assert.Equal(before, Api.Files(dir.Path));
    }

    [Fact]
    public async Task CorrectionsAreRefusedWhenTheServerHasNoFolderForThem()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model);
        var before = Api.Files(dir.Path);
        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections: null));
        using var http = Api.Client(server);
        var (status, json) = await Api.Post(http, "api/corrections", Api.Correction(Images.Png(1), "cat"));
        Assert.Equal(403, status);
        Assert.Contains("not enabled", json.GetProperty("error").GetString());
        Assert.Equal(before, Api.Files(dir.Path));
        var (_, m) = await Api.Get(http, "api/model");
        Assert.False(m.GetProperty("corrections").GetBoolean());
    }

    [Fact]
    public async Task UnknownRoutesAndMethodsAreClientErrors()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model);
        await using var server = await ModelServer.StartAsync(Api.Options(model));
        using var http = Api.Client(server);
        using var notFound = await http.GetAsync("api/nothing");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        using var wrongMethod = await http.GetAsync("api/predict");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
    }
}
