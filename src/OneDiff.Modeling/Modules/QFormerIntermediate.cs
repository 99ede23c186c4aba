using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>BERT's feed-forward expansion: dense then the activation (GELU).</summary>
public sealed class QFormerIntermediate : nn.Module<Tensor, Tensor>
{
    readonly string _act;
    public readonly Linear dense;

    public QFormerIntermediate(int hidden, int intermediate, string act) : base(nameof(QFormerIntermediate))
    {
        _act = act;
        dense = nn.Linear(hidden, intermediate);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return Activations.Apply(_act, dense.forward(x)).MoveToOuterDisposeScope();
    }
}
