using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Llama;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>
/// A LLaMA-family causal language model (Hugging Face <c>LlamaForCausalLM</c> /
/// <c>Qwen2ForCausalLM</c>): the decoder and the output head, tied to the token embeddings when the
/// config says so. Takes token ids or input embeddings (the multimodal path).
/// </summary>
public sealed class LlamaForCausalLM : nn.Module
{
    public LlamaConfig Config { get; }
    public readonly LlamaModel model;
    public readonly Linear lm_head;

    public LlamaForCausalLM(LlamaConfig config) : base(nameof(LlamaForCausalLM))
    {
        Config = config;
        model = new LlamaModel(config);
        lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        if (config.TieWordEmbeddings) TieWeights();
    }

    /// <summary>Makes the head share the embedding matrix (after loading, too).</summary>
    public void TieWeights()
    {
        if (Config.TieWordEmbeddings) lm_head.weight = model.embed_tokens.weight!;
    }

    public Tensor Embed(Tensor ids) => model.embed_tokens.forward(ids);

    /// <summary>Logits (B, T, vocab) from input embeddings.</summary>
    public Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = model.forward(inputsEmbeds, attentionMask, positionIds, cache);
        return lm_head.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Logits (B, T, vocab) from token ids.</summary>
    public Tensor ForwardIds(Tensor ids, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        using var embeds = Embed(ids);
        return forward(embeds, attentionMask, positionIds, cache);
    }

    /// <summary>Hidden states (B, T, hidden) before the head (for a loss on selected positions), or
    /// the last position's alone (B, 1, hidden), see <see cref="LlamaModel.forward"/>.</summary>
    public Tensor Hidden(Tensor inputsEmbeds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null, bool lastPositionOnly = false) =>
        model.forward(inputsEmbeds, attentionMask, positionIds, cache, lastPositionOnly);

    public KvCache NewCache(long batch, int capacity, ScalarType dtype, Device device) =>
        new(Config.NumHiddenLayers, batch, Config.NumKeyValueHeads, capacity, Config.HeadDim, dtype, device);

    /// <summary>Checkpoint name of a parameter; a tied head is read through the embeddings (some
    /// checkpoints store it, some do not).</summary>
    public string? CheckpointName(string name) => Config.TieWordEmbeddings && name == "lm_head.weight" ? null : name;
}
