using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace OneDiff.Data.Annotation;

/// <summary>A chat request the endpoint refused: its HTTP status and, for 429 and 503, how long it
/// asked the caller to wait. Client adapters turn their own errors into this.</summary>
public sealed class ChatRequestFailure(int status, string message, TimeSpan? retryAfter = null) : Exception(message)
{
    public int Status { get; } = status;
    public TimeSpan? RetryAfter { get; } = retryAfter;
    /// <summary>Worth another try: rate limited or a server error.</summary>
    public bool Transient => Status == 429 || Status >= 500;
}

/// <summary>How <see cref="CandidateAnnotator"/> talks to the chat model.</summary>
public sealed record AnnotationOptions
{
    /// <summary>The chat model's name (sent, and part of each answer's cache key).</summary>
    public required string Model { get; init; }
    /// <summary>Requests in flight at once, at most.</summary>
    public int Concurrency { get; init; } = 8;
    public float Temperature { get; init; }
    public int MaxTokens { get; init; } = 96;
    /// <summary>Tries of one request before it is named as failed (429 and 5xx are retried).</summary>
    public int MaxAttempts { get; init; } = 6;
    /// <summary>The first wait after a failed try, doubled each time up to <see cref="MaxBackoff"/>,
    /// unless the answer said how long (Retry-After).</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Answers kept on disk (JSON lines), keyed by model, settings and request: a repeated
    /// or resumed run sends nothing already answered. Null: no cache.</summary>
    public string? CacheFile { get; init; }
    /// <summary>How often progress is reported while answers arrive (and once at the end).</summary>
    public TimeSpan ProgressEvery { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How waiting is done (tests replace it to record the waits instead of sleeping).</summary>
    public Func<TimeSpan, CancellationToken, Task> Delay { get; init; } = Task.Delay;

    public void Check()
    {
        if (Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(Concurrency), Concurrency, "must be 1 or more");
        if (MaxTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "must be 1 or more");
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "must be 1 or more");
        if (!(Temperature >= 0 && Temperature <= 2)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be in [0, 2]");
        if (string.IsNullOrWhiteSpace(Model)) throw new ArgumentException("the chat model's name is empty", nameof(Model));
    }
}

/// <summary>One candidate's request, and where it is (file and line) for problems.</summary>
public sealed record AnnotationRequest(string Where, string Id, string Request);

/// <summary>What a run got: the answers by candidate id, what it sent and what came from the cache, the
/// tokens used, and every candidate left out (failed, empty, cut, doubled) with the reason.</summary>
public sealed record AnnotationResult(IReadOnlyDictionary<string, string> Answers, int Sent, int FromCache, long InputTokens, long OutputTokens, IReadOnlyList<DataProblem> Problems);

/// <summary>
/// The paper's chat-model step run directly: each candidate's request goes to a chat model through
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> (OpenAI, vLLM, Ollama, our own server),
/// at most <see cref="AnnotationOptions.Concurrency"/> at once. 429 and 5xx answers are retried
/// with exponential back-off, honouring Retry-After. Answers are cached on disk as they arrive.
/// A failed, empty or cut answer, or a candidate listed twice, is named and left out, never
/// silently dropped.
/// </summary>
public static class CandidateAnnotator
{
    public static async Task<AnnotationResult> AnnotateAsync(IChatClient client, IReadOnlyList<AnnotationRequest> requests, AnnotationOptions options,
        Action<AnnotationProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        options.Check();
        var problems = new ConcurrentBag<DataProblem>();
        var answers = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        using var cache = new AnswerCache(options.CacheFile);
        var pending = new List<(AnnotationRequest Request, string Key)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int fromCache = 0;
        foreach (var r in requests)
        {
            if (!seen.Add(r.Id)) { problems.Add(new DataProblem(r.Where, null, $"the id {r.Id} is listed more than once; only its first line is annotated")); continue; }
            string key = Key(options, r.Request);
            if (cache.TryGet(key, out var cached)) { answers[r.Id] = cached; fromCache++; }
            else pending.Add((r, key));
        }
        long inputTokens = 0, outputTokens = 0;
        int sent = 0, done = 0;
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        void Report(bool final)
        {
            if (progress is null) return;
            lock (clock)
            {
                if (!final && clock.Elapsed - lastReport < options.ProgressEvery) return;
                lastReport = clock.Elapsed;
                progress(new AnnotationProgress(Volatile.Read(ref done), pending.Count, fromCache,
                    Interlocked.Read(ref inputTokens), Interlocked.Read(ref outputTokens), clock.Elapsed));
            }
        }
        var chatOptions = new ChatOptions { ModelId = options.Model, Temperature = options.Temperature, MaxOutputTokens = options.MaxTokens };
        await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancel }, async (item, token) =>
        {
            var (request, key) = item;
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    Interlocked.Increment(ref sent);
                    var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, request.Request)], chatOptions, token);
                    Interlocked.Add(ref inputTokens, response.Usage?.InputTokenCount ?? 0);
                    Interlocked.Add(ref outputTokens, response.Usage?.OutputTokenCount ?? 0);
                    string text = response.Text.Trim();
                    if (text.Length == 0) problems.Add(new DataProblem(request.Where, null, "the answer is empty"));
                    else if (response.FinishReason == ChatFinishReason.Length) problems.Add(new DataProblem(request.Where, null, $"the answer was cut at the token limit ({options.MaxTokens}): '{text}'"));
                    else
                    {
                        answers[request.Id] = text;
                        cache.Add(key, request.Id, text);
                    }
                    break;
                }
                catch (Exception e) when (!token.IsCancellationRequested && IsTransient(e) && attempt < options.MaxAttempts)
                {
                    var wait = (e as ChatRequestFailure)?.RetryAfter
                        ?? TimeSpan.FromTicks(Math.Min(options.MaxBackoff.Ticks, options.FirstBackoff.Ticks << Math.Min(attempt - 1, 30)));
                    await options.Delay(wait, token);
                }
                catch (Exception e) when (!token.IsCancellationRequested && (e is ChatRequestFailure or HttpRequestException or IOException || IsTransient(e)))
                {
                    problems.Add(new DataProblem(request.Where, null, $"the request failed after {attempt} tr{(attempt == 1 ? "y" : "ies")}: {e.Message}"));
                    break;
                }
            }
            Interlocked.Increment(ref done);
            Report(final: false);
        });
        Report(final: true);
        return new AnnotationResult(answers, sent, fromCache, inputTokens, outputTokens,
            problems.OrderBy(p => p.Record, StringComparer.Ordinal).ToList());
    }

    static bool IsTransient(Exception e) => e switch
    {
        ChatRequestFailure f => f.Transient,
        HttpRequestException { StatusCode: null } => true, // no answer at all: connection refused or reset
        HttpRequestException h => (int)h.StatusCode! == 429 || (int)h.StatusCode! >= 500,
        TaskCanceledException { InnerException: TimeoutException } => true,
        _ => false,
    };

    /// <summary>The cache key: the model, the settings and the words sent.</summary>
    public static string Key(AnnotationOptions o, string request) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{o.Model}\0{o.Temperature}\0{o.MaxTokens}\0{request}")));

    /// <summary>Answers as JSON lines <c>{"key", "id", "answer"}</c>, appended and flushed one by one,
    /// so an interrupted run keeps every answer it got.</summary>
    sealed class AnswerCache : IDisposable
    {
        readonly Dictionary<string, string> _answers = new(StringComparer.Ordinal);
        readonly StreamWriter? _writer;

        public AnswerCache(string? path)
        {
            if (path is null) return;
            if (File.Exists(path))
                foreach (var line in File.ReadLines(path))
                {
                    // The last line of a run killed while writing may be cut: it is asked again.
                    try
                    {
                        using var doc = JsonDocument.Parse(line);
                        if (doc.RootElement.TryGetProperty("key", out var k) && doc.RootElement.TryGetProperty("answer", out var a))
                            _answers[k.GetString()!] = a.GetString()!;
                    }
                    catch (JsonException) { }
                }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        }

        public void Dispose() => _writer?.Dispose();

        public bool TryGet(string key, out string answer) => _answers.TryGetValue(key, out answer!);

        public void Add(string key, string id, string answer)
        {
            if (_writer is null) return;
            lock (_writer)
            {
                _writer.WriteLine(JsonSerializer.Serialize(new { key, id, answer }));
                _writer.Flush();
            }
        }
    }
}

/// <summary>How far an annotation run is: the requests answered of those sent (answers from the
/// cache not counted), the tokens used so far and the time taken.</summary>
public sealed record AnnotationProgress(int Done, int Total, int FromCache, long InputTokens, long OutputTokens, TimeSpan Elapsed)
{
    /// <summary>Answers a second, over the run so far.</summary>
    public double Rate => Done / Math.Max(1e-9, Elapsed.TotalSeconds);

    /// <summary>The progress line written where there is no progress bar.</summary>
    public override string ToString()
    {
        string left = Done < Total && Rate > 0 ? $", about {TimeSpan.FromSeconds((Total - Done) / Rate):hh\\:mm\\:ss} left" : "";
        return $"annotated {Done}/{Total} ({Rate:F1}/s{left}); {FromCache} from the cache; {InputTokens + OutputTokens:N0} tokens ({InputTokens:N0} in, {OutputTokens:N0} out)";
    }
}
