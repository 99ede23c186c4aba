using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>
/// One Q-Former layer for query tokens (Hugging Face <c>Blip2QFormerLayer</c> with only queries):
/// self-attention, cross-attention into the encoder states on layers that have it, then the
/// query feed-forward (<c>intermediate_query</c>, <c>output_query</c>), all post-LayerNorm.
/// </summary>
public sealed class QFormerLayer : nn.Module<Tensor, Tensor?, Tensor?, Tensor>
{
    public readonly QFormerAttention attention;
    public readonly QFormerAttention? crossattention;
    public readonly QFormerIntermediate intermediate_query;
    public readonly QFormerResidualOutput output_query;

    public QFormerLayer(int hidden, int heads, int intermediate, int encoderWidth, bool hasCrossAttention, double eps, string act) : base(nameof(QFormerLayer))
    {
        attention = new QFormerAttention(hidden, heads, hidden, eps);
        if (hasCrossAttention) crossattention = new QFormerAttention(hidden, heads, encoderWidth, eps);
        intermediate_query = new QFormerIntermediate(hidden, intermediate, act);
        output_query = new QFormerResidualOutput(intermediate, hidden, eps);
        RegisterComponents();
    }

    public bool HasCrossAttention => crossattention is not null;

    /// <param name="encoderStates">what cross-attention reads; null runs the layer without it.</param>
    /// <param name="encoderMask">additive mask over the encoder states, or null.</param>
    public override Tensor forward(Tensor x, Tensor? encoderStates, Tensor? encoderMask)
    {
        using var scope = torch.NewDisposeScope();
        var h = attention.forward(x, null, null);
        if (crossattention is not null && encoderStates is not null) h = crossattention.forward(h, encoderStates, encoderMask);
        return output_query.forward(intermediate_query.forward(h), h).MoveToOuterDisposeScope();
    }
}
