using System.Text.Json.Nodes;
using Microsoft.Playwright;
using OneDiff.MLNet;
using OneDiff.Modeling.Models.OneDiff;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>The <c>change_map</c> extension: the maps beside the caption, plain and streamed, equal
/// to the transformer's own; absent unless asked for; drawn by the page.</summary>
[Collection(ServedModelCollection.Name)]
public class ChangeMapServingTests(ServedModel m)
{
    [Fact]
    public async Task AskedForTheResponseCarriesTheTransformersMapsAndOtherwiseNoField()
    {
        var cancel = TestContext.Current.CancellationToken;
        await using var server = await m.StartAsync();
        using var http = new HttpClient();
        string url = server.Urls[0];

        var (status, json, _) = await ServedModel.PostAsync(http, url, m.Body(1, extra: b => b["change_map"] = "attention").ToJsonString(), cancel: cancel);
        Assert.Equal(200, status);
        Assert.Equal(m.Expected[1], ServedModel.Content(json));
        var map = json!["change_map"]!;
        Assert.Equal(4, map["grid"]!.GetValue<int>());
        var before = map["before"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
        Assert.Equal(16, before.Length);
        Assert.Equal(1f, before.Sum(), 4);
        // The procedural images are 64 x 64, the model's own size: the grid covers all of each.
        Assert.Equal([0.0, 0.0, 64.0, 64.0], map["before_covers"]!.AsArray().Select(v => v!.GetValue<double>()));

        // The same numbers as the transformer gives for the pair.
        using var local = new Microsoft.ML.MLContext().DiffCaptioning().LoadTransformer(m.ModelFile);
        var pair = local.Prepare(OneDiff.Data.Images.ImageInput.FromBytes(m.Images[1].A, "a"), OneDiff.Data.Images.ImageInput.FromBytes(m.Images[1].B, "b"), null, "test");
        var expected = local.Caption([new CaptionRequest(pair)], 1, ChangeMapMethod.DeltaAttention)[0].Map!;
        Assert.Equal(expected.Before, before, (x, y) => Math.Abs(x - y) < 1e-5);

        var (_, plain, _) = await ServedModel.PostAsync(http, url, m.Body(1).ToJsonString(), cancel: cancel);
        Assert.Null(plain!["change_map"]);
        Assert.Equal(m.Expected[1], ServedModel.Content(plain));

        var (bad, error, _) = await ServedModel.PostAsync(http, url, m.Body(1, extra: b => b["change_map"] = "everywhere").ToJsonString(), cancel: cancel);
        Assert.Equal(400, bad);
        Assert.Equal("change_map", error!["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task AStreamedCaptionBringsItsMapInTheLastChunk()
    {
        var cancel = TestContext.Current.CancellationToken;
        await using var server = await m.StartAsync();
        using var http = new HttpClient();
        var body = m.Body(3, extra: b => { b["stream"] = true; b["change_map"] = true; });
        using var response = await http.PostAsync(server.Urls[0] + "/v1/chat/completions", new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), cancel);
        string text = await response.Content.ReadAsStringAsync(cancel);
        var chunks = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e != "data: [DONE]").Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var withMap = chunks.Where(c => c["change_map"] is not null).ToList();
        Assert.Single(withMap);
        Assert.Equal("stop", withMap[0]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(16, withMap[0]["change_map"]!["after"]!.AsArray().Count);
    }

    [Fact]
    public async Task ThePageDrawsTheMapsOverBothImagesWhenAsked()
    {
        string chromium = PageTests.Chromium();
        await using var server = await m.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(server.Urls[0] + "/");
        var pair = m.Trained.Pairs[4];
        await page.SetInputFilesAsync("#before-file", pair.A);
        await page.SetInputFilesAsync("#after-file", pair.B);
        await page.WaitForSelectorAsync("#after-slot.filled img");
        await page.CheckAsync("#show-map");
        await page.ClickAsync("#describe");
        await page.WaitForSelectorAsync("#caption[data-done='true']", new PageWaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal(m.Expected[4], await page.InnerTextAsync("#caption"));
        await page.WaitForSelectorAsync("#before-preview[data-mapped='true']");
        await page.WaitForSelectorAsync("#after-preview[data-mapped='true']");
        // The previews are now the drawn images (PNG data), at the images' own size.
        Assert.StartsWith("data:image/png", await page.GetAttributeAsync("#before-preview", "src"));
        Assert.Equal(64, await page.EvaluateAsync<int>("document.getElementById('before-preview').naturalWidth"));
    }
}
