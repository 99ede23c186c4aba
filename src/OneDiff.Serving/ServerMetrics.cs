using System.Diagnostics;
using Prometheus;

namespace OneDiff.Serving;

/// <summary>
/// What <c>GET /metrics</c> shows, in Prometheus' text format (prometheus-net), in a registry of
/// this server's own (two servers in one process do not mix their counts).
/// </summary>
internal sealed class ServerMetrics
{
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();
    public Counter Requests { get; }
    public Counter Errors { get; }
    public Gauge QueueLength { get; }
    public Histogram BatchSize { get; }
    public Histogram BatchSeconds { get; }
    public Histogram RequestSeconds { get; }
    public Counter Captions { get; }
    public Counter PromptTokens { get; }
    public Counter CompletionTokens { get; }
    public Gauge CaptionsPerSecond { get; }
    public Gauge TokensPerSecond { get; }

    readonly Queue<(long At, int Captions, int Tokens)> _recent = new();
    static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    public ServerMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("onediff_requests_total", "Chat completion requests answered, by HTTP status.", "status");
        Errors = f.CreateCounter("onediff_request_errors_total", "Requests answered with an error, by error code.", "code");
        QueueLength = f.CreateGauge("onediff_queue_length", "Requests waiting for a batch.");
        BatchSize = f.CreateHistogram("onediff_batch_size", "Pairs decoded together.", new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 64, 128] });
        BatchSeconds = f.CreateHistogram("onediff_batch_seconds", "Time to caption one batch.", new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        RequestSeconds = f.CreateHistogram("onediff_request_seconds", "Time from a request's arrival to its last byte.", new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        Captions = f.CreateCounter("onediff_captions_total", "Captions generated.");
        PromptTokens = f.CreateCounter("onediff_prompt_tokens_total", "Prompt tokens read (text and visual).");
        CompletionTokens = f.CreateCounter("onediff_completion_tokens_total", "Tokens generated.");
        CaptionsPerSecond = f.CreateGauge("onediff_captions_per_second", "Captions per second over the last minute.");
        TokensPerSecond = f.CreateGauge("onediff_tokens_per_second", "Generated tokens per second over the last minute.");
    }

    public void Batch(int pairs, double seconds, int promptTokens, int completionTokens)
    {
        BatchSize.Observe(pairs);
        BatchSeconds.Observe(seconds);
        Captions.Inc(pairs);
        PromptTokens.Inc(promptTokens);
        CompletionTokens.Inc(completionTokens);
        long now = Stopwatch.GetTimestamp();
        lock (_recent)
        {
            _recent.Enqueue((now, pairs, completionTokens));
            while (Stopwatch.GetElapsedTime(_recent.Peek().At, now) > Window) _recent.Dequeue();
            double span = Math.Max(1.0, Stopwatch.GetElapsedTime(_recent.Peek().At, now).TotalSeconds + seconds);
            CaptionsPerSecond.Set(_recent.Sum(r => r.Captions) / span);
            TokensPerSecond.Set(_recent.Sum(r => r.Tokens) / span);
        }
    }
}
