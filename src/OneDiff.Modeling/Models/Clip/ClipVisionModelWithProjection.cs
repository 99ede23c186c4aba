using OneDiff.Modeling.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.Clip;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>
/// CLIP's image tower with its projection (Hugging Face <c>CLIPVisionModelWithProjection</c>): the
/// image embedding CLIP retrieval compares, without the text tower. Its parameter names are those
/// of <c>CLIPModel</c> checkpoints too, so it loads from either kind of folder.
/// </summary>
public sealed class ClipVisionModelWithProjection : nn.Module<Tensor, Tensor>
{
    public ClipVisionConfig Config { get; }
    public readonly ClipVisionTransformer vision_model;
    public readonly Linear visual_projection;

    public ClipVisionModelWithProjection(ClipVisionConfig config, int projectionDim) : base(nameof(ClipVisionModelWithProjection))
    {
        Config = config;
        vision_model = new ClipVisionTransformer(config);
        visual_projection = nn.Linear(config.HiddenSize, projectionDim, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The projected class token, not normalised (Hugging Face's <c>image_embeds</c>).</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var output = vision_model.forward(pixels, new HashSet<int>());
        return visual_projection.forward(output.PoolerOutput);
    }

    /// <summary>Unit-length embeddings, whose dot products are cosine similarities.</summary>
    public Tensor NormalizedImageEmbeds(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        var e = forward(pixels);
        return ClipModel.UnitLength(e).MoveToOuterDisposeScope();
    }

    /// <summary>Builds the model from a <c>CLIPModel</c> or <c>CLIPVisionModelWithProjection</c> folder
    /// (config.json and safetensors; the projection width is the checkpoint's) on <paramref name="device"/> in <paramref name="dtype"/>.</summary>
    public static ClipVisionModelWithProjection FromFolder(string folder, Device device, ScalarType dtype)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var hf = HfConfig.Load(folder);
        var vision = ClipVisionConfig.FromHf(hf.TrySection("vision_config") ?? hf);
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        const string projection = "visual_projection.weight";
        if (!checkpoint.Contains(projection))
            throw new InvalidDataException($"{folder}: the checkpoint has no {projection}; a CLIPModel or CLIPVisionModelWithProjection folder is needed (a CLIPVisionModel has no image projection)");
        int projectionDim = (int)checkpoint.Entry(projection).Shape[0];
        var model = Runtime.BuildOn.Device(device, dtype, () => new ClipVisionModelWithProjection(vision, projectionDim));
        checkpoint.LoadInto(model, strict: true);
        model.eval();
        return model;
    }
}
