using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>A pre-RMSNorm decoder layer: attention and SwiGLU, each with a residual.</summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    public readonly RmsNorm input_layernorm, post_attention_layernorm;
    public readonly LlamaAttention self_attn;
    public readonly LlamaMlp mlp;

    public LlamaDecoderLayer(int layer, Models.Llama.LlamaConfig c) : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        self_attn = new LlamaAttention(layer, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.QkvBias, c.OutputBias);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        mlp = new LlamaMlp(c.HiddenSize, c.IntermediateSize, c.MlpBias, c.HiddenAct);
        RegisterComponents();
    }

    /// <param name="lastPositionOnly">return the last position alone, (B, 1, hidden): the cache
    /// still receives every position's keys and values (<see cref="LlamaAttention.forward"/>).</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache, bool lastPositionOnly = false)
    {
        using var scope = torch.NewDisposeScope();
        var attended = self_attn.forward(input_layernorm.forward(x), cos, sin, mask, causal, cache, lastPositionOnly);
        var h = (lastPositionOnly ? x.narrow(1, x.shape[1] - 1, 1) : x).add(attended, Scalars.One);
        return h.add(mlp.forward(post_attention_layernorm.forward(h)), Scalars.One).MoveToOuterDisposeScope();
    }
}
