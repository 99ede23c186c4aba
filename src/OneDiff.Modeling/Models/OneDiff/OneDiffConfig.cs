using System.Text.Json;
using System.Text.Json.Serialization;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.QFormer;

namespace OneDiff.Modeling.Models.OneDiff;

/// <summary>What the delta module's cross-attention reads.</summary>
public enum DeltaReadout
{
    /// <summary>Every cross-attention block reads all six maps [A_L8, A_L16, A_L24, B_L8, B_L16, B_L24].</summary>
    AllLevels,
    /// <summary>Cross-attention block k reads level k only (A and B concatenated).</summary>
    LevelPerBlock,
}

/// <summary>How the two images' patch features enter the LLM.</summary>
public enum PairFusion
{
    /// <summary>[A patches][B patches], each projected (design default).</summary>
    Sequence,
    /// <summary>A and B concatenated channel-wise and projected together (CDChat's way).</summary>
    ChannelConcat,
}

/// <summary>
/// Everything that sizes a OneDiff model, saved with it: the CLIP vision tower, the Visual Delta
/// Module (a Q-Former stack over learned delta tokens), and the LLM, plus the choices the paper
/// leaves open (docs: shared design notes).
/// </summary>
public sealed record OneDiffConfig
{
    public required string Name { get; init; }
    public required ClipVisionConfig Vision { get; init; }
    public required QFormerConfig Delta { get; init; }
    public required LlamaConfig Llm { get; init; }
    public int NumDeltaTokens { get; init; } = 32;
    /// <summary>CLIP hidden-state indices (Hugging Face indexing) the delta module reads.</summary>
    public int[] DeltaFeatureLayers { get; init; } = [8, 16, 24];
    /// <summary>CLIP hidden-state index of the patch features (LLaVA: the penultimate, -2).</summary>
    public int PatchFeatureLayer { get; init; } = -2;
    public DeltaReadout Readout { get; init; } = DeltaReadout.AllLevels;
    public PairFusion Fusion { get; init; } = PairFusion.Sequence;
    /// <summary>Tokenizer: "tiny" (embedded SentencePiece) or "folder" (from the LLM checkpoint).</summary>
    public string Tokenizer { get; init; } = "folder";
    public string StageOneTemplate { get; init; } = "plain";
    public string StageTwoTemplate { get; init; } = "vicuna_v1";

    public int PatchLayerIndex => PatchFeatureLayer < 0 ? Vision.NumHiddenLayers + 1 + PatchFeatureLayer : PatchFeatureLayer;
    public int PatchesPerImage => Vision.NumPatches;
    /// <summary>Visual tokens of a pair in the LLM input.</summary>
    public int VisualTokens => (Fusion == PairFusion.Sequence ? 2 * PatchesPerImage : PatchesPerImage) + NumDeltaTokens;

    /// <summary>CLIP ViT-L/14-336 + bert-base-sized VDM + Vicuna-7B v1.5.</summary>
    public static OneDiffConfig Vicuna7B => new()
    {
        Name = "Vicuna7B", Vision = ClipVisionConfig.LargePatch14_336, Delta = QFormerConfig.OneDiffDefault, Llm = LlamaConfig.Vicuna7B,
    };

    /// <summary>CLIP ViT-L/14-336 + VDM + Qwen2-7B (ChatML).</summary>
    public static OneDiffConfig Qwen2_7B => new()
    {
        Name = "Qwen2_7B", Vision = ClipVisionConfig.LargePatch14_336, Delta = QFormerConfig.OneDiffDefault, Llm = LlamaConfig.Qwen2_7B,
        StageTwoTemplate = "chatml",
    };

    /// <summary>A model of the same shape that trains in well under a second per step on a CPU:
    /// 64-pixel images in 16-pixel patches, a 3-layer CLIP, a 2-layer VDM with 8 delta tokens, a
    /// 2-layer LLaMA with the embedded 1,000-piece tokenizer; A and B patches channel-concatenated.</summary>
    public static OneDiffConfig Tiny => new()
    {
        Name = "Tiny",
        Vision = new ClipVisionConfig(64, 128, 3, 4, 3, 64, 16),
        Delta = new QFormerConfig(64, 4, 128, 2, 64),
        Llm = new LlamaConfig(1000, 128, 344, 2, 4, 2, 32, 1e-6, 10000, 1024, false, false, false, false, 1, 2, 0),
        NumDeltaTokens = 8,
        DeltaFeatureLayers = [1, 2, 3],
        StageTwoTemplate = "plain",
        Tokenizer = "tiny",
        // With no pretrained CLIP to read from, the tiny LLM learns the pair far better when A and B
        // of each patch arrive as one token (held-out CIDEr 387 vs 126 on the quickstart, and faster:
        // 24 visual tokens instead of 40); the full presets keep the design's [A][B] sequence.
        Fusion = PairFusion.ChannelConcat,
    };

    public static OneDiffConfig Preset(string name) => name switch
    {
        "Vicuna7B" => Vicuna7B,
        "Qwen2_7B" => Qwen2_7B,
        "Tiny" => Tiny,
        _ => throw new ArgumentException($"unknown preset '{name}' (Vicuna7B, Qwen2_7B, Tiny)", nameof(name)),
    };

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static OneDiffConfig FromJson(string json) =>
        JsonSerializer.Deserialize<OneDiffConfig>(json, Json) ?? throw new InvalidDataException("empty OneDiff config");

    /// <summary>The choices the paper leaves open, by name: what a trainer may set on a preset
    /// (they are also the options' and the config file's names).</summary>
    public static IReadOnlyList<string> OpenChoices { get; } =
        [nameof(Fusion), nameof(Readout), nameof(NumDeltaTokens), nameof(DeltaFeatureLayers), nameof(PatchFeatureLayer), nameof(StageOneTemplate), nameof(StageTwoTemplate)];

    /// <summary>Checks that the sizes and choices fit together; throws naming the config and the
    /// field at fault (the fields are named as the trainer's options).</summary>
    public void CheckSizes()
    {
        if (Delta.EncoderHiddenSize != Vision.HiddenSize)
            throw new InvalidDataException($"{Name}: the delta module reads {Delta.EncoderHiddenSize}-wide states but CLIP is {Vision.HiddenSize} wide");
        if (NumDeltaTokens < 1) throw new InvalidDataException($"{Name}: {nameof(NumDeltaTokens)} must be at least 1, not {NumDeltaTokens}");
        if (DeltaFeatureLayers.Length == 0) throw new InvalidDataException($"{Name}: {nameof(DeltaFeatureLayers)} must name at least one CLIP layer");
        foreach (int l in DeltaFeatureLayers)
            if (l < 0 || l > Vision.NumHiddenLayers)
                throw new InvalidDataException($"{Name}: {nameof(DeltaFeatureLayers)}: layer {l} is outside CLIP's hidden states 0..{Vision.NumHiddenLayers}");
        if (DeltaFeatureLayers.Distinct().Count() != DeltaFeatureLayers.Length)
            throw new InvalidDataException($"{Name}: {nameof(DeltaFeatureLayers)} names a layer twice ({string.Join(", ", DeltaFeatureLayers)})");
        if (PatchLayerIndex < 1 || PatchLayerIndex > Vision.NumHiddenLayers)
            throw new InvalidDataException($"{Name}: {nameof(PatchFeatureLayer)} {PatchFeatureLayer} is outside CLIP's layers (1..{Vision.NumHiddenLayers}, or -1..-{Vision.NumHiddenLayers} from the last)");
        int cross = Enumerable.Range(0, Delta.NumHiddenLayers).Count(Delta.HasCrossAttention);
        if (Readout == DeltaReadout.LevelPerBlock && cross != DeltaFeatureLayers.Length)
            throw new InvalidDataException($"{Name}: {nameof(Readout)} {nameof(DeltaReadout.LevelPerBlock)} needs one cross-attention block per level of " +
                $"{nameof(DeltaFeatureLayers)} ({cross} block(s), {DeltaFeatureLayers.Length} level(s))");
        foreach (var (field, template) in new[] { (nameof(StageOneTemplate), StageOneTemplate), (nameof(StageTwoTemplate), StageTwoTemplate) })
            if (!Prompting.ConversationTemplate.Names.Contains(template))
                throw new InvalidDataException($"{Name}: {field}: unknown conversation template '{template}' ({string.Join(", ", Prompting.ConversationTemplate.Names)})");
    }
}
