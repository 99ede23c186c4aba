using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>Grouped-query self-attention with rotary positions (LLaMA / Qwen2), through SDPA,
/// optionally writing to and reading from a KV cache. With no mask and <c>causal</c>, SDPA applies
/// the causal pattern itself (the flash kernel on CUDA); with neither, every key is attended.</summary>
public sealed class LlamaAttention : nn.Module
{
    readonly int _heads, _kvHeads, _headDim, _layer;
    public readonly Linear q_proj, k_proj, v_proj, o_proj;
    readonly FusedProjections _qkv; // registered nowhere: the parameters are q/k/v_proj's

    /// <summary>LoRA adapters of q/k/v/o_proj, while attached (<see cref="Models.Llama.LlamaModel.AttachLora"/>).</summary>
    public LoraSlots Lora { get; }

    public LlamaAttention(int layer, int hidden, int heads, int kvHeads, int headDim, bool qkvBias, bool outputBias) : base(nameof(LlamaAttention))
    {
        _layer = layer; _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        q_proj = nn.Linear(hidden, heads * headDim, hasBias: qkvBias);
        k_proj = nn.Linear(hidden, kvHeads * headDim, hasBias: qkvBias);
        v_proj = nn.Linear(hidden, kvHeads * headDim, hasBias: qkvBias);
        o_proj = nn.Linear(heads * headDim, hidden, hasBias: outputBias);
        RegisterComponents();
        _qkv = new FusedProjections(q_proj, k_proj, v_proj);
        Lora = new LoraSlots(register_module, name => _internal_submodules.Remove(name),
            ("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj), ("o_proj", o_proj));
    }

    /// <summary>Whether inference runs q/k/v as one product (see <see cref="FusedProjections"/>).</summary>
    public bool ProjectionsFused => _qkv.Intact;

    /// <summary>q/k/v's weights (and biases) as one buffer while fused and in use, else null.</summary>
    internal (Tensor Weight, Tensor? Bias)? FusedQkv =>
        KernelChoices.FusedProjections && _qkv.Weight is { } w ? (w, _qkv.Bias) : null;

    /// <param name="lastQueryOnly">attend from the last position alone (its keys and values for
    /// every position still go to the cache): the prefill's last layer, whose other outputs
    /// nothing reads.</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache, bool lastQueryOnly = false)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        Tensor q, k, v;
        if (Lora.IsEmpty && _qkv.TryForward(x) is { } qkv)
        {
            // (B, T, heads + 2 kvHeads, d): queries and keys side by side, rotated by one RoPE
            // (the same numbers as two: it is element-wise), then seen as (B, heads, T, d).
            var all = qkv.view(b, t, _heads + 2 * _kvHeads, _headDim);
            var qk = RotaryEmbedding.Apply(all.narrow(2, 0, _heads + _kvHeads), ByToken(cos, t), ByToken(sin, t));
            q = qk.narrow(2, 0, _heads).transpose(1, 2);
            k = qk.narrow(2, _heads, _kvHeads).transpose(1, 2);
            v = all.narrow(2, _heads + _kvHeads, _kvHeads).transpose(1, 2);
        }
        else
        {
            // (B, T, heads, d) -> (B, heads, T, d); for one token (decoding) the two orders are the
            // same numbers, so a single view does it: one native call fewer per projection.
            Tensor Heads(Tensor projected, int heads) =>
                t == 1 ? projected.view(b, heads, 1, _headDim) : projected.view(b, t, heads, _headDim).transpose(1, 2);
            q = RotaryEmbedding.Apply(Heads(Lora.Forward(q_proj, x), _heads), cos, sin);
            k = RotaryEmbedding.Apply(Heads(Lora.Forward(k_proj, x), _kvHeads), cos, sin);
            v = Heads(Lora.Forward(v_proj, x), _kvHeads);
        }
        if (cache is not null) (k, v) = cache.Update(_layer, k, v);
        if (lastQueryOnly && t > 1)
        {
            // The last query sees every key (causal or not); a mask keeps its last row.
            q = q.narrow(2, t - 1, 1);
            if (mask is not null && mask.shape[2] > 1) mask = mask.narrow(2, t - 1, 1);
            causal = false;
            t = 1;
        }
        Tensor o;
        long groups = _heads / _kvHeads;
        if (groups > 1 && t == 1 && (mask is null || mask.shape[2] == 1))
        {
            // Grouped-query attention for one query per row: the queries of the heads that share
            // a key/value head become that head's query positions, (B, kvHeads, groups, d), so the
            // cached keys and values are read as they are instead of copied once per group (no
            // causal pattern applies to one query; a key mask broadcasts over the groups).
            var grouped = nn.functional.scaled_dot_product_attention(q.reshape(b, _kvHeads, groups, _headDim), k, v, mask, is_casual: false);
            o = grouped.reshape(b, _heads, 1, _headDim);
        }
        else
        {
            if (groups > 1)
            {
                long s = k.shape[2];
                k = k.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim);
                v = v.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim);
            }
            o = nn.functional.scaled_dot_product_attention(q, k, v, mask, is_casual: causal && mask is null);
        }
        var merged = t == 1 ? o.reshape(b, 1, _heads * _headDim) : o.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return Lora.Forward(o_proj, merged).MoveToOuterDisposeScope();
    }

    /// <summary>cos/sin laid out (B, 1, T, d) for (B, heads, T, d) as (B, T, 1, d) for
    /// (B, T, heads, d): a view (for one token the two are the same).</summary>
    static Tensor ByToken(Tensor rotary, long t) => t == 1 ? rotary : rotary.transpose(1, 2);

    // A move gives every parameter storage of its own: share it again (same Parameter objects).
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) { base._to(device, dtype, non_blocking); _qkv.Fuse(); return this; }
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) { base._to(deviceType, deviceIndex, non_blocking); _qkv.Fuse(); return this; }
    protected override nn.Module _to(ScalarType dtype, bool non_blocking) { base._to(dtype, non_blocking); _qkv.Fuse(); return this; }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _qkv.Dispose();
        base.Dispose(disposing);
    }
}
