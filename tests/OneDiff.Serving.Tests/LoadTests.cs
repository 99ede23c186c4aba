using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>Many clients at once, a full queue, and clients that go away: on loopback, bounded in
/// count and time. Throughput is measured by the benchmark (docs/benchmarks.md), not here.</summary>
[Collection(ServedModelCollection.Name)]
public class LoadTests(ServedModel m)
{
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task SixtyFourClientsEachGetTheirOwnPairsCaption()
    {
        await using var server = await m.StartAsync(new ServingOptions { MaxBatch = 16, MaxWaitMilliseconds = 20 });
        using var http = new HttpClient { Timeout = Bound };
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(Bound);
        string url = server.Urls[0];
        // Each client sends two pairs in turn; neighbours send other pairs, so a swapped answer shows.
        var clients = Enumerable.Range(0, 64).Select(async client =>
        {
            var wrong = new List<string>();
            for (int k = 0; k < 2; k++)
            {
                int pair = (client + 3 * k) % m.Images.Count;
                var (status, json, _) = await ServedModel.PostAsync(http, url, m.Body(pair).ToJsonString(), cancel: bound.Token);
                if (status != 200) wrong.Add($"client {client}, pair {pair}: {status} {json}");
                else if (ServedModel.Content(json) != m.Expected[pair]) wrong.Add($"client {client}, pair {pair}: '{ServedModel.Content(json)}', expected '{m.Expected[pair]}'");
            }
            return wrong;
        }).ToList();
        var problems = (await Task.WhenAll(clients)).SelectMany(w => w).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        // They were batched: 128 captions in fewer batches than requests.
        string metrics = await http.GetStringAsync(url + "/metrics", bound.Token);
        Assert.Equal(128, Metric(metrics, "onediff_captions_total"));
        Assert.True(Metric(metrics, "onediff_batch_size_count") < 128, $"no batch held more than one pair:\n{metrics}");
        Assert.Equal(128, Metric(metrics, "onediff_requests_total{status=\"200\"}"));
        Assert.Equal(0, Metric(metrics, "onediff_queue_length"));
    }

    [Fact]
    public async Task AFullQueueAnswers429WithRetryAfterAndRecovers()
    {
        await using var server = await m.StartAsync(new ServingOptions { MaxBatch = 2, MaxQueue = 4 });
        using var http = new HttpClient { Timeout = Bound };
        string url = server.Urls[0];
        var cancel = TestContext.Current.CancellationToken;
        server.Batcher.Pause();
        var waiting = Enumerable.Range(0, 4).Select(i => ServedModel.PostAsync(http, url, m.Body(i).ToJsonString(), cancel: cancel)).ToList();
        await Until(() => server.Batcher.Waiting == 4, "four requests queued");
        for (int i = 0; i < 3; i++)
        {
            var (status, json, response) = await ServedModel.PostAsync(http, url, m.Body(4).ToJsonString(), cancel: cancel);
            Assert.Equal(429, status);
            Assert.Equal("queue_full", json!["error"]!["code"]!.GetValue<string>());
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "no Retry-After");
        }
        server.Batcher.Resume();
        var answers = await Task.WhenAll(waiting);
        for (int i = 0; i < 4; i++) Assert.Equal(m.Expected[i], ServedModel.Content(answers[i].Json));
        var (after, afterJson, _) = await ServedModel.PostAsync(http, url, m.Body(4).ToJsonString(), cancel: cancel);
        Assert.Equal(200, after);
        Assert.Equal(m.Expected[4], ServedModel.Content(afterJson));
        string metrics = await http.GetStringAsync(url + "/metrics", cancel);
        Assert.Equal(3, Metric(metrics, "onediff_request_errors_total{code=\"queue_full\"}"));
    }

    [Fact]
    public async Task ClientsThatDisconnectGiveTheirPlacesBack()
    {
        await using var server = await m.StartAsync(new ServingOptions { MaxBatch = 4, MaxQueue = 4 });
        using var http = new HttpClient { Timeout = Bound };
        string url = server.Urls[0];
        var cancel = TestContext.Current.CancellationToken;
        server.Batcher.Pause();
        for (int round = 0; round < 3; round++)
        {
            using var leave = new CancellationTokenSource();
            var gone = Enumerable.Range(0, 4).Select(i => ServedModel.PostAsync(http, url, m.Body(i).ToJsonString(), cancel: leave.Token)).ToList();
            await Until(() => server.Batcher.Waiting == 4, "four requests queued");
            leave.Cancel();
            foreach (var g in gone) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => g);
            await Until(() => server.Batcher.Waiting == 0, "the places of the clients that left freed");
        }
        // The queue has room for four again, and they are answered once the batches run.
        var staying = Enumerable.Range(4, 4).Select(i => ServedModel.PostAsync(http, url, m.Body(i).ToJsonString(), cancel: cancel)).ToList();
        await Until(() => server.Batcher.Waiting == 4, "four new requests queued");
        server.Batcher.Resume();
        var answers = await Task.WhenAll(staying);
        for (int i = 0; i < 4; i++) Assert.Equal(m.Expected[4 + i], ServedModel.Content(answers[i].Json));
        // A streaming client that leaves mid-caption ends its row; the server stays well.
        using (var leave = new CancellationTokenSource())
        {
            var body = m.Body(0, extra: b => b["stream"] = true).ToJsonString();
            using var request = new HttpRequestMessage(HttpMethod.Post, url + "/v1/chat/completions") { Content = new StringContent(body) };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, leave.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(leave.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(leave.Token));
            leave.Cancel();
        }
        var (status, json, _) = await ServedModel.PostAsync(http, url, m.Body(1).ToJsonString(), cancel: cancel);
        Assert.Equal(200, status);
        Assert.Equal(m.Expected[1], ServedModel.Content(json));
        Assert.Equal(0, server.Batcher.Waiting);
    }

    internal static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"not reached within 20 s: {what}");
            await Task.Delay(10);
        }
    }

    internal static double Metric(string text, string name)
    {
        var match = Regex.Match(text, "^" + Regex.Escape(name) + " (\\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"no {name} in /metrics");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
