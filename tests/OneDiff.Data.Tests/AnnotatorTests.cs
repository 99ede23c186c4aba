using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using OneDiff.Data.Annotation;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

/// <summary><see cref="CandidateAnnotator"/> against a scripted <see cref="IChatClient"/>.</summary>
public class AnnotatorTests
{
    /// <summary>Answers "caption of {request}" unless the script says otherwise for a request;
    /// records what it was sent and how many calls were in flight at once.</summary>
    sealed class ScriptedChat(Func<string, int, ChatResponse?>? script = null, TimeSpan? latency = null) : IChatClient
    {
        public ConcurrentQueue<(string Request, ChatOptions? Options)> Sent { get; } = new();
        readonly ConcurrentDictionary<string, int> _calls = new();
        int _inFlight;
        public int MaxInFlight;

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var message = Assert.Single(messages);
            Assert.Equal(ChatRole.User, message.Role);
            string request = message.Text;
            Sent.Enqueue((request, options));
            int now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref MaxInFlight, now);
            try
            {
                await Task.Delay(latency ?? TimeSpan.FromMilliseconds(5), cancellationToken);
                int call = _calls.AddOrUpdate(request, 1, (_, c) => c + 1);
                return script?.Invoke(request, call) ?? new ChatResponse(new ChatMessage(ChatRole.Assistant, $"caption of {request}"))
                {
                    FinishReason = ChatFinishReason.Stop, Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 4 },
                };
            }
            finally { Interlocked.Decrement(ref _inFlight); }
        }

        static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }

    static List<AnnotationRequest> Requests(int n) =>
        Enumerable.Range(0, n).Select(i => new AnnotationRequest($"c.jsonl line {i + 1} (id p{i})", $"p{i}", $"request {i}")).ToList();

    [Fact]
    public async Task EachRequestIsSentOnceWithTheSettingsAndAtMostTheAllowedNumberAtOnce()
    {
        var chat = new ScriptedChat(latency: TimeSpan.FromMilliseconds(20));
        var options = new AnnotationOptions { Model = "qwen2-72b", Concurrency = 3, Temperature = 0.2f, MaxTokens = 50 };
        var progress = new List<string>();
        var result = await CandidateAnnotator.AnnotateAsync(chat, Requests(20), options, p => progress.Add(p.ToString()), TestContext.Current.CancellationToken);
        Assert.Equal(20, result.Answers.Count);
        Assert.Equal("caption of request 7", result.Answers["p7"]);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"request {i}").Order(), chat.Sent.Select(s => s.Request).Order());
        Assert.All(chat.Sent, s => { Assert.Equal("qwen2-72b", s.Options!.ModelId); Assert.Equal(0.2f, s.Options.Temperature); Assert.Equal(50, s.Options.MaxOutputTokens); });
        Assert.InRange(chat.MaxInFlight, 2, 3);
        Assert.Equal((200, 80), (result.InputTokens, result.OutputTokens));
        Assert.Contains("annotated 20/20", progress[^1]);
        Assert.Contains("280 tokens", progress[^1]);
        Assert.Empty(result.Problems);
    }

    [Fact]
    public async Task RateLimitsAndServerErrorsAreRetriedHonouringRetryAfter()
    {
        var waits = new ConcurrentBag<TimeSpan>();
        var chat = new ScriptedChat((request, call) => (request, call) switch
        {
            ("request 0", 1) => throw new ChatRequestFailure(429, "HTTP 429: slow down", TimeSpan.FromSeconds(7)),
            ("request 1", <= 2) => throw new ChatRequestFailure(500, "HTTP 500: oops"),
            ("request 2", _) => throw new ChatRequestFailure(503, "HTTP 503: overloaded"),
            ("request 3", _) => throw new ChatRequestFailure(400, "HTTP 400: bad request"),
            _ => null,
        });
        var options = new AnnotationOptions
        {
            Model = "m", MaxAttempts = 4, FirstBackoff = TimeSpan.FromSeconds(2),
            Delay = (wait, _) => { waits.Add(wait); return Task.CompletedTask; },
        };
        var result = await CandidateAnnotator.AnnotateAsync(chat, Requests(5), options, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(["p0", "p1", "p4"], result.Answers.Keys.Order());
        // 429: the server's 7 s; 500 twice: 2 s then 4 s; 503 every time: 2, 4, 8 s, then named.
        Assert.Equal(new[] { 2, 2, 4, 4, 7, 8 }.Select(s => TimeSpan.FromSeconds(s)), waits.Order());
        Assert.Equal(2, result.Problems.Count);
        Assert.Contains("after 4 tries: HTTP 503", result.Problems.Single(p => p.Record.Contains("id p2")).Message);
        // A 400 is not worth another try.
        Assert.Contains("after 1 try: HTTP 400", result.Problems.Single(p => p.Record.Contains("id p3")).Message);
        Assert.Equal(2 + 3 + 4 + 1 + 1, chat.Sent.Count);
    }

    [Fact]
    public async Task EmptyCutAndDoubledAnswersAreNamedAndLeftOut()
    {
        var chat = new ScriptedChat((request, _) => request switch
        {
            "request 1" => new ChatResponse(new ChatMessage(ChatRole.Assistant, "   ")) { FinishReason = ChatFinishReason.Stop },
            "request 2" => new ChatResponse(new ChatMessage(ChatRole.Assistant, "The kayak that was added to the lake is")) { FinishReason = ChatFinishReason.Length },
            _ => null,
        });
        var requests = Requests(4);
        requests.Add(requests[3] with { Where = "c.jsonl line 5 (id p3)" });
        var result = await CandidateAnnotator.AnnotateAsync(chat, requests, new AnnotationOptions { Model = "m", MaxTokens = 9 }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(["p0", "p3"], result.Answers.Keys.Order());
        Assert.Equal(["c.jsonl line 2 (id p1)", "c.jsonl line 3 (id p2)", "c.jsonl line 5 (id p3)"], result.Problems.Select(p => p.Record));
        Assert.Contains("empty", result.Problems[0].Message);
        Assert.Contains("cut at the token limit (9)", result.Problems[1].Message);
        Assert.Contains("listed more than once", result.Problems[2].Message);
        Assert.Equal(4, chat.Sent.Count);
    }

    [Fact]
    public async Task ASecondRunSendsNothingThatWasAnswered()
    {
        string cache = Path.Combine(TestPaths.NewTempDir("annotate-cache"), "answers.cache.jsonl");
        var options = new AnnotationOptions { Model = "m", CacheFile = cache };
        var cancel = TestContext.Current.CancellationToken;
        // The first run is stopped after some answers: they are kept.
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel))
        {
            int answered = 0;
            var chat = new ScriptedChat((_, _) => { if (Interlocked.Increment(ref answered) == 4) stop.Cancel(); return null; });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CandidateAnnotator.AnnotateAsync(chat, Requests(10), options with { Concurrency = 1 }, cancel: stop.Token));
        }
        int kept = File.ReadAllLines(cache).Length;
        Assert.InRange(kept, 3, 4);
        var resumed = new ScriptedChat();
        var second = await CandidateAnnotator.AnnotateAsync(resumed, Requests(10), options, cancel: cancel);
        Assert.Equal(10, second.Answers.Count);
        Assert.Equal(kept, second.FromCache);
        Assert.Equal(10 - kept, resumed.Sent.Count);
        var third = new ScriptedChat();
        var again = await CandidateAnnotator.AnnotateAsync(third, Requests(10), options, cancel: cancel);
        Assert.Empty(third.Sent);
        Assert.Equal(10, again.FromCache);
        Assert.Equal(second.Answers.OrderBy(a => a.Key), again.Answers.OrderBy(a => a.Key));
        // Another model or other settings are other answers: asked again.
        var other = new ScriptedChat();
        await CandidateAnnotator.AnnotateAsync(other, Requests(10), options with { Temperature = 0.5f }, cancel: cancel);
        Assert.Equal(10, other.Sent.Count);
    }
}
