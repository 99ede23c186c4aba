using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;

namespace OneDiff.MLNet;

/// <summary>
/// What a saved OneDiff model is and needs, from its header, without loading its weights
/// (<see cref="DiffCaptioningCatalog.ReadModelInfo"/>): the model's sizes, how it captions, and the
/// folders of base weights it reads when it loads (their files checked by SHA-256 then).
/// </summary>
public sealed record SavedModelInfo(
    int FormatVersion, OneDiffConfig Config, CaptioningSettings Settings, string Tokenizer,
    string? ExternalClipFolder, IReadOnlyList<string> ExternalClipFiles,
    string? ExternalLlmFolder, IReadOnlyList<string> ExternalLlmFiles,
    LoraConfig? Lora)
{
    /// <summary>The external weight files the model names that are not where it says (empty: none missing).</summary>
    public IReadOnlyList<string> MissingFiles =>
        (ExternalClipFolder is { } clip ? ExternalClipFiles.Select(f => Path.Combine(clip, f)) : [])
            .Concat(ExternalLlmFolder is { } llm ? ExternalLlmFiles.Select(f => Path.Combine(llm, f)) : [])
            .Where(f => !File.Exists(f)).ToList();
}
