namespace OneDiff.MLNet;

/// <summary>
/// The columns of an image-pair table, the one type every reader of such a table takes (the
/// trainer's options name them flat, as ML.NET options do, and its plan turns them into this once).
/// The two image columns may hold paths (text), encoded image bytes (a vector of bytes) or images
/// loaded by ML.NET's image transforms (<c>MLImage</c>). References (a vector of text, or one
/// text), prompt, task, group and id are optional: null means not read.
/// </summary>
public sealed record ImagePairColumns
{
    public string Image1ColumnName { get; init; } = "Image1";
    public string Image2ColumnName { get; init; } = "Image2";
    public string? ReferencesColumnName { get; init; } = "References";
    public string? PromptColumnName { get; init; } = "Prompt";
    public string? TaskColumnName { get; init; } = "Task";
    public string? GroupColumnName { get; init; } = "Group";
    public string? IdColumnName { get; init; } = "Id";

    /// <summary>What captioning reads: the images, the prompt and the task.</summary>
    public ImagePairColumns ForCaptioning() => this with { ReferencesColumnName = null, GroupColumnName = null, IdColumnName = null };
}
