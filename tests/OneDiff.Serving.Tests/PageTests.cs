using Microsoft.Playwright;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>The page at <c>/</c> in a real browser: Debian's Chromium, headless, driven by Playwright.</summary>
[Collection(ServedModelCollection.Name)]
public class PageTests(ServedModel m)
{
    /// <summary>Chromium from ONEDIFF_CHROMIUM or the PATH; a skip with the reason where there is
    /// none, except where ONEDIFF_REQUIRE_CHROMIUM=1 (CI, whose .ci/run installs it) makes it a failure.</summary>
    internal static string Chromium()
    {
        string? path = Environment.GetEnvironmentVariable("ONEDIFF_CHROMIUM") is { Length: > 0 } set ? set
            : new[] { "chromium", "chromium-browser", "google-chrome" }
                .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(dir => Path.Combine(dir, name)))
                .FirstOrDefault(File.Exists);
        if (path is not null) return path;
        string reason = "needs a Chromium (Debian: apt-get install chromium; or set ONEDIFF_CHROMIUM to a Chrome or Chromium binary)";
        if (Environment.GetEnvironmentVariable("ONEDIFF_REQUIRE_CHROMIUM") == "1") Assert.Fail(reason);
        Assert.Skip(reason);
        return "";
    }

    [Fact]
    public async Task TwoImagesInTheCaptionStreamsOnThePage()
    {
        string chromium = Chromium();
        await using var server = await m.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium, Headless = true,
            // Root in a container has no user namespace for Chromium's sandbox.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1000, Height = 760 } });
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(server.Urls[0] + "/");
        Assert.True(await page.IsDisabledAsync("#describe"), "the button works before both images are in");
        var pair = m.Trained.Pairs[2];
        await page.SetInputFilesAsync("#before-file", pair.A);
        await page.SetInputFilesAsync("#after-file", pair.B);
        await page.WaitForSelectorAsync("#before-slot.filled img");
        await page.WaitForSelectorAsync("#after-slot.filled img");
        await page.ClickAsync("#describe");
        await page.WaitForSelectorAsync("#caption[data-done='true']", new PageWaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal(m.Expected[2], await page.InnerTextAsync("#caption"));
        Assert.StartsWith("done in", await page.InnerTextAsync("#status"));
        // Everything it needs comes from the server itself: no CDN.
        Assert.All(requests, r => Assert.True(r.StartsWith(server.Urls[0]) || r.StartsWith("data:"), $"the page fetched {r}"));

        string folder = Environment.GetEnvironmentVariable("ONEDIFF_SCREENSHOT_DIR") is { Length: > 0 } dir ? dir : TestPaths.NewTempDir("page");
        string shot = Path.Combine(folder, "serving-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 10_000);
    }
}
