using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OneDiff.Data.Images;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary>
/// The synthetic DiffCap route end to end, over real HTTP: InstructPix2Pix folders -> <c>data
/// edit-pairs</c> -> <c>data annotate</c> through Microsoft.Extensions.AI.OpenAI against a minimal
/// OpenAI-compatible endpoint on loopback (which rate-limits once) -> a file <c>train --check</c> accepts.
/// </summary>
public class AnnotateOverHttpTests
{
    /// <summary>A chat endpoint that answers each request from the instruction in it, checks the
    /// key, and answers the very first request 429 with Retry-After.</summary>
    sealed class FakeChatEndpoint : IAsyncDisposable
    {
        readonly WebApplication _app;
        int _calls;
        public ConcurrentQueue<string> Requests { get; } = new();
        public int RateLimited;

        public FakeChatEndpoint(string key)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _app = builder.Build();
            _app.MapPost("/v1/chat/completions", async (HttpContext context) =>
            {
                if (context.Request.Headers.Authorization != $"Bearer {key}") return Results.Json(new { error = new { message = "bad key" } }, statusCode: 401);
                var body = (await JsonNode.ParseAsync(context.Request.Body))!;
                if (Interlocked.Increment(ref _calls) == 1)
                {
                    Interlocked.Increment(ref RateLimited);
                    context.Response.Headers.RetryAfter = "1";
                    return Results.Json(new { error = new { message = "slow down", type = "rate_limit_error" } }, statusCode: 429);
                }
                string request = body["messages"]![0]!["content"]!.GetValue<string>();
                Requests.Enqueue(request);
                string edit = Regex.Match(request, "The instruction: (.*)\n").Groups[1].Value;
                string original = Regex.Match(request, "The original image: (.*)\n").Groups[1].Value;
                return Results.Json(new
                {
                    id = "chatcmpl-1", @object = "chat.completion", created = 0, model = body["model"]!.GetValue<string>(),
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = $"In {original}, someone did this: {edit}." }, finish_reason = "stop" } },
                    usage = new { prompt_tokens = 60, completion_tokens = 12, total_tokens = 72 },
                });
            });
        }

        public async Task<string> StartAsync()
        {
            await _app.StartAsync();
            return _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1";
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }

    [Fact]
    public async Task InstructPix2PixFoldersBecomeATrainingFileThroughAChatEndpoint()
    {
        string dir = TestPaths.NewTempDir("annotate-http");
        string root = Path.Combine(dir, "ip2p");
        var random = new Random(4);
        RgbImage Noise() { var px = new byte[32 * 32 * 3]; random.NextBytes(px); return new RgbImage(32, 32, px); }
        string[] edits = ["add a kayak", "make it snowy", "turn the car red"];
        for (int f = 0; f < 3; f++)
        {
            string folder = Path.Combine(root, $"000{f}");
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "prompt.json"), new JsonObject { ["input"] = $"scene {f}", ["edit"] = edits[f], ["output"] = $"scene {f} after '{edits[f]}'" }.ToJsonString());
            foreach (var seed in new[] { "1", "2" })
            {
                ImageDecoder.SavePng(Noise(), Path.Combine(folder, $"{seed}_0.png"));
                ImageDecoder.SavePng(Noise(), Path.Combine(folder, $"{seed}_1.png"));
            }
        }
        string candidates = Path.Combine(dir, "data", "candidates.jsonl"), trainFile = Path.Combine(dir, "data", "diffcap-synthetic.jsonl");
        var (code, stdout, err) = await OnediffProcess.RunAsync(null, "data", "edit-pairs", "--instructpix2pix", root, "--out", candidates);
        Assert.True(code == 0, err + stdout);
        Assert.Contains("wrote 6 synthetic candidate pair(s)", stdout);

        await using var endpoint = new FakeChatEndpoint("sk-test");
        string url = await endpoint.StartAsync();
        var environment = new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-test" };
        string[] annotate = ["data", "annotate", "--candidates", candidates, "--endpoint", url, "--model", "fake-chat", "--out", trainFile, "--concurrency", "2"];
        (code, stdout, err) = await OnediffProcess.RunAsync(environment, annotate);
        Assert.True(code == 0, err + stdout);
        Assert.Equal(1, endpoint.RateLimited);
        Assert.Equal(6, endpoint.Requests.Count);
        Assert.Contains("wrote 6 captioned pair(s)", stdout);
        Assert.Contains("sent 7 request(s)", stdout);
        Assert.Contains("432 tokens", stdout);
        var lines = File.ReadAllLines(trainFile).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.All(lines, l => Assert.Equal("diffcap-synthetic", l["task"]!.GetValue<string>()));
        var first = lines.Single(l => l["id"]!.GetValue<string>() == "0000/1");
        Assert.Equal("In scene 0, someone did this: add a kayak.", first["captions"]![0]!.GetValue<string>());
        Assert.Contains(endpoint.Requests, r => r.Contains("The edited image: scene 2 after 'turn the car red'"));

        // Again: everything comes from the cache, nothing is sent.
        (code, stdout, err) = await OnediffProcess.RunAsync(environment, annotate);
        Assert.True(code == 0, err + stdout);
        Assert.Contains("sent 0 request(s), 6 answer(s) from the cache", stdout);
        Assert.Equal(6, endpoint.Requests.Count);

        // A wrong key: every candidate named, the exit code says so.
        (code, stdout, err) = await OnediffProcess.RunAsync(new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-wrong" },
            ["data", "annotate", "--candidates", candidates, "--endpoint", url, "--model", "fake-chat", "--out", Path.Combine(dir, "data", "other.jsonl")]);
        Assert.Equal(1, code);
        Assert.Contains("left out candidates.jsonl line 1 (id 0000/1): the request failed after 1 try: HTTP 401", err);

        // The file trains as it is.
        File.WriteAllText(Path.Combine(dir, "config.yaml"), "train:\n  - { format: diffcap, root: data/diffcap-synthetic.jsonl }\noptions:\n  Preset: Tiny\n  BatchSize: 2\n  Device: cpu\n");
        (code, stdout, err) = await OnediffProcess.RunAsync(null, "train", "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 0, err + stdout);
        Assert.Contains("train[0] diffcap train: 6 records, 6 pairs, 6 references", stdout);
        Assert.Contains("no problems found", stdout);
    }
}
