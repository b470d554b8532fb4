// In-process inference in a web service (ML.NET's PredictionEngine pattern): the exported model is loaded
// once into a singleton Predictor (thread-safe), the engine's warnings go to the host's logging, and
// POST /predict takes an image in the request body and answers with the class and probabilities.
//   dotnet run -- --model DIR                    serve on http://localhost:5000
//   curl --data-binary @digit.png http://localhost:5000/predict
//   dotnet run -- --model DIR --self-test IMAGE  start on a free port, post IMAGE once, print the answer, stop
using NativeCnn;
using NativeCnn.Training;

string? model = ArgAfter("--model") ?? throw new ArgumentException("usage: WebService --model DIR [--self-test IMAGE]");
string? selfTest = ArgAfter("--self-test");

var builder = WebApplication.CreateBuilder();
if (selfTest is not null) builder.Logging.SetMinimumLevel(LogLevel.Warning);   // CI: the answer, not the request log
builder.Services.AddSingleton(_ => Predictor.Load(model));
var app = builder.Build();
NativeCnnLogging.LoggerFactory = app.Services.GetRequiredService<ILoggerFactory>();

app.MapGet("/", (Predictor p) => new { classes = p.Classes, channels = p.Info.Channels, size = new[] { p.Info.Size.H, p.Info.Size.W } });
app.MapPost("/predict", async (HttpRequest request, Predictor predictor) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body);
    body.Position = 0;
    try
    {
        var p = predictor.Predict(body, "request");
        return Results.Ok(new { @class = p.Class, probability = p.Probability, probabilities = predictor.Classes.Zip(p.Probabilities).ToDictionary(c => c.First, c => c.Second) });
    }
    catch (ArgumentException e)   // not an image, or channels the model cannot take: the client's fault
    {
        return Results.BadRequest(new { error = e.Message });
    }
});

if (selfTest is null)
{
    app.Run("http://localhost:5000");
    return 0;
}

// Self-test (CI): a free port, one request, the answer checked against the Predictor called directly.
app.Urls.Add("http://127.0.0.1:0");
await app.StartAsync();
var address = app.Urls.First();
using var http = new HttpClient();
var response = await http.PostAsync(address + "/predict", new ByteArrayContent(File.ReadAllBytes(selfTest)));
string json = await response.Content.ReadAsStringAsync();
Console.WriteLine($"POST {address}/predict -> {(int)response.StatusCode} {json}");
var bad = await http.PostAsync(address + "/predict", new StringContent("not an image"));
Console.WriteLine($"POST {address}/predict (not an image) -> {(int)bad.StatusCode}");
var direct = app.Services.GetRequiredService<Predictor>().Predict(selfTest);
await app.StopAsync();
bool ok = response.IsSuccessStatusCode && json.Contains($"\"class\":\"{direct.Class}\"") && (int)bad.StatusCode == 400;
Console.WriteLine(ok ? "self-test passed" : "self-test FAILED");
return ok ? 0 : 1;

string? ArgAfter(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
