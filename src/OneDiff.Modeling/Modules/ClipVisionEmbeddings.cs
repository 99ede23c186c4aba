using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>Patch convolution (no bias), a learned class token, learned position embeddings.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    readonly int _positions;
    public readonly Parameter class_embedding;
    public readonly Conv2d patch_embedding;
    public readonly Embedding position_embedding;

    public ClipVisionEmbeddings(int hidden, int channels, int patch, int positions) : base(nameof(ClipVisionEmbeddings))
    {
        _positions = positions;
        class_embedding = new Parameter(torch.randn(hidden));
        patch_embedding = nn.Conv2d(channels, hidden, kernel_size: patch, stride: patch, bias: false);
        position_embedding = nn.Embedding(positions, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        long b = pixels.shape[0];
        var patches = patch_embedding.forward(pixels.to(patch_embedding.weight!.dtype)).flatten(2).transpose(1, 2);
        var cls = class_embedding.expand(b, 1, -1);
        var x = torch.cat([cls, patches], 1);
        var ids = torch.arange(Scalars.Of((long)_positions), device: x.device);
        return x.add(position_embedding.forward(ids).unsqueeze(0), Scalars.One).MoveToOuterDisposeScope();
    }
}
