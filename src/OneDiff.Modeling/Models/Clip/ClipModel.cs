using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Clip;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>What <see cref="ClipModel"/> returns (Hugging Face <c>CLIPOutput</c>).</summary>
public sealed record ClipModelOutput(Tensor TextEmbeds, Tensor ImageEmbeds, Tensor LogitsPerImage, Tensor LogitsPerText) : IDisposable
{
    public void Dispose() { TextEmbeds.Dispose(); ImageEmbeds.Dispose(); LogitsPerImage.Dispose(); LogitsPerText.Dispose(); }
}

/// <summary>
/// CLIP with both towers (Hugging Face <c>CLIPModel</c>): projections without bias, normalised
/// embeddings, and similarity logits scaled by exp(logit_scale). Retrieval needs only its image
/// half, <see cref="ClipVisionModelWithProjection"/>.
/// </summary>
public sealed class ClipModel : nn.Module<Tensor, Tensor?, Tensor, ClipModelOutput>
{
    public ClipConfig Config { get; }
    public readonly ClipTextTransformer text_model;
    public readonly ClipVisionTransformer vision_model;
    public readonly Linear visual_projection, text_projection;
    public readonly Parameter logit_scale;

    public ClipModel(ClipConfig config) : base(nameof(ClipModel))
    {
        Config = config;
        text_model = new ClipTextTransformer(config.Text);
        vision_model = new ClipVisionTransformer(config.Vision);
        visual_projection = nn.Linear(config.Vision.HiddenSize, config.ProjectionDim, hasBias: false);
        text_projection = nn.Linear(config.Text.HiddenSize, config.ProjectionDim, hasBias: false);
        logit_scale = new Parameter(torch.tensor((float)config.LogitScaleInit));
        RegisterComponents();
    }

    /// <summary>Each row divided by its L2 norm, as CLIPModel scales its embeddings: dot products
    /// of the results are cosine similarities.</summary>
    internal static Tensor UnitLength(Tensor e) => e / e.pow(Modules.Scalars.Of(2L)).sum(-1, keepdim: true).sqrt();

    public Tensor ImageEmbeds(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        using var output = vision_model.forward(pixels, new HashSet<int>());
        var e = visual_projection.forward(output.PoolerOutput);
        return UnitLength(e).MoveToOuterDisposeScope();
    }

    public Tensor TextEmbeds(Tensor ids, Tensor? attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        var (_, pooled) = text_model.forward(ids, attentionMask);
        var e = text_projection.forward(pooled);
        return UnitLength(e).MoveToOuterDisposeScope();
    }

    public override ClipModelOutput forward(Tensor ids, Tensor? attentionMask, Tensor pixels)
    {
        var text = TextEmbeds(ids, attentionMask);
        var image = ImageEmbeds(pixels);
        using var scale = logit_scale.exp();
        var perText = torch.matmul(text, image.t()) * scale;
        return new ClipModelOutput(text, image, perText.t().contiguous(), perText);
    }
}
