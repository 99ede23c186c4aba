using OneDiff.Modeling.Checkpoints;

namespace OneDiff.Modeling.Models.QFormer;

/// <summary>Sizes of a BLIP-2 style Q-Former layer stack (Hugging Face <c>Blip2QFormerConfig</c>):
/// BERT-sized self-attention and feed-forward, cross-attention every
/// <see cref="CrossAttentionFrequency"/> layers into states <see cref="EncoderHiddenSize"/> wide.</summary>
public sealed record QFormerConfig(
    int HiddenSize, int NumAttentionHeads, int IntermediateSize, int NumHiddenLayers,
    int EncoderHiddenSize, int CrossAttentionFrequency = 2, double LayerNormEps = 1e-12, string HiddenAct = "gelu")
{
    /// <summary>The OneDiff Visual Delta Module default: bert-base sizes, 6 layers, cross-attention
    /// on even layers into CLIP ViT-L (1024).</summary>
    public static QFormerConfig OneDiffDefault => new(768, 12, 3072, 6, 1024);

    public bool HasCrossAttention(int layer) => CrossAttentionFrequency > 0 && layer % CrossAttentionFrequency == 0;

    public static QFormerConfig FromHf(HfConfig c) => new(
        c.GetInt("hidden_size"), c.GetInt("num_attention_heads"), c.GetInt("intermediate_size"), c.GetInt("num_hidden_layers"),
        c.GetInt("encoder_hidden_size"), c.GetInt("cross_attention_frequency", 2), c.GetDouble("layer_norm_eps", 1e-12),
        c.GetString("hidden_act", "gelu"));

    /// <summary>A BERT config's sizes as a Q-Former stack (for loading bert-base-uncased into it).</summary>
    public static QFormerConfig FromBert(HfConfig bert, int layers, int encoderHiddenSize, int crossAttentionFrequency = 2) => new(
        bert.GetInt("hidden_size"), bert.GetInt("num_attention_heads"), bert.GetInt("intermediate_size"), layers,
        encoderHiddenSize, crossAttentionFrequency, bert.GetDouble("layer_norm_eps", 1e-12), bert.GetString("hidden_act", "gelu"));
}
