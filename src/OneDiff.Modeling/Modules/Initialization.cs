using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>Hugging Face's weight initialisation (<c>_init_weights</c>) for models trained from
/// scratch: Linear and Embedding weights N(0, std), biases zero, norms to one/zero. Loaded
/// checkpoints overwrite all of it.</summary>
public static class Initialization
{
    public static void HuggingFace(nn.Module module, double std = 0.02)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Linear l:
                    nn.init.normal_(l.weight!, 0, std);
                    if (l.bias is not null) nn.init.zeros_(l.bias);
                    break;
                case Embedding e:
                    nn.init.normal_(e.weight!, 0, std);
                    break;
                case LayerNorm n:
                    if (n.weight is not null) nn.init.ones_(n.weight);
                    if (n.bias is not null) nn.init.zeros_(n.bias);
                    break;
            }
        }
    }
}
