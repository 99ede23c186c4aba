using System.Diagnostics;
using System.Threading.Channels;
using OneDiff.Data;
using OneDiff.MLNet;

namespace OneDiff.Serving;

/// <summary>
/// A request from the moment it is queued until its caption is complete: its prepared pair and
/// decoding, the pieces of text for a streaming client, and the client's cancellation (a client
/// that goes away leaves the queue at once, or ends its row at the next token if already running).
/// </summary>
internal sealed class PendingCaption
{
    readonly StreamedText _text;
    readonly IReadOnlyList<string> _stops;
    readonly Channel<string>? _pieces;
    readonly TaskCompletionSource<CaptionOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PendingCaption(PreparedPair pair, int numBeams, int? maxTokens, double temperature, double topP, ulong seed, IReadOnlyList<string> stops, bool stream, CancellationToken clientGone,
        OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? changeMap = null)
    {
        ChangeMap = changeMap;
        Pair = pair;
        NumBeams = numBeams;
        MaxTokens = maxTokens;
        Temperature = temperature;
        TopP = topP;
        Seed = seed;
        ClientGone = clientGone;
        _stops = stops;
        _text = new StreamedText(stops);
        _pieces = stream ? Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }) : null;
    }

    public PreparedPair Pair { get; }
    public int NumBeams { get; }
    /// <summary>A change map beside the caption, read with this method (null: none).</summary>
    public OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? ChangeMap { get; }
    public int? MaxTokens { get; }
    public double Temperature { get; }
    public double TopP { get; }
    public ulong Seed { get; }
    public CancellationToken ClientGone { get; }
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
    /// <summary>Its place in the queue while it waits.</summary>
    public LinkedListNode<PendingCaption>? Node { get; set; }

    /// <summary>Requests that can share a batch: beam search runs one width and one length at a
    /// time; maps are read for a whole batch, so only requests that ask for the same kind share one.</summary>
    public (int Beams, int? MaxTokens, OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? Map) BatchKey =>
        NumBeams > 1 ? (NumBeams, MaxTokens, ChangeMap) : (1, null, ChangeMap);

    public Task<CaptionOutcome> Completion => _done.Task;
    /// <summary>The caption's pieces as they are generated (streaming requests only).</summary>
    public ChannelReader<string> Pieces => _pieces?.Reader ?? throw new InvalidOperationException("not a streaming request");

    public CaptionRequest ToRequest() => new(Pair)
    {
        MaxNewTokens = MaxTokens, Temperature = Temperature, TopP = TopP, Seed = Seed, Cancel = ClientGone,
        // The text so far is decoded only where it is needed: to stream it, or to look for a stop string.
        OnText = _pieces is not null || _stops.Count > 0 ? OnText : null,
    };

    /// <summary>On the model's thread, as tokens arrive: true ends this row.</summary>
    bool OnText(string text)
    {
        var (delta, stop) = _text.Update(text);
        if (delta.Length > 0) _pieces?.Writer.TryWrite(delta);
        return stop;
    }

    public void Complete(CaptionOutcome outcome)
    {
        var (caption, delta) = _text.Finish(outcome.Caption);
        if (delta.Length > 0) _pieces?.Writer.TryWrite(delta);
        _pieces?.Writer.TryComplete();
        _done.TrySetResult(outcome with { Caption = caption, FinishReason = _text.StopSeen ? "stop" : outcome.FinishReason });
    }

    public void Fail(Exception e)
    {
        _pieces?.Writer.TryComplete(e);
        _done.TrySetException(e);
    }
}
