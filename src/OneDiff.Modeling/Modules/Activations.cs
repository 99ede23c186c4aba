using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>The activations Hugging Face configs name in <c>hidden_act</c>.</summary>
public static class Activations
{
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "quick_gelu" => x * torch.sigmoid(x.mul(Scalars.Of(1.702))),
        "gelu" => nn.functional.gelu(x),
        "gelu_pytorch_tanh" or "gelu_new" => x.gelu(TorchSharp.Modules.GELU.Approximate.tanh),
        "silu" or "swish" => nn.functional.silu(x),
        "relu" => nn.functional.relu(x),
        _ => throw new NotSupportedException($"activation '{name}' is not supported"),
    };
}
