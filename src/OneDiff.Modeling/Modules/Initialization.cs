using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>Hugging Face's weight initialisation (<c>_init_weights</c>) for models trained from
/// scratch: Linear and Embedding weights N(0, std), biases zero, norms to one/zero. Loaded
/// checkpoints overwrite all of it.</summary>
public static class Initialization
{
    /// <summary>CLIP's own initialisation (Hugging Face <c>CLIPPreTrainedModel</c>): small position
    /// embeddings, scaled attention and MLP weights.</summary>
    public static void ClipVision(Models.Clip.ClipVisionTransformer clip, double std = 0.02)
    {
        using var noGrad = torch.no_grad();
        var c = clip.Config;
        double h = c.HiddenSize, layers = c.NumHiddenLayers;
        nn.init.normal_(clip.embeddings.class_embedding, 0, Math.Pow(h, -0.5));
        nn.init.normal_(clip.embeddings.patch_embedding.weight!, 0, std);
        nn.init.normal_(clip.embeddings.position_embedding.weight!, 0, std);
        foreach (var layer in clip.encoder.layers)
        {
            double inProj = Math.Pow(h, -0.5) * Math.Pow(2 * layers, -0.5);
            foreach (var l in new[] { layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj }) { nn.init.normal_(l.weight!, 0, inProj); nn.init.zeros_(l.bias!); }
            nn.init.normal_(layer.self_attn.out_proj.weight!, 0, Math.Pow(h, -0.5));
            nn.init.zeros_(layer.self_attn.out_proj.bias!);
            nn.init.normal_(layer.mlp.fc1.weight!, 0, Math.Pow(2 * h, -0.5));
            nn.init.normal_(layer.mlp.fc2.weight!, 0, inProj);
            nn.init.zeros_(layer.mlp.fc1.bias!);
            nn.init.zeros_(layer.mlp.fc2.bias!);
        }
    }

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
