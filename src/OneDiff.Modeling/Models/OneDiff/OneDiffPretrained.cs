using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.QFormer;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.OneDiff;

/// <summary>Hugging Face folders to start a OneDiff model from; each is optional.</summary>
/// <param name="Clip">an <c>openai/clip-vit-large-patch14-336</c>-style folder (CLIPModel or CLIPVisionModel weights).</param>
/// <param name="Bert">a <c>bert-base-uncased</c>-style folder: its layers 0..n-1 initialise the delta module.</param>
/// <param name="Llm">a LLaMA/Vicuna or Qwen2 folder with config.json, weights and tokenizer.</param>
public sealed record PretrainedFolders(string? Clip = null, string? Bert = null, string? Llm = null);

/// <summary>Builds OneDiff models from a preset or Hugging Face folders, straight on the target
/// device and dtype (parameters are allocated there and checkpoint tensors copied in one at a
/// time, so no second full copy is ever held).</summary>
public static class OneDiffPretrained
{
    /// <summary>The config a preset becomes once the folders' own config.json files are read (what
    /// the folders hold replaces the preset's sizes; the choices the paper leaves open stay).</summary>
    public static OneDiffConfig Resolve(OneDiffConfig preset, PretrainedFolders? folders)
    {
        var c = preset;
        if (folders?.Clip is { } clip)
        {
            var hf = HfConfig.Load(clip);
            c = c with { Vision = ClipVisionConfig.FromHf(hf.TrySection("vision_config") ?? hf) };
        }
        if (folders?.Llm is { } llm) c = c with { Llm = LlamaConfig.FromHf(HfConfig.Load(llm)), Tokenizer = "folder" };
        if (folders?.Bert is { } bert)
            c = c with { Delta = QFormerConfig.FromBert(HfConfig.Load(bert), c.Delta.NumHiddenLayers, c.Vision.HiddenSize, c.Delta.CrossAttentionFrequency) };
        else c = c with { Delta = c.Delta with { EncoderHiddenSize = c.Vision.HiddenSize } };
        return c;
    }

    /// <summary>Builds the model of <paramref name="config"/> on <paramref name="device"/> in
    /// <paramref name="dtype"/> and loads what the folders hold. The config is taken as it is:
    /// resolved against the same folders (<see cref="Resolve"/>), as a training plan or a saved
    /// model has it; a folder whose shapes differ fails the strict load, naming the tensor.</summary>
    public static OneDiffModel Build(OneDiffConfig config, PretrainedFolders? folders, Device device, ScalarType dtype)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        config.CheckSizes();
        var model = Runtime.BuildOn.Device(device, dtype, () => new OneDiffModel(config));

        if (folders?.Clip is { } clip)
        {
            using var ck = SafetensorsCheckpoint.Open(clip);
            // CLIPModel checkpoints prefix the tower with "vision_model."; CLIPVisionModel ones may not.
            string prefix = ck.Contains("vision_model.embeddings.class_embedding") ? "vision_model." : "";
            ck.LoadInto(model.vision_tower, strict: true, n => prefix + n);
        }
        if (folders?.Bert is { } bert)
        {
            using var ck = SafetensorsCheckpoint.Open(bert);
            string prefix = ck.Contains("bert.embeddings.LayerNorm.weight") ? "bert." : "";
            ck.LoadInto(model.delta_module, strict: true, n => VisualDeltaModule.BertName(n) is { } b ? prefix + b : null);
        }
        if (folders?.Llm is { } llm)
        {
            using var ck = SafetensorsCheckpoint.Open(llm);
            ck.LoadInto(model.language_model, strict: true, model.language_model.CheckpointName);
            model.language_model.TieWeights();
        }
        model.SetStage(TrainingStage.CoupledSampleTraining);
        return model;
    }

    /// <summary>The tokenizer the config names: the embedded tiny one, or the LLM folder's.</summary>
    public static TextTokenizer Tokenizer(OneDiffConfig config, PretrainedFolders? folders) => config.Tokenizer switch
    {
        "tiny" => TextTokenizer.Tiny(),
        "folder" when folders?.Llm is { } llm => TextTokenizer.FromFolder(llm),
        _ => throw new InvalidOperationException($"{config.Name}: the tokenizer comes from the LLM folder, and none was given"),
    };
}
