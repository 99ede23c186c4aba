using Microsoft.Playwright;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary><c>evaluate --report</c>'s page in headless Chromium: one row per pair, sorting by CIDEr
/// puts the lowest first, the group filter, and every image loads.</summary>
[Collection(ServedModelCollection.Name)]
public class ResultsPageTests(ServedModel m)
{
    [Fact]
    public async Task TheReportListsEveryPairSortsByCiderAndShowsItsImages()
    {
        string chromium = PageTests.Chromium();
        string dir = TestPaths.NewTempDir("report");
        string report = Path.Combine(dir, "report.html");
        var (code, stdout, err) = await OnediffProcess.RunAsync(null, "evaluate", "--model", m.ModelFile, "--format", "diffcap",
            "--root", Path.Combine(m.Trained.Folder, "train.jsonl"), "--report", report, "--device", "cpu");
        Assert.True(code == 0, err + stdout);
        Assert.Contains($"wrote {report}", err);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 900 } });
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(report).AbsoluteUri);

        var rows = page.Locator("#items tbody tr");
        Assert.Equal(m.Images.Count, await rows.CountAsync());
        // Every thumbnail decoded (two a row), from the page itself.
        var loaded = await page.EvaluateAsync<int>("Array.from(document.querySelectorAll('#items img')).filter(i => i.complete && i.naturalWidth > 0).length");
        Assert.Equal(2 * m.Images.Count, loaded);
        Assert.All(requests, r => Assert.True(r.StartsWith("file:") || r.StartsWith("data:"), $"the page fetched {r}"));

        // Sorting by CIDEr: the lowest first, then the highest first on a second click.
        async Task<double[]> Ciders() => await page.EvaluateAsync<double[]>("Array.from(document.querySelectorAll('#items tbody tr')).map(r => parseFloat(r.dataset.cider))");
        await page.ClickAsync("#items th[data-key=cider]");
        var ascending = await Ciders();
        Assert.Equal(ascending.Order(), ascending);
        await page.ClickAsync("#items th[data-key=cider]");
        var descending = await Ciders();
        Assert.Equal(descending.OrderDescending(), descending);
        // Each row shows its own prediction: the one the model gives that pair.
        var predictions = await page.EvaluateAsync<string[]>("Array.from(document.querySelectorAll('#items tbody tr')).map(r => r.dataset.id + '\\t' + r.dataset.prediction)");
        var ids = File.ReadLines(Path.Combine(m.Trained.Folder, "train.jsonl")).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!["id"]!.GetValue<string>()).ToList();
        foreach (var p in predictions)
        {
            var parts = p.Split('\t');
            Assert.Equal(m.Expected[ids.IndexOf(parts[0])], parts[1]);
        }
        // The filter by group (the change type) shows that group's rows only.
        await page.SelectOptionAsync("#group", new SelectOptionValue { Index = 1 });
        string group = await page.InputValueAsync("#group");
        int ofGroup = await page.EvaluateAsync<int>($"Array.from(document.querySelectorAll('#items tbody tr')).filter(r => r.dataset.group === '{group}').length");
        Assert.InRange(ofGroup, 1, m.Images.Count - 1);
        Assert.Equal(ofGroup, await page.Locator("#items tbody tr:visible").CountAsync());
        Assert.Contains($"{ofGroup} of {m.Images.Count} pairs", await page.InnerTextAsync("#shown"));
        await page.SelectOptionAsync("#group", new SelectOptionValue { Index = 0 });

        string folder = Environment.GetEnvironmentVariable("ONEDIFF_SCREENSHOT_DIR") is { Length: > 0 } shots ? shots : dir;
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, "results-page.png") });
    }
}
