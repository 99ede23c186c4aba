using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>SwiGLU feed-forward: down(act(gate(x)) * up(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    readonly string _act;
    public readonly Linear gate_proj, up_proj, down_proj;

    public LlamaMlp(int hidden, int intermediate, bool bias, string act) : base(nameof(LlamaMlp))
    {
        _act = act;
        gate_proj = nn.Linear(hidden, intermediate, hasBias: bias);
        up_proj = nn.Linear(hidden, intermediate, hasBias: bias);
        down_proj = nn.Linear(intermediate, hidden, hasBias: bias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return down_proj.forward(Activations.Apply(_act, gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
