// The HTML report parsed as XML: the caller's summary (escaped), the epoch table with the Recorder's
// numbers, the inline SVG plots, the lr finder, the confusion matrix and the top losses as figures (each
// image a PNG data URI, its caption HTML text), or a table when the images were not kept; written whole
// through a temporary file that does not stay behind. (The layout in a browser: ReportBrowserTests.)
using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using NativeCnn.Data;
using NativeCnn.Nn;
using NativeCnn.Reports;
using NativeCnn.Tests.Data;
using NativeCnn.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace NativeCnn.Tests.Reports;

public class HtmlReportTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static Learner Trained()
    {
        var rng = new Rng(11);
        (Tensor, Tensor) Batch(int n)
        {
            var x = new float[n * 4];
            var y = new int[n];
            for (int i = 0; i < n; i++)
            {
                y[i] = (int)(rng.NextDouble() * 3);
                for (int k = 0; k < 4; k++) x[i * 4 + k] = (float)(rng.NextDouble() - 0.5 + (k == y[i] ? 1 : 0));
            }
            return (Tensor.FromArray(x, new[] { n, 1, 2, 2 }), Tensor.FromArray(y, new[] { n }));
        }
        var train = Enumerable.Range(0, 4).Select(_ => Batch(8)).ToList();
        var data = new DataBunch(new ListSource(train), new ListSource(new[] { Batch(6), Batch(6) }))
        {
            Classes = new[] { "ant", "bee", "cow" },
            Stats = new NormStats(new[] { 0.5f }, new[] { 0.5f }),
        };
        var learn = new Learner(data, new Sequential(new Flatten(), new Linear(4, 3, rng: new Rng(2))), (p, t) => F.CrossEntropy(p, t), new[] { Metrics.Accuracy(), Metrics.ErrorRate() });
        learn.FitOneCycle(2, 0.05f);
        return learn;
    }

    private static XDocument Parse(string html) =>
        XDocument.Load(XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore }));

    [Fact]
    public void GathersSummaryEpochsPlotsAndInterpretationInOneSelfContainedFile()
    {
        var learn = Trained();
        var interp = ClassificationInterpretation.FromLearner(learn, keepImages: 4);
        var lrs = Enumerable.Range(0, 20).Select(i => 1e-5 * Math.Pow(10, i / 5.0)).ToArray();
        var losses = lrs.Select(l => 1.5 - 0.1 * Math.Log10(l)).ToArray();
        using var dir = new TempDir();
        string path = dir.File("report.html");
        learn.WriteHtmlReport(path, interp, new Dictionary<string, string> { ["model"] = "linear <tiny>", ["seed"] = "11" },
                              new LrFinderPlotData(lrs, losses, 1e-3, 2e-2), topLosses: 4);
        Assert.Equal(new[] { "report.html" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));

        var doc = Parse(File.ReadAllText(path));
        var body = doc.Root!.Element("body")!;
        var tables = body.Elements("table").ToList();
        var summary = tables.Single(t => (string?)t.Attribute("class") == "summary");
        Assert.Equal(new[] { "linear <tiny>", "11" }, summary.Elements("tr").Select(r => r.Element("td")!.Value));

        var r = learn.Recorder;
        var rows = tables.Single(t => (string?)t.Attribute("class") == "epochs").Elements("tr").ToList();
        Assert.Equal(new[] { "epoch", "train_loss", "valid_loss", "accuracy", "error_rate", "time" }, rows[0].Elements("th").Select(h => h.Value));
        Assert.Equal(3, rows.Count);
        for (int e = 0; e < 2; e++)
        {
            var cells = rows[e + 1].Elements("td").Select(c => c.Value).ToArray();
            Assert.Equal(e.ToString(CultureInfo.InvariantCulture), cells[0]);
            Assert.Equal(r.TrainLosses[e].ToString("F6", CultureInfo.InvariantCulture), cells[1]);
            Assert.Equal(r.ValidLosses[e].ToString("F6", CultureInfo.InvariantCulture), cells[2]);
            Assert.Equal(r.MetricValues[e][1].ToString("F6", CultureInfo.InvariantCulture), cells[4]);
        }

        var svgs = body.Descendants(Svg + "svg").ToList();
        var titles = svgs.Select(s => s.Elements(Svg + "text").FirstOrDefault(t => (string?)t.Attribute("class") == "title")?.Value).ToList();
        Assert.Equal(new[] { "Losses", "Metrics", "Learning rate", "Momentum", "Learning rate finder", "Confusion matrix" }, titles);
        // The loss plot holds every recorded batch loss; the confusion matrix the interpretation's counts.
        var train = svgs[0].Elements(Svg + "g").Single(g => (string?)g.Attribute("data-name") == "train");
        Assert.Equal(r.Losses.Count, train.Element(Svg + "polyline")!.Attribute("points")!.Value.Split(' ').Length);
        var cm = interp.ConfusionMatrix();
        foreach (var c in svgs[5].Elements(Svg + "rect").Where(e => (string?)e.Attribute("class") == "cell"))
            Assert.Equal(cm[int.Parse(c.Attribute("data-row")!.Value), int.Parse(c.Attribute("data-col")!.Value)].ToString(CultureInfo.InvariantCulture), c.Attribute("data-value")!.Value);
        Assert.Equal(2, svgs[4].Elements(Svg + "circle").Count(c => (string?)c.Attribute("class") == "marker"));

        // The top losses: one figure per item, its image (the item's picture as PNG) and its caption as text,
        // fastai's prediction/actual and loss/probability of the actual class.
        Assert.DoesNotContain(tables, t => (string?)t.Attribute("class") == "top-losses");
        var figures = body.Descendants("figure").Where(f => (string?)f.Attribute("class") == "top-loss").ToList();
        var want = interp.TopLosses(4);
        Assert.Equal(want.Select(t => t.Index.ToString(CultureInfo.InvariantCulture)), figures.Select(f => f.Attribute("data-index")!.Value));
        for (int i = 0; i < want.Count; i++)
        {
            int item = want[i].Index, actual = interp.Actual[item];
            var caption = figures[i].Element("figcaption")!;
            string Span(string cls) => caption.Descendants("span").Single(x => (string?)x.Attribute("class") == cls).Value;
            Assert.Equal(interp.Classes[interp.Predicted[item]], Span("predicted"));
            Assert.Equal(interp.Classes[actual], Span("actual"));
            Assert.Equal(want[i].Loss.ToString("F2", CultureInfo.InvariantCulture), Span("loss"));
            Assert.Equal(interp.Prob(item, actual).ToString("F2", CultureInfo.InvariantCulture), Span("probability"));
            string src = figures[i].Element("img")!.Attribute("src")!.Value;
            Assert.StartsWith("data:image/png;base64,", src);
            using var png = Image.Load<Rgb24>(Convert.FromBase64String(src["data:image/png;base64,".Length..]));
            using var direct = interp.ImageView(item);
            Assert.Equal((2, 2), (png.Width, png.Height));
            for (int y = 0; y < 2; y++) for (int x = 0; x < 2; x++) Assert.Equal(direct[x, y], png[x, y]);
            // the picture is the de-normalised input (stats 0.5 / 0.5), clamped to [0, 1]
            float v = Math.Clamp(interp.ImageOf(item)![1] * 0.5f + 0.5f, 0f, 1f);
            Assert.Equal((byte)Math.Round(v * 255f), png[1, 0].R);
        }
        Assert.DoesNotContain("<script", File.ReadAllText(path));
    }

    [Fact]
    public void TopLossesWithoutTheirImagesAreATable()
    {
        var learn = Trained();
        var interp = ClassificationInterpretation.FromLearner(learn, keepImages: 0);
        var body = Parse(HtmlReport.Build(learn.Recorder.ToSeries(), interp.ToSection(3))).Root!.Element("body")!;
        Assert.Empty(body.Descendants("figure"));
        var rows = body.Elements("table").Single(t => (string?)t.Attribute("class") == "top-losses").Elements("tr").Skip(1).ToList();
        var want = interp.TopLosses(3);
        Assert.Equal(want.Select(t => t.Index.ToString(CultureInfo.InvariantCulture)), rows.Select(r => r.Element("td")!.Value));
        Assert.Equal(want.Select(t => t.Loss.ToString("F6", CultureInfo.InvariantCulture)), rows.Select(r => r.Elements("td").ElementAt(3).Value));
        Assert.Single(body.Elements("p"), p => (string?)p.Attribute("class") == "no-images");
    }

    [Fact]
    public void AReportWithoutAFitSaysSo()
    {
        var html = HtmlReport.Build(new Recorder().ToSeries());
        var body = Parse(html).Root!.Element("body")!;
        Assert.Contains("No epoch was recorded.", body.Elements("p").Select(p => p.Value));
        Assert.Empty(body.Descendants(Svg + "svg"));
        Assert.DoesNotContain("Training curves", body.Elements("h2").Select(h => h.Value));
    }

    [Fact]
    public void WritingIntoAMissingFolderNamesIt()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DirectoryNotFoundException>(() => ReportFiles.WriteText(Path.Combine(dir.Path, "nope", "r.html"), "x"));
        Assert.Contains("nope", e.Message);
    }
}
