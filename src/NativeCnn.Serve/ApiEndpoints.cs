// The JSON API. POST /api/predict: image bytes as the body or multipart file parts, one or many; each
// is decoded (training decoder, pixel limit, time bound) for the model serving when the request came,
// and predicted through the batcher. POST /api/corrections: one image and its right class (multi-label:
// one or more "class" fields); the model predicts it again for the log, then CorrectionStore writes it.
// GET /api/model, POST /api/reload, GET /healthz, GET /metrics (JSON). Must hold: a refused request gets a 4xx
// with {"error": why} and writes nothing; only a fully checked correction reaches the store.
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using NativeCnn.Training;

namespace NativeCnn.Serve;

internal static class ApiEndpoints
{
    public static void Map(WebApplication app, ServeOptions o, ModelHost host, InferenceBatcher batcher, CorrectionStore? store, ServeMetrics metrics)
    {
        app.MapPost("/api/predict", (Func<HttpContext, Task<IResult>>)(ctx => Guard(async () =>
        {
            var clock = Stopwatch.StartNew();
            var model = host.Current;
            Task<Prediction>[] queued;
            List<Upload> images;
            // From the first byte read to the last image queued, the batcher knows this request is coming.
            using (batcher.Preparing())
            {
                (images, _) = await Uploads.ReadAsync(ctx, o);
                if (images.Count == 0) throw new RequestException(400, "no image in the request; send the image bytes as the body, or multipart/form-data with one or more file parts");
                var inputs = await Task.WhenAll(images.Select(u => Uploads.PrepareAsync(model, u, o)));
                queued = inputs.Select((x, i) => batcher.PredictAsync(model, x, images[i].Name)).ToArray();
            }
            var predictions = await Task.WhenAll(queued);
            metrics.Predicted(images.Count, clock.Elapsed);
            return Results.Json(new
            {
                model = Identity(model),
                predictions = predictions.Select(p => Describe(model, p, o.TopK)).ToArray(),
            });
        })));

        app.MapPost("/api/corrections", (Func<HttpContext, Task<IResult>>)(ctx => Guard(async () =>
        {
            if (store is null) throw new RequestException(403, "corrections are not enabled on this server (start it with --corrections DIR)");
            var model = host.Current;
            try
            {
                var (images, fields) = await Uploads.ReadAsync(ctx, o);
                if (images.Count == 0) throw new RequestException(400, "no image in the request; send multipart/form-data with the image as a file part and its class as the 'class' field");
                if (images.Count > 1) throw new RequestException(400, $"the request holds {images.Count} images; send one correction per request");
                // One class per field; a field that is no class of the model may list several, comma-separated.
                var given = (fields.TryGetValue("class", out var v) ? v.ToArray() : Array.Empty<string?>())
                    .SelectMany(s => s is null ? Array.Empty<string>()
                        : IndexOf(model.Info.Classes, s) >= 0 ? new[] { s }
                        : s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToArray();
                if (given.Length == 0) throw new RequestException(400, "the 'class' field is missing; give the right class of the image");
                var indices = new List<int>();
                foreach (var name in given)
                {
                    int i = IndexOf(model.Info.Classes, name);
                    if (i < 0) throw new RequestException(422, $"class '{Clip(name)}' is not one of the model's classes ({string.Join(", ", model.Info.Classes)})");
                    indices.Add(i);
                }
                if (!model.Info.MultiLabel && indices.Distinct().Count() > 1)
                    throw new RequestException(422, $"the model is single-label; give one class, got {given.Length} ({string.Join(", ", given.Select(Clip))})");
                var upload = images[0];
                Task<Prediction> queued;
                using (batcher.Preparing())
                    queued = batcher.PredictAsync(model, await Uploads.PrepareAsync(model, upload, o), upload.Name);
                var predicted = await queued;
                string ext = Uploads.ExtensionOf(upload.Bytes);
                var result = store.Add(upload.Bytes, ext, indices, model, predicted, upload.Name);
                metrics.Correction(result.StoredNow);
                return Results.Json(new
                {
                    stored = result.StoredNow,
                    sha256 = result.Sha256,
                    file = result.Files[0],
                    files = result.Files,
                    classes = indices.Distinct().Select(i => model.Info.Classes[i]).ToArray(),
                    predicted = predicted.Class,
                    probability = Math.Round(predicted.Probability, 6),
                    model = Identity(model),
                }, statusCode: result.StoredNow ? 201 : 200);
            }
            catch (RequestException)
            {
                metrics.Correction(null);
                throw;
            }
        })));

        app.MapGet("/api/model", () => Results.Json(Describe(host, o, store)));

        app.MapPost("/api/reload", () =>
        {
            var r = host.Reload();
            return Results.Json(new { status = r.Status, error = r.Error, model = Identity(r.Model) }, statusCode: r.Status == "failed" ? 422 : 200);
        });

        app.MapGet("/healthz", () => Results.Json(new { status = "ok", model = host.Current.Sha256 }));

        app.MapGet("/metrics", () => Results.Json(metrics.Snapshot(host)));
    }

    // Turns refusals into {"error": ...} with their status, and anything else into a 500 that says what.
    private static async Task<IResult> Guard(Func<Task<IResult>> handle)
    {
        try { return await handle(); }
        catch (RequestException e) { return Results.Json(new { error = e.Message }, statusCode: e.Status); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Results.Json(new { error = $"internal error ({e.GetType().Name}): {e.Message.ReplaceLineEndings(" ")}" }, statusCode: 500);
        }
    }

    private static object Identity(LoadedModel m) => new
    {
        sha256 = m.Sha256,
        generation = m.Generation,
        loaded_at = m.LoadedAt.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };

    private static object Describe(LoadedModel m, Prediction p, int topK)
    {
        var order = Enumerable.Range(0, p.Probabilities.Length).OrderByDescending(i => p.Probabilities[i]).ThenBy(i => i).Take(topK);
        return new
        {
            name = p.File,
            @class = p.Class,
            probability = Math.Round(p.Probability, 6),
            labels = p.Labels,
            top = order.Select(i => new { @class = m.Info.Classes[i], probability = Math.Round(p.Probabilities[i], 6) }).ToArray(),
        };
    }

    private static object Describe(ModelHost host, ServeOptions o, CorrectionStore? store)
    {
        var m = host.Current;
        var info = m.Info;
        return new
        {
            arch = info.Arch,
            classes = info.Classes,
            channels = info.Channels,
            input_size = new[] { info.Size.H, info.Size.W },
            resize = info.Resize.ToString().ToLowerInvariant(),
            stats = new { mean = info.Stats.Mean, std = info.Stats.Std },
            multi_label = info.MultiLabel,
            threshold = info.Threshold,
            identity = Identity(m),
            weights_file = m.WeightsFile,
            device = (o.Device ?? Device.Cpu).ToString(),
            last_reload_error = host.LastReloadError,
            corrections = store is not null,
            batching = new { max_batch = o.MaxBatch, max_wait_ms = o.MaxWait.TotalMilliseconds },
            limits = new { max_body_bytes = o.MaxBodyBytes, max_pixels = o.MaxPixels, max_images = o.MaxImagesPerRequest, decode_timeout_s = o.DecodeTimeout.TotalSeconds },
        };
    }

    private static int IndexOf(IReadOnlyList<string> classes, string name)
    {
        for (int i = 0; i < classes.Count; i++) if (classes[i] == name) return i;
        return -1;
    }

    // A name from a request echoed in an error: at most 100 characters.
    private static string Clip(string s) => s.Length <= 100 ? s : s[..100] + "...";
}
