// The page in a real browser: Debian's headless Chromium driven through chromedriver (Selenium). It
// opens the page, uploads an image through the file input, reads the predicted class and probability
// from the page, picks another class and sends the correction, then finds the stored file and its log
// line on disk. Skipped, with the reason, where /usr/bin/chromium or /usr/bin/chromedriver is missing
// (.ci/run installs them). Must hold: the server listens on 127.0.0.1 and the browser goes nowhere else.
using System.Globalization;
using System.Text.Json;
using NativeCnn.Training;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;

namespace NativeCnn.Serve.Tests;

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

public class BrowserTests
{
    [ChromiumFact]
    public async Task UploadReadThePredictionAndSendACorrection()
    {
        using var dir = new TempDir();
        var model = dir.Sub("model");
        Bundles.Write(model, seed: 5);
        var corrections = dir.Sub("corrections");
        var image = Images.Save(dir.Sub("upload", "digit.png"), Images.Png(11));
        var expected = Predictor.Load(model).Predict(image);
        string right = Bundles.Classes.First(c => c != expected.Class);

        await using var server = await ModelServer.StartAsync(Api.Options(model, corrections));
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver), Path.GetFileName(ChromiumFactAttribute.Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-proxy-server");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        try
        {
            driver.Navigate().GoToUrl(server.Address);
            var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30));
            wait.Until(d => d.FindElement(By.Id("model-info")).Text.Contains("mnist_cnn"));
            Assert.Contains(Bundles.Sha256(model)[..12], driver.FindElement(By.Id("model-info")).Text);

            driver.FindElement(By.Id("files")).SendKeys(image);
            var result = wait.Until(d => d.FindElements(By.CssSelector(".result")).FirstOrDefault(r => r.FindElement(By.CssSelector(".pred-class")).Text.Length > 0));
            Assert.Equal("digit.png", result.FindElement(By.CssSelector(".name")).Text);
            Assert.Equal(expected.Class, result.FindElement(By.CssSelector(".pred-class")).Text);
            string shown = result.FindElement(By.CssSelector(".pred-prob")).Text;
            Assert.Equal((100 * expected.Probability).ToString("F1", CultureInfo.InvariantCulture) + "%", shown);
            Assert.Equal(3, result.FindElements(By.CssSelector(".top li")).Count);

            result.FindElement(By.CssSelector($".correct-class option[value='{right}']")).Click();
            result.FindElement(By.CssSelector(".send-correction")).Click();
            var status = wait.Until(_ => result.FindElement(By.CssSelector(".correction-status")) is { Text: var t } s && t.StartsWith("saved as ") ? s : null);
            string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(image)));
            Assert.Equal($"saved as {right}/{sha}.png", status.Text);
            Assert.Equal(File.ReadAllBytes(image), File.ReadAllBytes(Path.Combine(corrections, right, sha + ".png")));
            var line = JsonDocument.Parse(File.ReadAllLines(Path.Combine(corrections, CorrectionStore.LogName)).Single()).RootElement;
            Assert.Equal(right, line.GetProperty("class").GetString());
            Assert.Equal(expected.Class, line.GetProperty("predicted").GetString());
            Assert.Equal(expected.Probability, line.GetProperty("probability").GetDouble(), 5);
            Assert.Equal("digit.png", line.GetProperty("upload_name").GetString());
            Assert.Equal(Bundles.Sha256(model), line.GetProperty("model").GetString());
        }
        finally
        {
            driver.Quit();
        }
    }
}
