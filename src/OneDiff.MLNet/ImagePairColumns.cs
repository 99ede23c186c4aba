namespace OneDiff.MLNet;

/// <summary>
/// The columns of an image-pair table. The two image columns may hold paths (text), encoded image
/// bytes (a vector of bytes) or images loaded by ML.NET's image transforms (<c>MLImage</c>).
/// References (a vector of text, or one text), prompt, task, group and id are optional.
/// </summary>
public sealed class ImagePairColumns
{
    public string Image1ColumnName { get; set; } = "Image1";
    public string Image2ColumnName { get; set; } = "Image2";
    public string? ReferencesColumnName { get; set; } = "References";
    public string? PromptColumnName { get; set; } = "Prompt";
    public string? TaskColumnName { get; set; } = "Task";
    public string? GroupColumnName { get; set; } = "Group";
    public string? IdColumnName { get; set; } = "Id";
}
