namespace OneDiff.Modeling.Generation;

/// <summary>How to decode: greedy, sampled or beam search, when to stop.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 32;
    /// <summary>1 = greedy or sampled (see <see cref="Rows"/>); more = beam search.</summary>
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
    /// <summary>Each row's own decoding, for callers that batch requests of their own settings
    /// (a server); null: every row greedy up to <see cref="MaxNewTokens"/>. Not with beam search.</summary>
    public IReadOnlyList<RowDecoding>? Rows { get; init; }
}

/// <summary>One row's decoding within a batch: its own length limit, sampling and seed, and a
/// callback that sees its tokens as they are read back (to stream them, or to end the row early).</summary>
public sealed record RowDecoding
{
    /// <summary>At most this many new tokens for the row; null: the batch's <see cref="GenerationOptions.MaxNewTokens"/>.</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>0 = greedy (argmax); above 0 the logits are divided by it and a token is sampled.</summary>
    public double Temperature { get; init; }
    /// <summary>Nucleus sampling: only the most probable tokens whose probabilities sum to this are drawn from.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seeds the row's own random stream, so a seed gives the same tokens whatever else is in the batch.</summary>
    public ulong Seed { get; init; }
    /// <summary>Called with the row's tokens so far (the ending token included) each time they are
    /// read back, the last time when the row ends; returning true ends the row there.</summary>
    public Func<IReadOnlyList<long>, bool>? OnTokens { get; init; }

    public bool Samples => Temperature > 0;

    /// <summary>The errors of settings out of range, in the names of the fields.</summary>
    public void Check()
    {
        if (MaxNewTokens is < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "must be 0 or more");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be 0 (greedy) or more");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1]");
    }
}
