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

    public LlamaAttention(int layer, int hidden, int heads, int kvHeads, int headDim, bool qkvBias, bool outputBias) : base(nameof(LlamaAttention))
    {
        _layer = layer; _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        q_proj = nn.Linear(hidden, heads * headDim, hasBias: qkvBias);
        k_proj = nn.Linear(hidden, kvHeads * headDim, hasBias: qkvBias);
        v_proj = nn.Linear(hidden, kvHeads * headDim, hasBias: qkvBias);
        o_proj = nn.Linear(heads * headDim, hidden, hasBias: outputBias);
        RegisterComponents();
        _qkv = new FusedProjections(q_proj, k_proj, v_proj);
    }

    /// <summary>Whether inference runs q/k/v as one product (see <see cref="FusedProjections"/>).</summary>
    public bool ProjectionsFused => _qkv.Intact;

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        // (B, T, heads, d) -> (B, heads, T, d); for one token (decoding) the two orders are the same
        // numbers, so a single view does it: one native call fewer per projection, layer and token.
        Tensor Heads(Tensor projected, int heads) =>
            t == 1 ? projected.view(b, heads, 1, _headDim) : projected.view(b, t, heads, _headDim).transpose(1, 2);
        Tensor q, k, v;
        if (_qkv.TryForward(x) is { } qkv)
        {
            long nq = _heads * _headDim, nkv = _kvHeads * _headDim;
            q = Heads(qkv.narrow(-1, 0, nq), _heads);
            k = Heads(qkv.narrow(-1, nq, nkv), _kvHeads);
            v = Heads(qkv.narrow(-1, nq + nkv, nkv), _kvHeads);
        }
        else
        {
            q = Heads(q_proj.forward(x), _heads);
            k = Heads(k_proj.forward(x), _kvHeads);
            v = Heads(v_proj.forward(x), _kvHeads);
        }
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Update(_layer, k, v);
        if (_kvHeads != _heads)
        {
            long s = k.shape[2], groups = _heads / _kvHeads;
            k = k.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim);
            v = v.unsqueeze(2).expand(b, _kvHeads, groups, s, _headDim).reshape(b, _heads, s, _headDim);
        }
        var o = nn.functional.scaled_dot_product_attention(q, k, v, mask, is_casual: causal && mask is null);
        var merged = t == 1 ? o.reshape(b, 1, _heads * _headDim) : o.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }

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
