using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>A pre-LayerNorm CLIP transformer layer.</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    public readonly LayerNorm layer_norm1, layer_norm2;
    public readonly ClipAttention self_attn;
    public readonly ClipMlp mlp;

    public ClipEncoderLayer(int hidden, int intermediate, int heads, double eps, string act) : base(nameof(ClipEncoderLayer))
    {
        layer_norm1 = nn.LayerNorm(hidden, eps);
        self_attn = new ClipAttention(hidden, heads);
        layer_norm2 = nn.LayerNorm(hidden, eps);
        mlp = new ClipMlp(hidden, intermediate, act);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        var h = x.add(self_attn.forward(layer_norm1.forward(x), mask), Scalars.One);
        return h.add(mlp.forward(layer_norm2.forward(h)), Scalars.One).MoveToOuterDisposeScope();
    }
}
