namespace OneDiff.Modeling.Generation;

/// <summary>How to decode: greedy (one beam) or beam search, when to stop.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 32;
    /// <summary>1 = greedy.</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary>Tokens that end a sequence (EOS).</summary>
    public IReadOnlyList<long> EosTokenIds { get; init; } = [];
    /// <summary>Written after a sequence has ended (Hugging Face pads finished rows).</summary>
    public long PadTokenId { get; init; }
    /// <summary>Token sequences that end a sequence when generated (stop strings, tokenised).</summary>
    public IReadOnlyList<long[]> StopSequences { get; init; } = [];
    /// <summary>Greedy decoding reads the new tokens back for the stop check every this many steps
    /// (the device runs ahead of the host in between; at most this many - 1 steps are wasted after
    /// the last row ends). Null: 1 on the CPU, where reading back costs nothing, 8 on a GPU.</summary>
    public int? StopCheckInterval { get; init; }
    /// <summary>Beam score = log-probability / length^penalty.</summary>
    public double LengthPenalty { get; init; } = 1.0;
}
