using OneDiff.Modeling.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Clip;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>
/// CLIP's text tower with its projection (Hugging Face <c>CLIPTextModelWithProjection</c>): the
/// caption embedding that CLIPScore compares with the image embedding. Its parameter names are
/// those of <c>CLIPModel</c> checkpoints too, so it loads from either kind of folder.
/// </summary>
public sealed class ClipTextModelWithProjection : nn.Module<Tensor, Tensor?, Tensor>
{
    public ClipTextConfig Config { get; }
    public readonly ClipTextTransformer text_model;
    public readonly Linear text_projection;

    public ClipTextModelWithProjection(ClipTextConfig config, int projectionDim) : base(nameof(ClipTextModelWithProjection))
    {
        Config = config;
        text_model = new ClipTextTransformer(config);
        text_projection = nn.Linear(config.HiddenSize, projectionDim, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The projected end-of-text state, not normalised (Hugging Face's <c>text_embeds</c>).</summary>
    public override Tensor forward(Tensor ids, Tensor? attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        var (_, pooled) = text_model.forward(ids, attentionMask);
        return text_projection.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>Unit-length embeddings, whose dot products with image embeddings are cosine similarities.</summary>
    public Tensor NormalizedTextEmbeds(Tensor ids, Tensor? attentionMask)
    {
        using var scope = torch.NewDisposeScope();
        var e = forward(ids, attentionMask);
        return ClipModel.UnitLength(e).MoveToOuterDisposeScope();
    }

    /// <summary>Builds the model from a <c>CLIPModel</c> or <c>CLIPTextModelWithProjection</c> folder
    /// (config.json and safetensors; the projection width is the checkpoint's).</summary>
    public static ClipTextModelWithProjection FromFolder(string folder, Device device, ScalarType dtype)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var hf = HfConfig.Load(folder);
        var text = ClipTextConfig.FromHf(hf.TrySection("text_config") ?? hf);
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        const string projection = "text_projection.weight";
        if (!checkpoint.Contains(projection))
            throw new InvalidDataException($"{folder}: the checkpoint has no {projection}; a CLIPModel folder (both towers) is needed to score images against captions");
        int projectionDim = (int)checkpoint.Entry(projection).Shape[0];
        var model = Runtime.BuildOn.Device(device, dtype, () => new ClipTextModelWithProjection(text, projectionDim));
        checkpoint.LoadInto(model, strict: true);
        model.eval();
        return model;
    }
}
