// Reading images out of a request: multipart/form-data with one or more file parts (and text fields, e.g.
// a correction's class), or any other body as one image's raw bytes (text fields then from the query). Limits are enforced while reading: a body
// over the size limit is 413 whether or not it declared its length; a malformed or empty request is
// 400. Decoding (the training decoder, with the server's pixel limit) runs under a time bound.
// Must hold: every refusal is a RequestException with its status code and a one-line reason; the
// uploaded file name is only echoed and logged, never used as a path.
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using NativeCnn.Data;

namespace NativeCnn.Serve;

/// <summary>A request the server refuses: the HTTP status and why.</summary>
public sealed class RequestException : Exception
{
    /// <summary>A refusal with <paramref name="status"/> (4xx) and a one-line <paramref name="message"/>.</summary>
    public RequestException(int status, string message) : base(message) { Status = status; }

    /// <summary>The HTTP status code to answer with.</summary>
    public int Status { get; }
}

/// <summary>One uploaded image: the name the client gave (or a made-up one) and its bytes.</summary>
public sealed record Upload(string Name, byte[] Bytes);

internal static class Uploads
{
    /// <summary>The images and text fields of a request.</summary>
    public static async Task<(List<Upload> Images, Dictionary<string, StringValues> Fields)> ReadAsync(HttpContext ctx, ServeOptions o)
    {
        var request = ctx.Request;
        if (request.ContentLength is long declared && declared > o.MaxBodyBytes)
            throw TooLarge(declared, o);
        var images = new List<Upload>();
        var fields = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        try
        {
            // Multipart bodies hold file parts; any other body is the image's bytes, whatever its declared
            // type (curl --data-binary says application/x-www-form-urlencoded).
            if (request.ContentType is { } type && type.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                var form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = o.MaxBodyBytes, ValueCountLimit = 64 + o.MaxImagesPerRequest }, ctx.RequestAborted);
                foreach (var f in form.Files)
                {
                    if (images.Count == o.MaxImagesPerRequest) throw TooMany(form.Files.Count, o);
                    using var ms = new MemoryStream((int)Math.Min(f.Length, o.MaxBodyBytes));
                    await f.CopyToAsync(ms, ctx.RequestAborted);
                    images.Add(new Upload(string.IsNullOrEmpty(f.FileName) ? $"upload-{images.Count + 1}" : f.FileName, ms.ToArray()));
                }
                foreach (var (key, value) in form) fields[key] = value;
            }
            else
            {
                using var ms = new MemoryStream();
                var buffer = new byte[81920];
                int n;
                while ((n = await request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
                {
                    if (ms.Length + n > o.MaxBodyBytes) throw TooLarge(ms.Length + n, o);
                    ms.Write(buffer, 0, n);
                }
                if (ms.Length > 0)
                {
                    string name = request.Headers["X-File-Name"] is { Count: > 0 } h && !string.IsNullOrWhiteSpace(h[0]) ? h[0]! : "upload";
                    images.Add(new Upload(name, ms.ToArray()));
                }
                foreach (var (key, value) in request.Query) fields[key] = value;
            }
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own body limit (a chunked body that never said its length) and malformed framing.
            throw new RequestException(e.StatusCode == 413 ? 413 : 400, e.StatusCode == 413 ? $"the request body is over the limit of {o.MaxBodyBytes} bytes" : $"bad request: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            bool limit = e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase);
            throw new RequestException(limit ? 413 : 400, limit ? $"the request is over a limit ({e.Message}); the body limit is {o.MaxBodyBytes} bytes" : $"malformed multipart body: {e.Message}");
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new RequestException(400, $"the request body could not be read: {e.Message}");
        }
        return (images, fields);
    }

    /// <summary>Decodes and prepares one upload for <paramref name="model"/>, within the decode time bound.</summary>
    public static async Task<float[]> PrepareAsync(LoadedModel model, Upload upload, ServeOptions o)
    {
        var decode = new DecodeOptions { MaxPixels = o.MaxPixels };
        var work = Task.Run(() => model.Predictor.Prepare(upload.Bytes, upload.Name, decode));
        try { return await work.WaitAsync(o.DecodeTimeout); }
        catch (TimeoutException)
        {
            // The decode cannot be interrupted; it finishes in the background and its result is dropped.
            _ = work.ContinueWith(t => t.Exception, TaskScheduler.Default);
            throw new RequestException(422, $"image '{upload.Name}' took longer than {o.DecodeTimeout.TotalSeconds:0.###} s to decode");
        }
        catch (NativeCnnException e)
        {
            throw new RequestException(422, e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>The file extension (with dot) of bytes that decoded as an image, one finetune reads.</summary>
    public static string ExtensionOf(byte[] bytes)
    {
        var format = SixLabors.ImageSharp.Image.DetectFormat(bytes);
        var ext = format?.FileExtensions.Select(e => "." + e.ToLowerInvariant()).FirstOrDefault(ImageDecoder.Extensions.Contains);
        return ext ?? throw new RequestException(422, "the image's format has no file suffix that finetune reads");
    }

    private static RequestException TooLarge(long bytes, ServeOptions o) =>
        new(413, $"the request body is {bytes} bytes or more, over the limit of {o.MaxBodyBytes} bytes");

    private static RequestException TooMany(int count, ServeOptions o) =>
        new(413, $"the request holds {count} images, over the limit of {o.MaxImagesPerRequest} per request");
}
