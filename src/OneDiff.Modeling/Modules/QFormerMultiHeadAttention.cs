using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>BERT/Q-Former multi-head attention: query from the hidden states, key and value from
/// the hidden states (self-attention) or from encoder states of another width (cross-attention).</summary>
public sealed class QFormerMultiHeadAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    readonly int _heads;
    public readonly Linear query, key, value;

    public QFormerMultiHeadAttention(int hidden, int heads, int keyValueWidth) : base(nameof(QFormerMultiHeadAttention))
    {
        _heads = heads;
        query = nn.Linear(hidden, hidden);
        key = nn.Linear(keyValueWidth, hidden);
        value = nn.Linear(keyValueWidth, hidden);
        RegisterComponents();
    }

    /// <summary>When set, forward keeps its attention weights, (B, heads, T, S), in
    /// <see cref="Recorded"/> (change maps read the delta tokens' cross-attention); off, the fused
    /// kernel runs and nothing is kept.</summary>
    public bool RecordAttention { get; set; }

    /// <summary>The last forward's attention weights while <see cref="RecordAttention"/> is set;
    /// the module owns it until the next forward.</summary>
    public Tensor? Recorded { get; private set; }

    /// <param name="x">(B, T, hidden) queries' source.</param>
    /// <param name="kv">(B, S, width) keys' and values' source (x itself for self-attention).</param>
    /// <param name="mask">additive mask broadcastable to (B, heads, T, S), or null.</param>
    public override Tensor forward(Tensor x, Tensor kv, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], d = query.weight!.shape[0];
        Tensor Heads(Tensor y) => y.view(b, y.shape[1], _heads, d / _heads).transpose(1, 2);
        Tensor o;
        if (RecordAttention)
        {
            var q = Heads(query.forward(x));
            var scores = torch.matmul(q, Heads(key.forward(kv)).transpose(-2, -1)).div(Scalars.Of(Math.Sqrt(q.shape[3])));
            if (mask is not null) scores = scores.add(mask);
            var weights = scores.softmax(-1);
            o = torch.matmul(weights, Heads(value.forward(kv)));
            Recorded?.Dispose();
            Recorded = weights.detach().DetachFromDisposeScope();
        }
        else o = nn.functional.scaled_dot_product_attention(Heads(query.forward(x)), Heads(key.forward(kv)), Heads(value.forward(kv)), mask);
        return o.transpose(1, 2).reshape(b, x.shape[1], d).MoveToOuterDisposeScope();
    }
}
