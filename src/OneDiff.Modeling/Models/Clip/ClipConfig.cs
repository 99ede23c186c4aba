using OneDiff.Modeling.Checkpoints;

namespace OneDiff.Modeling.Models.Clip;

/// <summary>Sizes of a CLIP vision tower (Hugging Face <c>CLIPVisionConfig</c>).</summary>
public sealed record ClipVisionConfig(
    int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads,
    int NumChannels, int ImageSize, int PatchSize, double LayerNormEps = 1e-5, string HiddenAct = "quick_gelu")
{
    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
    public int NumPositions => NumPatches + 1;

    /// <summary>openai/clip-vit-large-patch14-336.</summary>
    public static ClipVisionConfig LargePatch14_336 => new(1024, 4096, 24, 16, 3, 336, 14);

    public static ClipVisionConfig FromHf(HfConfig c) => new(
        c.GetInt("hidden_size"), c.GetInt("intermediate_size"), c.GetInt("num_hidden_layers"), c.GetInt("num_attention_heads"),
        c.GetInt("num_channels", 3), c.GetInt("image_size"), c.GetInt("patch_size"), c.GetDouble("layer_norm_eps", 1e-5),
        c.GetString("hidden_act", "quick_gelu"));
}

/// <summary>Sizes of a CLIP text tower (Hugging Face <c>CLIPTextConfig</c>).</summary>
public sealed record ClipTextConfig(
    int VocabSize, int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads,
    int MaxPositionEmbeddings, int EosTokenId, double LayerNormEps = 1e-5, string HiddenAct = "quick_gelu")
{
    public static ClipTextConfig LargePatch14 => new(49408, 768, 3072, 12, 12, 77, 49407);

    public static ClipTextConfig FromHf(HfConfig c) => new(
        c.GetInt("vocab_size"), c.GetInt("hidden_size"), c.GetInt("intermediate_size"), c.GetInt("num_hidden_layers"),
        c.GetInt("num_attention_heads"), c.GetInt("max_position_embeddings"), c.GetInt("eos_token_id", 2),
        c.GetDouble("layer_norm_eps", 1e-5), c.GetString("hidden_act", "quick_gelu"));
}

/// <summary>A full CLIP model: both towers, the projection width and the initial logit scale.</summary>
public sealed record ClipConfig(ClipTextConfig Text, ClipVisionConfig Vision, int ProjectionDim, double LogitScaleInit = 2.6592)
{
    public static ClipConfig FromHf(HfConfig c) => new(
        ClipTextConfig.FromHf(c.Section("text_config")), ClipVisionConfig.FromHf(c.Section("vision_config")),
        c.GetInt("projection_dim"), c.GetDouble("logit_scale_init_value", 2.6592));
}
