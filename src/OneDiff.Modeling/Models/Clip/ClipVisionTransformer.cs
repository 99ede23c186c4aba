using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Clip;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>What the vision tower returns: every hidden state (Hugging Face indexing: 0 is the
/// embeddings after the pre-LayerNorm), the last one, and the pooled class token.</summary>
public sealed record ClipVisionOutput(Tensor[] HiddenStates, Tensor LastHiddenState, Tensor PoolerOutput) : IDisposable
{
    public void Dispose()
    {
        foreach (var h in HiddenStates) h?.Dispose();
        PoolerOutput.Dispose();
    }
}

/// <summary>
/// The CLIP vision transformer (Hugging Face <c>CLIPVisionTransformer</c>, the <c>vision_model</c> of
/// <c>CLIPVisionModel</c> and <c>CLIPModel</c>): patch and position embeddings, the pre-LayerNorm
/// (spelled <c>pre_layrnorm</c> as in the checkpoints), quick-GELU encoder layers and the
/// post-LayerNorm on the class token.
/// </summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, ClipVisionOutput>
{
    public ClipVisionConfig Config { get; }
    public readonly ClipVisionEmbeddings embeddings;
    public readonly LayerNorm pre_layrnorm;
    public readonly ClipEncoder encoder;
    public readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig config) : base(nameof(ClipVisionTransformer))
    {
        Config = config;
        embeddings = new ClipVisionEmbeddings(config.HiddenSize, config.NumChannels, config.PatchSize, config.NumPositions);
        pre_layrnorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        encoder = new ClipEncoder(config.HiddenSize, config.IntermediateSize, config.NumAttentionHeads, config.NumHiddenLayers, config.LayerNormEps, config.HiddenAct);
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    public override ClipVisionOutput forward(Tensor pixels) => forward(pixels, null);

    /// <param name="keepLayers">hidden-state indices to keep (others are freed early, to save
    /// memory when only a few layers are read); null keeps all.</param>
    public ClipVisionOutput forward(Tensor pixels, ISet<int>? keepLayers)
    {
        using var emb = embeddings.forward(pixels);
        var x = pre_layrnorm.forward(emb);
        var states = encoder.forward(x, null, keepLayers);
        var last = states[^1];
        using var cls = last.select(1, 0);
        var pooled = post_layernorm.forward(cls);
        return new ClipVisionOutput(states, last, pooled);
    }
}
