using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.QFormer;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>The Q-Former layer list (<c>encoder.layer.N</c>).</summary>
public sealed class QFormerEncoder : nn.Module
{
    public readonly ModuleList<QFormerLayer> layer;

    public QFormerEncoder(QFormerConfig c) : base(nameof(QFormerEncoder))
    {
        layer = new ModuleList<QFormerLayer>(Enumerable.Range(0, c.NumHiddenLayers)
            .Select(i => new QFormerLayer(c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize, c.EncoderHiddenSize, c.HasCrossAttention(i), c.LayerNormEps, c.HiddenAct))
            .ToArray());
        RegisterComponents();
    }
}

/// <summary>
/// A BLIP-2 Q-Former run on query tokens only (Hugging Face <c>Blip2QFormerModel</c> with
/// <c>query_embeds</c>): a LayerNorm on the queries, then the layer stack. The OneDiff Visual Delta
/// Module is this stack over its delta tokens. A per-layer choice of encoder states supports the
/// "cross-attention block k reads level k" variant.
/// </summary>
public sealed class QFormerModel : nn.Module<Tensor, Tensor?, Tensor>
{
    public QFormerConfig Config { get; }
    public readonly LayerNorm layernorm;
    public readonly QFormerEncoder encoder;

    public QFormerModel(QFormerConfig config) : base(nameof(QFormerModel))
    {
        Config = config;
        layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        encoder = new QFormerEncoder(config);
        RegisterComponents();
    }

    /// <summary>All cross-attention layers read <paramref name="encoderStates"/> (null: none).</summary>
    public override Tensor forward(Tensor queries, Tensor? encoderStates) => ForwardPerLayer(queries, _ => encoderStates);

    /// <summary>Cross-attention layer <c>i</c> reads <paramref name="encoderStatesOf"/>(i).</summary>
    public Tensor ForwardPerLayer(Tensor queries, Func<int, Tensor?> encoderStatesOf)
    {
        var x = layernorm.forward(queries);
        for (int i = 0; i < encoder.layer.Count; i++)
        {
            var next = encoder.layer[i].forward(x, encoder.layer[i].HasCrossAttention ? encoderStatesOf(i) : null, null);
            x.Dispose();
            x = next;
        }
        return x;
    }

    /// <summary>Maps this stack's parameter names to a bert-base checkpoint's: self-attention and
    /// the feed-forward from BERT layer i, the query LayerNorm from the embeddings' LayerNorm;
    /// cross-attention has no BERT counterpart (null: stays as initialised).</summary>
    public static string? BertName(string name)
    {
        if (name.StartsWith("layernorm.", StringComparison.Ordinal)) return "embeddings.LayerNorm." + name["layernorm.".Length..];
        if (name.Contains(".crossattention.", StringComparison.Ordinal)) return null;
        return name.Replace(".attention.attention.", ".attention.self.", StringComparison.Ordinal)
                   .Replace(".intermediate_query.", ".intermediate.", StringComparison.Ordinal)
                   .Replace(".output_query.", ".output.", StringComparison.Ordinal);
    }
}
