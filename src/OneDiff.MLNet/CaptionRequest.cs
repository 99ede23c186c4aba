using OneDiff.Data;

namespace OneDiff.MLNet;

/// <summary>
/// One prepared pair to caption with its own decoding, for callers that gather requests into
/// batches themselves (<c>onediff serve</c>): the images are decoded and preprocessed beforehand
/// (<see cref="DiffCaptionTransformer.Prepare"/>), off the thread that runs the model.
/// </summary>
public sealed record CaptionRequest(PreparedPair Pair)
{
    /// <summary>Null: the model's <see cref="CaptioningSettings.MaxNewTokens"/>.</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>0: greedy; above 0: sampled at this temperature.</summary>
    public double Temperature { get; init; }
    public double TopP { get; init; } = 1.0;
    public ulong Seed { get; init; }
    /// <summary>Called with the caption so far each time new tokens are read back (every token on
    /// the CPU, a few at a time on a GPU), and once at the end; returning true ends the caption
    /// there (a stop string seen, a client gone). Not called under beam search.</summary>
    public Func<string, bool>? OnText { get; init; }
    /// <summary>Ends the caption at the next token read back (a client gone), without decoding text.</summary>
    public CancellationToken Cancel { get; init; }
}

/// <summary>A generated caption with its token counts: the prompt as the LLM saw it (text and visual
/// tokens) and the tokens generated (the ending token included).</summary>
/// <param name="FinishReason">"stop" (end of sequence, or <see cref="CaptionRequest.OnText"/> ended it) or "length".</param>
/// <param name="Map">where the model saw the change, when the call asked for maps.</param>
public sealed record CaptionOutcome(string Caption, int PromptTokens, int CompletionTokens, string FinishReason, OneDiff.Data.Localization.ChangeMap? Map = null);
