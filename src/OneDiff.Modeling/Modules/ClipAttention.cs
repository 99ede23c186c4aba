using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>CLIP multi-head self-attention (q/k/v/out projections with bias), through SDPA.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    readonly int _heads;
    public readonly Linear q_proj, k_proj, v_proj, out_proj;

    public ClipAttention(int hidden, int heads) : base(nameof(ClipAttention))
    {
        _heads = heads;
        q_proj = nn.Linear(hidden, hidden);
        k_proj = nn.Linear(hidden, hidden);
        v_proj = nn.Linear(hidden, hidden);
        out_proj = nn.Linear(hidden, hidden);
        RegisterComponents();
    }

    /// <param name="mask">additive mask broadcastable to (B, heads, T, T), or null.</param>
    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        Tensor Heads(Tensor y) => y.view(b, t, _heads, d / _heads).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(Heads(q_proj.forward(x)), Heads(k_proj.forward(x)), Heads(v_proj.forward(x)), mask);
        return out_proj.forward(o.transpose(1, 2).reshape(b, t, d)).MoveToOuterDisposeScope();
    }
}
