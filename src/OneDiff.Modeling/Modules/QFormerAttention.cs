using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>An attention sublayer with its residual output (Hugging Face
/// <c>Blip2QFormerAttention</c>: <c>attention</c> then <c>output</c>).</summary>
public sealed class QFormerAttention : nn.Module<Tensor, Tensor?, Tensor?, Tensor>
{
    public readonly QFormerMultiHeadAttention attention;
    public readonly QFormerResidualOutput output;

    public QFormerAttention(int hidden, int heads, int keyValueWidth, double eps) : base(nameof(QFormerAttention))
    {
        attention = new QFormerMultiHeadAttention(hidden, heads, keyValueWidth);
        output = new QFormerResidualOutput(hidden, hidden, eps);
        RegisterComponents();
    }

    /// <param name="encoderStates">null for self-attention; the states to read for cross-attention.</param>
    public override Tensor forward(Tensor x, Tensor? encoderStates, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        var attended = attention.forward(x, encoderStates ?? x, mask);
        return output.forward(attended, x).MoveToOuterDisposeScope();
    }
}
