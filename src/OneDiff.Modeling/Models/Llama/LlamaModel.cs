using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Llama;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>The decoder body (Hugging Face <c>LlamaModel</c> / <c>Qwen2Model</c>): token embeddings,
/// the layers and the final RMSNorm.</summary>
public sealed class LlamaModel : nn.Module
{
    public LlamaConfig Config { get; }
    readonly RotaryEmbedding _rotary;
    public readonly Embedding embed_tokens;
    public readonly ModuleList<LlamaDecoderLayer> layers;
    public readonly RmsNorm norm;

    /// <summary>Keep only each layer's input in training and run the layer again in the backward
    /// pass (<see cref="CheckpointedDecoderLayer"/>): activation memory of one layer instead of all,
    /// for about one more forward pass of compute.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The LoRA settings of the attached adapters; null when none are attached.</summary>
    public LoraConfig? Lora { get; private set; }

    public LlamaModel(LlamaConfig config) : base(nameof(LlamaModel))
    {
        Config = config;
        _rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta);
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(i => new LlamaDecoderLayer(i, config)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        RegisterComponents();
    }

    /// <summary>Attaches LoRA adapters to the targeted projections of every layer, on the layers'
    /// device and dtype (<see cref="LoraAdapter"/>); the model's own parameters are left as they are.</summary>
    public void AttachLora(LoraConfig config)
    {
        config.Check();
        if (Lora is not null) throw new InvalidOperationException("LoRA adapters are already attached; merge them first");
        foreach (var layer in layers) { layer.self_attn.Lora.Attach(config); layer.mlp.Lora.Attach(config); }
        Lora = config;
    }

    /// <summary>The attached adapters with their parameter-name prefixes (layers.N.self_attn.q_proj_lora).</summary>
    public IEnumerable<(string Name, LoraAdapter Adapter)> LoraAdapters() =>
        layers.SelectMany((layer, i) =>
            layer.self_attn.Lora.Adapters.Select(a => ($"layers.{i}.self_attn.{a.Projection}_lora", a.Adapter))
                .Concat(layer.mlp.Lora.Adapters.Select(a => ($"layers.{i}.mlp.{a.Projection}_lora", a.Adapter))));

    /// <summary>CPU copies of the attached adapters' parameters by name under this model
    /// (layers.N.self_attn.q_proj_lora.lora_A): what a file needs to rebuild them on the base
    /// weights, kept once they are merged.</summary>
    public Dictionary<string, Tensor> CopyLoraWeights()
    {
        var copies = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, adapter) in LoraAdapters())
            foreach (var (parameter, value) in adapter.named_parameters())
            {
                using var scope = torch.NewDisposeScope();
                copies[$"{name}.{parameter}"] = value.detach().clone().cpu().DetachFromDisposeScope();
            }
        return copies;
    }

    /// <summary>Seeds the adapters' dropout for the next forward pass from one key (a training
    /// step's), each adapter its own mask.</summary>
    public void SetLoraDropoutKey(long key)
    {
        int i = 0;
        foreach (var (_, adapter) in LoraAdapters())
            adapter.DropoutSeed = (long)(Mix((ulong)key * 1_000_003UL + (ulong)i++) >> 1);
    }

    /// <summary>SplitMix64's finaliser: neighbouring keys give unrelated seeds.</summary>
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Folds the adapters into the projections' weights and removes them: the model is
    /// then a plain one (same parameter names) that computes what the adapted one did.</summary>
    public void MergeLora()
    {
        foreach (var layer in layers) { layer.self_attn.Lora.Merge(); layer.mlp.Lora.Merge(); }
        Lora = null;
    }

    /// <summary>Whether a token decoded after a KV cache goes through <see cref="ScriptedDecoderLayers"/>
    /// (one call for every layer) rather than layer by layer.</summary>
    public bool DecodesScripted => ScriptedWeights() is not null;

    /// <summary>The layers' weights for <see cref="ScriptedDecoderLayers"/>, or null where it does
    /// not apply (switched off, LoRA attached, projections not fused, another activation or biases
    /// the script does not take). Gathered per token: a few hundred references, no native call.</summary>
    ScriptedDecoderLayers.Weights? ScriptedWeights()
    {
        if (!KernelChoices.ScriptedDecoding || !KernelChoices.FusedProjections || Lora is not null || Config.MlpBias || Config.OutputBias
            || Config.HiddenAct is not ("silu" or "swish") || layers.Count == 0) return null;
        int n = layers.Count;
        var w = new ScriptedDecoderLayers.Weights(new Tensor[n], new Tensor[n], Config.QkvBias ? new Tensor[n] : [], new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n]);
        for (int i = 0; i < n; i++)
        {
            var layer = layers[i];
            var attention = layer.self_attn;
            if (!attention.Lora.IsEmpty || !layer.mlp.Lora.IsEmpty) return null;
            if (attention.FusedQkv is not { } qkv || layer.mlp.FusedGateUp is not { } gateUp) return null;
            w.InputNorms[i] = layer.input_layernorm.weight;
            w.QkvWeights[i] = qkv.Weight;
            if (Config.QkvBias) { if (qkv.Bias is null) return null; w.QkvBiases[i] = qkv.Bias; }
            w.OWeights[i] = attention.o_proj.weight!;
            w.PostNorms[i] = layer.post_attention_layernorm.weight;
            w.GateUpWeights[i] = gateUp;
            w.DownWeights[i] = layer.mlp.down_proj.weight!;
        }
        return w;
    }

    /// <param name="inputsEmbeds">(B, T, hidden).</param>
    /// <param name="attentionMask">(B, cached + T) 1/0 mask over everything attended (made causal
    /// here), a (B, 1, T or 1, cached + T) additive mask used as given, or null (causal, no padding).</param>
    /// <param name="positionIds">(B, T) positions, or null (cached length + 0..T-1).</param>
    /// <param name="cache">a KV cache to extend, or null.</param>
    /// <param name="lastPositionOnly">return only the last position's hidden state (B, 1, hidden):
    /// the last layer then runs its attention output and feed-forward for that position alone,
    /// which is all a prefill before decoding reads (every layer's keys and values still go to the
    /// cache).</param>
    public Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache, bool lastPositionOnly = false)
    {
        using var scope = torch.NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        int past = cache?.Length ?? 0;
        positionIds ??= torch.arange(Scalars.Of((long)past), Scalars.Of(past + t), device: inputsEmbeds.device).unsqueeze(0).expand(b, t);
        var (cos, sin) = _rotary.Compute(positionIds, inputsEmbeds.dtype);
        // Without a mask: SDPA's own causal pattern for a fresh sequence (no mask tensor, the flash
        // kernel on CUDA), nothing for one new token after a cache, an offset pattern otherwise.
        Tensor? mask = null;
        bool causal = false;
        if (attentionMask is not null && attentionMask.dim() == 4) mask = attentionMask;
        else if (attentionMask is not null) mask = Masks.Decoder(attentionMask, t, inputsEmbeds.dtype);
        else if (past == 0) causal = true;
        else if (t > 1) mask = Masks.Additive(Masks.CausalAllowed(t, past + t, inputsEmbeds.device), inputsEmbeds.dtype);
        var x = inputsEmbeds;
        bool checkpoint = GradientCheckpointing && cache is null && torch.is_grad_enabled();
        if (t == 1 && cache is not null && !torch.is_grad_enabled() && (mask is null || mask.shape[2] == 1) && ScriptedWeights() is { } weights)
        {
            if (cache.Length + 1 > cache.Capacity) throw new InvalidOperationException($"KV cache capacity {cache.Capacity} exceeded (length {cache.Length} + 1)");
            x = ScriptedDecoderLayers.Decode(x, cos, sin, mask, cache.Length, Config.RmsNormEps, RmsNorm.Fused(x), weights, cache.KeyBuffers, cache.ValueBuffers);
        }
        else
        {
            for (int i = 0; i < layers.Count; i++)
                x = checkpoint && x.requires_grad
                    ? CheckpointedDecoderLayer.Apply(layers[i], x, cos, sin, mask, causal)
                    : layers[i].forward(x, cos, sin, mask, causal, cache, lastPositionOnly && i == layers.Count - 1);
        }
        cache?.Advance((int)t);
        return norm.forward(x).MoveToOuterDisposeScope();
    }
}
