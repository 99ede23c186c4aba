namespace OneDiff.MLNet;

/// <summary>What a <see cref="DiffCaptionTransformer"/> needs besides the weights; saved with it.</summary>
public sealed record CaptioningSettings
{
    /// <summary>The columns captioning reads: both images, and the prompt and task where the data has them.</summary>
    public ImagePairColumns Columns { get; init; } = new ImagePairColumns().ForCaptioning();
    public string PredictedCaptionColumnName { get; init; } = "PredictedCaption";
    /// <summary>The conversation template captions are generated with (the stage II one).</summary>
    public string Template { get; init; } = "vicuna_v1";
    /// <summary>The prompt when the data has no prompt column (or an empty prompt).</summary>
    public string DefaultPrompt { get; init; } = "Describe the difference between the two images.";
    public int MaxNewTokens { get; init; } = 32;
    public int NumBeams { get; init; } = 1;
    public int BatchSize { get; init; } = 16;
    public bool PadToSquare { get; init; }
    public string Device { get; init; } = "auto";
    /// <summary>The weights' dtype when loaded: auto (bf16 on CUDA, fp32 on the CPU), float32,
    /// bfloat16 or float16 (CUDA only).</summary>
    public string Precision { get; init; } = "auto";
    /// <summary>Null (the default): captions only. Set: each caption also gets a change map (a
    /// before and an after map over the patch grid, in <see cref="BeforeMapColumnName"/> and
    /// <see cref="AfterMapColumnName"/>), read with this method (docs/change-maps.md).</summary>
    public OneDiff.Modeling.Models.OneDiff.ChangeMapMethod? ChangeMaps { get; init; }
    public string BeforeMapColumnName { get; init; } = "BeforeMap";
    public string AfterMapColumnName { get; init; } = "AfterMap";
}
