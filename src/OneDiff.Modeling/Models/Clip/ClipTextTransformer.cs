using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Clip;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>Token and position embeddings of the CLIP text tower.</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    public readonly Embedding token_embedding, position_embedding;

    public ClipTextEmbeddings(int vocab, int hidden, int positions) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(vocab, hidden);
        position_embedding = nn.Embedding(positions, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        var pos = torch.arange(Scalars.Of(ids.shape[1]), device: ids.device).unsqueeze(0);
        return token_embedding.forward(ids).add(position_embedding.forward(pos), Scalars.One).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The CLIP text transformer (Hugging Face <c>CLIPTextTransformer</c>): causal self-attention with
/// the padding mask, a final LayerNorm, pooled at the first end-of-text token (or, for the legacy
/// eos id 2, at the highest id).
/// </summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor?, (Tensor LastHiddenState, Tensor Pooled)>
{
    public ClipTextConfig Config { get; }
    public readonly ClipTextEmbeddings embeddings;
    public readonly ClipEncoder encoder;
    public readonly LayerNorm final_layer_norm;

    public ClipTextTransformer(ClipTextConfig config) : base(nameof(ClipTextTransformer))
    {
        Config = config;
        embeddings = new ClipTextEmbeddings(config.VocabSize, config.HiddenSize, config.MaxPositionEmbeddings);
        encoder = new ClipEncoder(config.HiddenSize, config.IntermediateSize, config.NumAttentionHeads, config.NumHiddenLayers, config.LayerNormEps, config.HiddenAct);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    public override (Tensor LastHiddenState, Tensor Pooled) forward(Tensor ids, Tensor? attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        long b = ids.shape[0], t = ids.shape[1];
        var x = embeddings.forward(ids);
        var mask = Masks.Causal(t, t, x.dtype, x.device).unsqueeze(0).unsqueeze(0);
        if (attentionMask is not null) mask = mask.add(Masks.Padding(attentionMask, x.dtype), Scalars.One);
        var states = encoder.forward(x, mask);
        var last = final_layer_norm.forward(states[^1]);
        var eos = Config.EosTokenId == 2
            ? ids.to(ScalarType.Int32).argmax(-1)
            : ids.eq(Scalars.Of((long)Config.EosTokenId)).to(ScalarType.Int32).argmax(-1);
        var pooled = last[torch.arange(Scalars.Of(b), device: ids.device), eos];
        return (last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }
}
