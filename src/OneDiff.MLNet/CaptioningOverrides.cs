namespace OneDiff.MLNet;

/// <summary>
/// What a caller may change about a saved model when loading it: where it runs and how it decodes.
/// Unset values keep what was saved (<see cref="CaptioningSettings"/>).
/// </summary>
public sealed record CaptioningOverrides
{
    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    public string? Device { get; init; }
    /// <summary>auto, float32, bfloat16 (a 7B model in half the memory, also on the CPU) or float16 (CUDA only).</summary>
    public string? Precision { get; init; }
    /// <summary>Where a model saved with external base weights finds its vision tower (CLIP
    /// folder) now, when it has moved since (another machine, say): the files must still be the
    /// ones it was saved with (SHA-256).</summary>
    public string? ClipFolder { get; init; }
    /// <summary>Where a LoRA model saved with external base weights finds its LLM folder now (as
    /// LLaVA's <c>--model-base</c>); the same files, checked by SHA-256.</summary>
    public string? LlmFolder { get; init; }
    /// <summary>1 is greedy decoding.</summary>
    public int? NumBeams { get; init; }
    public int? MaxNewTokens { get; init; }
    /// <summary>Pairs captioned together.</summary>
    public int? BatchSize { get; init; }
    /// <summary>Change maps beside the captions, read with this method (null: as saved, which is off
    /// unless the model was saved with them on).</summary>
    public OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? ChangeMaps { get; init; }

    static readonly HashSet<string> KnownPrecisions = ["auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"];

    /// <summary>The saved settings with these overrides; out-of-range values are errors naming the setting.</summary>
    public CaptioningSettings ApplyTo(CaptioningSettings saved)
    {
        static int AtLeastOne(int? value, int saved, string name) =>
            value is null ? saved : value >= 1 ? value.Value : throw new ArgumentOutOfRangeException(null, $"{name} must be 1 or more, not {value}");
        if (!string.IsNullOrWhiteSpace(Precision) && !KnownPrecisions.Contains(Precision.Trim().ToLowerInvariant()))
            throw new ArgumentOutOfRangeException(null, $"unknown precision '{Precision}' (auto, float32, bfloat16, float16)");
        return saved with
        {
            Device = string.IsNullOrWhiteSpace(Device) ? saved.Device : Device.Trim(),
            Precision = string.IsNullOrWhiteSpace(Precision) ? saved.Precision : Precision.Trim(),
            NumBeams = AtLeastOne(NumBeams, saved.NumBeams, nameof(NumBeams)),
            MaxNewTokens = AtLeastOne(MaxNewTokens, saved.MaxNewTokens, nameof(MaxNewTokens)),
            BatchSize = AtLeastOne(BatchSize, saved.BatchSize, nameof(BatchSize)),
            ChangeMaps = ChangeMaps ?? saved.ChangeMaps,
        };
    }
}
