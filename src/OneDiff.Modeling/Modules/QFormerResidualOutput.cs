using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>BERT's post-LayerNorm residual block: LayerNorm(dense(x) + residual). Used after
/// attention (<c>attention.output</c>) and after the feed-forward (<c>output</c> /
/// <c>output_query</c>).</summary>
public sealed class QFormerResidualOutput : nn.Module<Tensor, Tensor, Tensor>
{
    public readonly Linear dense;
    public readonly LayerNorm LayerNorm;

    public QFormerResidualOutput(int input, int hidden, double eps) : base(nameof(QFormerResidualOutput))
    {
        dense = nn.Linear(input, hidden);
        LayerNorm = nn.LayerNorm(hidden, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor residual)
    {
        using var scope = torch.NewDisposeScope();
        return LayerNorm.forward(dense.forward(x).add(residual, Scalars.One)).MoveToOuterDisposeScope();
    }
}
