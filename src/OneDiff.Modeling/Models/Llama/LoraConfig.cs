namespace OneDiff.Modeling.Models.Llama;

/// <summary>
/// Low-rank adaptation of the decoder (Hu et al., LoRA, 2021): each targeted projection W stays
/// frozen and learns W + (alpha / rank) B A, A (rank x in) and B (out x rank), B starting at zero so
/// training starts from the pretrained model. The defaults are LLaVA-1.5's LoRA recipe
/// (<c>finetune_lora.sh</c>: rank 128, alpha 256, dropout 0.05, every linear layer of the decoder
/// but the output head); OneDiff itself trains the whole LLM.
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The decoder's projections, by checkpoint name.</summary>
    public static readonly IReadOnlyList<string> AllTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public int Rank { get; init; } = 128;
    public double Alpha { get; init; } = 256;
    /// <summary>Dropout on each adapter's input while training (not on the frozen path).</summary>
    public double Dropout { get; init; } = 0.05;
    public IReadOnlyList<string> Targets { get; init; } = AllTargets;

    public double Scaling => Alpha / Rank;

    /// <summary>Throws an <see cref="ArgumentException"/> naming what is out of range.</summary>
    public void Check()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be at least 1, not {Rank}");
        if (!(Alpha > 0 && double.IsFinite(Alpha))) throw new ArgumentException($"LoRA alpha must be a positive number, not {Alpha}");
        if (!(Dropout is >= 0 and < 1)) throw new ArgumentException($"LoRA dropout must be in [0, 1), not {Dropout}");
        if (Targets.Count == 0) throw new ArgumentException("LoRA needs at least one target projection");
        foreach (var t in Targets)
            if (!AllTargets.Contains(t)) throw new ArgumentException($"unknown LoRA target '{t}' (the decoder's projections: {string.Join(", ", AllTargets)})");
        if (Targets.Distinct().Count() != Targets.Count) throw new ArgumentException($"LoRA targets name a projection twice: {string.Join(", ", Targets)}");
    }

    /// <summary>How many parameters the adapters of <paramref name="llm"/> hold.</summary>
    public long ParameterCount(LlamaConfig llm)
    {
        long h = llm.HiddenSize, q = (long)llm.NumAttentionHeads * llm.HeadDim, kv = (long)llm.NumKeyValueHeads * llm.HeadDim, i = llm.IntermediateSize;
        long perLayer = Targets.Sum(t => t switch
        {
            "q_proj" => h + q,
            "k_proj" or "v_proj" => h + kv,
            "o_proj" => q + h,
            "gate_proj" or "up_proj" => h + i,
            "down_proj" => i + h,
            _ => throw new ArgumentException($"unknown LoRA target '{t}'"),
        });
        return perLayer * Rank * llm.NumHiddenLayers;
    }
}
