using OneDiff.Modeling.Models.QFormer;
using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.OneDiff;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>
/// The Visual Delta Module: learned delta tokens (N(0, 0.02)) run through a Q-Former stack whose
/// cross-attention reads CLIP hidden states of both images, each map tagged with a learned
/// embedding of which image and which level it is.
/// </summary>
public sealed class VisualDeltaModule : nn.Module
{
    readonly DeltaReadout _readout;
    /// <summary>What each cross-attention block reads (the config's choice, fixed when built).</summary>
    public DeltaReadout Readout => _readout;
    public readonly Parameter delta_tokens, image_embedding, level_embedding;
    public readonly QFormerModel qformer;

    public VisualDeltaModule(OneDiffConfig config) : base(nameof(VisualDeltaModule))
    {
        _readout = config.Readout;
        int width = config.Vision.HiddenSize;
        delta_tokens = new Parameter(torch.randn(1, config.NumDeltaTokens, config.Delta.HiddenSize).mul(Scalars.Of(0.02)));
        image_embedding = new Parameter(torch.randn(2, width).mul(Scalars.Of(0.02)));
        level_embedding = new Parameter(torch.randn(config.DeltaFeatureLayers.Length, width).mul(Scalars.Of(0.02)));
        qformer = new QFormerModel(config.Delta);
        RegisterComponents();
    }

    /// <param name="levelsA">per level, (B, tokens, width) hidden states of image A.</param>
    /// <param name="levelsB">the same for image B.</param>
    /// <returns>(B, delta tokens, delta hidden).</returns>
    public Tensor forward(IReadOnlyList<Tensor> levelsA, IReadOnlyList<Tensor> levelsB)
    {
        using var scope = torch.NewDisposeScope();
        long b = levelsA[0].shape[0];
        Tensor Tag(Tensor h, int image, int level) => h.add(image_embedding[image], Scalars.One).add(level_embedding[level], Scalars.One);
        var tagged = new Tensor[2, levelsA.Count];
        for (int l = 0; l < levelsA.Count; l++) { tagged[0, l] = Tag(levelsA[l], 0, l); tagged[1, l] = Tag(levelsB[l], 1, l); }
        var queries = delta_tokens.expand(b, -1, -1);
        Tensor output;
        if (_readout == DeltaReadout.AllLevels)
        {
            var all = torch.cat(Enumerable.Range(0, 2).SelectMany(i => Enumerable.Range(0, levelsA.Count).Select(l => tagged[i, l])).ToArray(), 1);
            output = qformer.forward(queries, all);
        }
        else
        {
            // Cross-attention block k (the k-th layer that has one) reads level k.
            var crossLayers = Enumerable.Range(0, qformer.encoder.layer.Count).Where(i => qformer.encoder.layer[i].HasCrossAttention).ToList();
            output = qformer.ForwardPerLayer(queries, i => torch.cat([tagged[0, crossLayers.IndexOf(i)], tagged[1, crossLayers.IndexOf(i)]], 1));
        }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Parameter name of this module (under "delta_module.") to a bert-base checkpoint name.</summary>
    public static string? BertName(string name) =>
        name.StartsWith("qformer.", StringComparison.Ordinal) ? QFormerModel.BertName(name["qformer.".Length..]) : null;
}
