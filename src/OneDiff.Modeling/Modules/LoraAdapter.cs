using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // parameter names as PEFT names them (lora_A, lora_B)

/// <summary>
/// The trained low-rank update of one frozen linear layer (LoRA): <c>scaling · B A dropout(x)</c>,
/// added to the layer's own output by the module that owns the layer. B starts at zero, so an
/// attached adapter changes nothing until it trains; <see cref="MergeInto"/> folds it into the
/// layer's weight.
/// </summary>
public sealed class LoraAdapter : nn.Module<Tensor, Tensor>
{
    public readonly Parameter lora_A, lora_B;
    readonly double _scaling, _dropout;

    /// <summary>Seeds this adapter's dropout mask while training. The mask is drawn after seeding
    /// torch's generator with this number, so a recomputation of the same forward pass (activation
    /// checkpointing) draws the same mask, and a resumed run the masks of the uninterrupted one.</summary>
    public long DropoutSeed { get; set; }

    public LoraAdapter(Linear target, int rank, double scaling, double dropout) : base(nameof(LoraAdapter))
    {
        var w = target.weight!;
        long output = w.shape[0], input = w.shape[1];
        _scaling = scaling;
        _dropout = dropout;
        // As PEFT: A as nn.Linear initialises its weight (Kaiming uniform, a = sqrt 5), B zero.
        lora_A = new Parameter(torch.empty(rank, input, w.dtype, w.device));
        lora_B = new Parameter(torch.zeros(output, rank, w.dtype, w.device));
        using (torch.no_grad()) nn.init.kaiming_uniform_(lora_A, Math.Sqrt(5));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var input = x;
        if (training && _dropout > 0)
        {
            torch.manual_seed(DropoutSeed).Dispose();
            input = nn.functional.dropout(x, _dropout, training: true);
        }
        var update = nn.functional.linear(nn.functional.linear(input, lora_A), lora_B);
        return update.mul(Scalars.Of(_scaling)).MoveToOuterDisposeScope();
    }

    /// <summary>W += scaling · B A, computed in fp32 and rounded once to W's dtype.</summary>
    public void MergeInto(Linear target)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var w = target.weight!;
        var delta = lora_B.to(ScalarType.Float32).matmul(lora_A.to(ScalarType.Float32)).mul(Scalars.Of(_scaling));
        w.copy_(w.to(ScalarType.Float32).add(delta, Scalars.One));
    }
}
