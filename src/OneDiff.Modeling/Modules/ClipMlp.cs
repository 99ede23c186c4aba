using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>CLIP feed-forward: fc1, activation (quick_gelu), fc2.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    readonly string _act;
    public readonly Linear fc1, fc2;

    public ClipMlp(int hidden, int intermediate, string act) : base(nameof(ClipMlp))
    {
        _act = act;
        fc1 = nn.Linear(hidden, intermediate);
        fc2 = nn.Linear(intermediate, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return fc2.forward(Activations.Apply(_act, fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
