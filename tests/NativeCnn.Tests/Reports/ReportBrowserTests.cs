// The HTML report as a person sees it: opened from disk in Debian's headless Chromium (Selenium), at a
// viewport of 1920, 1280 and 800 CSS pixels. The layout is read from the page (getBoundingClientRect),
// not from pixels: the plots form a grid of 3 / 2 / 1 columns that do not overlap and stay inside the
// window; each top-loss caption is text under its own image, inside its figure and the window; the
// page never scrolls sideways. A full-page screenshot per width goes to NATIVECNN_SCREENSHOTS (or
// screenshots/ beside the test assembly) for a person to look at. Skipped, with the reason, where
// /usr/bin/chromium or /usr/bin/chromedriver is missing (.ci/run installs them).
using System.Globalization;
using System.Text.Json;
using NativeCnn.Reports;
using NativeCnn.Tests.Data;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using SixLabors.ImageSharp;
using Xunit;
using Xunit.Abstractions;

namespace NativeCnn.Tests.Reports;

/// <summary>A fact that needs Debian's chromium and chromium-driver; skipped, saying which is missing, elsewhere.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Browser = "/usr/bin/chromium", Driver = "/usr/bin/chromedriver";

    public ChromiumFactAttribute()
    {
        var missing = new[] { Browser, Driver }.Where(p => !File.Exists(p)).ToArray();
        if (missing.Length > 0)
            Skip = $"no headless browser: {string.Join(" and ", missing)} missing (apt-get install -y chromium chromium-driver; .ci/run does)";
    }
}

public class ReportBrowserTests(ITestOutputHelper output)
{
    private static readonly string[] Classes = { "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "a_class_name_far_too_long_to_fit_any_caption_cell" };

    /// <summary>A report of a 3-epoch fit with an lr finder and 9 top losses (28x28 grey images), from plain data.</summary>
    private static string Report()
    {
        int batches = 60;
        var losses = Enumerable.Range(0, batches).Select(i => 2.3 * Math.Exp(-i / 25.0) + 0.05 * Math.Sin(i)).ToArray();
        var lrs = Enumerable.Range(0, batches).Select(i => 1e-3 * (1 + Math.Sin(Math.PI * i / batches))).ToArray();
        var series = new TrainingSeries(losses, new[] { 1.4, 0.6, 0.35 }, new[] { 0.9, 0.45, 0.3 }, new[] { "accuracy", "error_rate" },
            new[] { new[] { 0.71, 0.29 }, new[] { 0.86, 0.14 }, new[] { 0.91, 0.09 } }, new[] { 12.0, 11.5, 11.8 }, lrs, lrs.Select(l => 0.95 - 50 * l).ToArray());
        var finderLrs = Enumerable.Range(0, 40).Select(i => 1e-6 * Math.Pow(10, i / 6.5)).ToArray();
        var finderLosses = finderLrs.Select(l => 2.3 - 0.3 * Math.Log10(l / 1e-6) + (l > 1e-1 ? 8 * (l - 0.1) : 0)).ToArray();
        var counts = new int[10, 10];
        for (int i = 0; i < 10; i++) for (int j = 0; j < 10; j++) counts[i, j] = i == j ? 180 + 3 * i : (i * 7 + j * 3) % 5;
        var top = Enumerable.Range(0, 9).Select(k => new TopLossRow(100 + k, Classes[k % 10], Classes[(k + 3) % 10], 6.5 - 0.4 * k, 0.0015 * (k + 1))).ToList();
        top[4] = top[4] with { Actual = Classes[9] };   // a long class name must wrap inside its caption
        var images = top.Select((_, k) =>
        {
            var px = new float[28 * 28];
            for (int y = 0; y < 28; y++) for (int x = 0; x < 28; x++) px[y * 28 + x] = (x - 14) * (x - 14) + (y - 14) * (y - 14) < 30 + 8 * k ? 1f : 0.1f;
            using var img = ImageGrid.RenderImage(px, 1, 28, 28);
            using var ms = new MemoryStream();
            img.SaveAsPng(ms);
            return ms.ToArray();
        }).ToList();
        var interp = new InterpretationSection(2000, 10, Plots.ConfusionMatrix(counts, Classes), new[] { ("four", "nine", 7), ("seven", "one", 5) }, top, images);
        var summary = new Dictionary<string, string>
        {
            ["model"] = "mnist_cnn", ["data"] = "/home/someone/datasets/a/rather/long/path/without/any/spaces/to/the/images/of/the/run/train",
            ["epochs"] = "3", ["device"] = "cpu (2 threads)",
        };
        return HtmlReport.Build(series, interp, summary, new LrFinderPlotData(finderLrs, finderLosses, 3e-4, 1e-2));
    }

    private sealed record Box(double Left, double Top, double Right, double Bottom)
    {
        public double Width => Right - Left;
        public bool Overlaps(Box o) => Math.Min(Right, o.Right) - Math.Max(Left, o.Left) > 0.5 && Math.Min(Bottom, o.Bottom) - Math.Max(Top, o.Top) > 0.5;
        public override string ToString() => FormattableString.Invariant($"[{Left:F0},{Top:F0} - {Right:F0},{Bottom:F0}]");
    }

    private const string Measure = """
        const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
        return JSON.stringify({
          innerWidth: window.innerWidth,
          clientWidth: document.documentElement.clientWidth,
          scrollWidth: document.documentElement.scrollWidth,
          scrollHeight: document.documentElement.scrollHeight,
          curves: [...document.querySelectorAll('.plots')].map(g => [...g.querySelectorAll('svg.plot')].map(box)),
          matrix: box(document.querySelector('.matrix svg')),
          figures: [...document.querySelectorAll('figure.top-loss')].map(f => ({
            figure: box(f), image: box(f.querySelector('img')), caption: box(f.querySelector('figcaption')),
            natural: f.querySelector('img').naturalWidth, text: f.querySelector('figcaption').innerText })),
        });
        """;

    private static Box B(JsonElement a) => new(a[0].GetDouble(), a[1].GetDouble(), a[2].GetDouble(), a[3].GetDouble());

    private static int Columns(IEnumerable<Box> boxes) => boxes.Select(b => Math.Round(b.Left)).Distinct().Count();

    [ChromiumFact]
    public void PlotsFormAGridAndCaptionsSitUnderTheirImagesAtCommonWidths()
    {
        using var dir = new TempDir();
        string page = dir.File("report.html");
        File.WriteAllText(page, Report());
        string shots = Environment.GetEnvironmentVariable("NATIVECNN_SCREENSHOTS") is { Length: > 0 } s ? s : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(shots);

        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver), Path.GetFileName(ChromiumFactAttribute.Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-proxy-server", "--hide-scrollbars");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        try
        {
            driver.Navigate().GoToUrl(new Uri(page).AbsoluteUri);
            foreach (var (width, plotColumns) in new[] { (1920, 3), (1280, 2), (800, 1) })
            {
                driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
                    { ["width"] = width, ["height"] = 900, ["deviceScaleFactor"] = 1, ["mobile"] = false });
                using var doc = JsonDocument.Parse((string?)driver.ExecuteScript(Measure) ?? "null");
                var m = doc.RootElement;
                double vw = m.GetProperty("clientWidth").GetDouble();
                Assert.Equal(width, m.GetProperty("innerWidth").GetInt32());
                Assert.True(m.GetProperty("scrollWidth").GetDouble() <= vw, $"{width}px: the page scrolls sideways ({m.GetProperty("scrollWidth")} > {vw})");

                // The training curves (losses, metrics, lr, momentum): a grid of plotColumns columns.
                var groups = m.GetProperty("curves").EnumerateArray().Select(g => g.EnumerateArray().Select(B).ToList()).ToList();
                var curves = groups[0];
                var all = groups.SelectMany(g => g).Append(B(m.GetProperty("matrix"))).ToList();
                Assert.Equal(4, curves.Count);
                Assert.Equal(plotColumns, Columns(curves));
                if (plotColumns == 1)
                    for (int i = 1; i < curves.Count; i++) Assert.True(curves[i].Top >= curves[i - 1].Bottom, $"{width}px: plot {i} {curves[i]} is not under plot {i - 1} {curves[i - 1]}");
                else
                    Assert.Equal(curves[0].Top, curves[1].Top, 0.5);   // side by side on one row
                for (int i = 0; i < all.Count; i++)
                {
                    Assert.True(all[i].Left >= 0 && all[i].Right <= vw, $"{width}px: plot {i} {all[i]} leaves the window ({vw})");
                    Assert.True(all[i].Width >= 380, $"{width}px: plot {i} {all[i]} is too narrow to read");
                    for (int j = 0; j < i; j++) Assert.False(all[i].Overlaps(all[j]), $"{width}px: plots {j} {all[j]} and {i} {all[i]} overlap");
                }

                // The top losses: each caption is text under its own image, inside its figure and the window.
                var figures = m.GetProperty("figures").EnumerateArray().ToList();
                Assert.Equal(9, figures.Count);
                var boxes = figures.Select(f => B(f.GetProperty("figure"))).ToList();
                Assert.True(Columns(boxes) >= 4, $"{width}px: the top-loss figures form {Columns(boxes)} columns");
                for (int i = 0; i < figures.Count; i++)
                {
                    Box fig = boxes[i], img = B(figures[i].GetProperty("image")), cap = B(figures[i].GetProperty("caption"));
                    Assert.Equal(28, figures[i].GetProperty("natural").GetInt32());   // the embedded PNG decoded
                    Assert.True(img.Width >= 84, $"{width}px: image {i} {img} is shown too small");
                    Assert.True(cap.Top >= img.Bottom - 0.5 && cap.Top - img.Bottom < 20, $"{width}px: caption {i} {cap} is not just under its image {img}");
                    Assert.True(cap.Left >= fig.Left - 0.5 && cap.Right <= fig.Right + 0.5 && cap.Bottom <= fig.Bottom + 0.5, $"{width}px: caption {i} {cap} leaves its figure {fig}");
                    Assert.True(Math.Abs((cap.Left + cap.Right) / 2 - (img.Left + img.Right) / 2) < 1, $"{width}px: caption {i} {cap} is not centred on its image {img}");
                    Assert.True(cap.Right <= vw, $"{width}px: caption {i} {cap} leaves the window");
                    for (int j = 0; j < i; j++) Assert.False(fig.Overlaps(boxes[j]), $"{width}px: figures {j} and {i} overlap");
                    string text = figures[i].GetProperty("text").GetString()!;
                    var lines = text.Split('\n');
                    Assert.Equal(2, lines.Length);
                    Assert.Equal($"{Classes[(i + 3) % 10]}/{(i == 4 ? Classes[9] : Classes[i])}", lines[0]);
                    Assert.Equal(FormattableString.Invariant($"{6.5 - 0.4 * i:F2} / {0.0015 * (i + 1):F2}"), lines[1]);
                }

                // The whole page, for a person to look at.
                int height = Math.Min(m.GetProperty("scrollHeight").GetInt32(), 8000);
                driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
                    { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
                string shot = Path.Combine(shots, string.Create(CultureInfo.InvariantCulture, $"report-{width}.png"));
                driver.GetScreenshot().SaveAsFile(shot);
                output.WriteLine($"{width}px: {curves.Count} curves in {Columns(curves)} column(s), figures in {Columns(boxes)} columns; screenshot {shot}");
            }
        }
        finally
        {
            driver.Quit();
        }
    }
}
