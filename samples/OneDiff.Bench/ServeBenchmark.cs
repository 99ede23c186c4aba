using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.MLNet;
using OneDiff.Serving;

namespace OneDiff.Bench;

/// <summary>
/// <c>serve</c>: captions per second of <c>onediff serve</c> (in this process, on loopback) for 1, 8
/// and 64 concurrent clients, against the same pairs captioned offline by the batched decoder at the
/// server's batch size (what <c>onediff caption --pairs --batch-size N</c> runs), in one run,
/// in rounds (the median of each is reported). One client is one request at a time. Every server caption is checked against the offline one.
/// </summary>
static class ServeBenchmark
{
    public static int Run(string[] args)
    {
        string model = BenchArgs.Arg(args, "--model") ?? "/tmp/onediff-quickstart/onediff-tiny.zip";
        string pairsFile = BenchArgs.Arg(args, "--pairs") ?? "/tmp/onediff-quickstart/data/test.jsonl";
        int count = BenchArgs.Arg(args, "--count", 256);
        int maxBatch = BenchArgs.Arg(args, "--max-batch", 16);
        int repeats = BenchArgs.Arg(args, "--repeats", 3);
        int maxWait = BenchArgs.Arg(args, "--max-wait-ms", new ServingOptions().MaxWaitMilliseconds);
        if (!File.Exists(model) || !File.Exists(pairsFile))
        {
            Console.Error.WriteLine($"needs a model and its pairs: {model}, {pairsFile} (the quickstart writes both: dotnet run --project samples/OneDiff.Quickstart)");
            return 2;
        }
        var records = DiffCapJsonl.Read(pairsFile).Take(count).ToList();
        count = records.Count;
        var images = records.Select(r => (File.ReadAllBytes(r.Image1), File.ReadAllBytes(r.Image2))).ToList();

        var overrides = new CaptioningOverrides { BatchSize = maxBatch };
        using var offline = new MLContext().DiffCaptioning().LoadTransformer(model, overrides);
        Console.WriteLine($"{count} pairs of {pairsFile}, {offline.RunsOn}, max batch {maxBatch}, max wait {maxWait} ms, {Environment.ProcessorCount} cores");
        List<string> Offline() => offline.EnumerateCaptions(records.Select(r => new ImagePairRow(r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2)))).ToList();
        var expected = Offline(); // and warm-up

        var server = CaptionServer.StartAsync(() => new MLContext().DiffCaptioning().LoadTransformer(model, overrides),
            new ServingOptions { Urls = "http://127.0.0.1:0", ModelName = "tiny", MaxBatch = maxBatch, MaxWaitMilliseconds = maxWait, MaxQueue = 1024 }).GetAwaiter().GetResult();
        server.Ready.GetAwaiter().GetResult();
        using var http = new HttpClient();
        string url = server.Urls[0] + "/v1/chat/completions";
        var bodies = records.Select((r, i) => Body(r.Prompt, images[i].Item1, images[i].Item2)).ToList();
        Clients(http, url, bodies, 8, expected); // warm-up
        // Rounds of every measurement in turn, so a slow spell of the machine touches all of them; the median is kept.
        var runs = new Dictionary<string, List<double>>();
        int wrong = 0;
        void Time(string name, Action run)
        {
            var clock = Stopwatch.StartNew();
            run();
            (runs.TryGetValue(name, out var list) ? list : runs[name] = []).Add(count / clock.Elapsed.TotalSeconds);
        }
        for (int round = 0; round < repeats; round++)
        {
            Time("offline", () => Offline());
            foreach (int clients in new[] { 1, 8, 64 }) Time($"{clients}", () => wrong += Clients(http, url, bodies, clients, expected));
        }
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        double Median(string name) { var v = runs[name].Order().ToList(); return v[v.Count / 2]; }
        double offlineRate = Median("offline");
        Console.WriteLine($"offline, batched decoder: {offlineRate:F1} captions/s ({1000 / offlineRate:F2} ms a pair)   runs: {string.Join(", ", runs["offline"].Select(r => r.ToString("F0")))}");
        var rates = new[] { 1, 8, 64 }.ToDictionary(c => c, c => Median($"{c}"));
        foreach (var (clients, rate) in rates)
            Console.WriteLine($"server, {clients,2} concurrent client(s): {rate:F1} captions/s ({1000 / rate:F2} ms a pair)   runs: {string.Join(", ", runs[$"{clients}"].Select(r => r.ToString("F0")))}");
        Console.WriteLine($"64 clients / one at a time: {rates[64] / rates[1]:F2}x; 64 clients / offline batched: {100 * rates[64] / offlineRate:F0} %");
        Console.WriteLine(wrong == 0 ? "every server caption equals the offline one" : $"{wrong} server caption(s) differ from the offline ones");
        return wrong == 0 ? 0 : 1;
    }

    static string Body(string prompt, byte[] a, byte[] b) => new JsonObject
    {
        ["model"] = "tiny",
        ["messages"] = new JsonArray(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(
                new JsonObject { ["type"] = "text", ["text"] = prompt },
                new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(a) } },
                new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(b) } }),
        }),
    }.ToJsonString();

    /// <summary>Sends every body once, from <paramref name="clients"/> clients each waiting for its
    /// answer before sending the next; the number of answers that differ from <paramref name="expected"/>.</summary>
    static int Clients(HttpClient http, string url, IReadOnlyList<string> bodies, int clients, IReadOnlyList<string> expected)
    {
        int next = -1, wrong = 0;
        var tasks = Enumerable.Range(0, clients).Select(async _ =>
        {
            for (int i; (i = Interlocked.Increment(ref next)) < bodies.Count;)
            {
                using var response = await http.PostAsync(url, new StringContent(bodies[i], System.Text.Encoding.UTF8, "application/json"));
                var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                if (!response.IsSuccessStatusCode || json["choices"]![0]!["message"]!["content"]!.GetValue<string>() != expected[i]) Interlocked.Increment(ref wrong);
            }
        }).ToArray();
        Task.WaitAll(tasks);
        return wrong;
    }
}
