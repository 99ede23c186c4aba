namespace OneDiff.Data.Readers;

/// <summary>The task prompt of each dataset (one per dataset, so one model learns each dataset's
/// style). Plain data: pass your own through <see cref="ReadOptions.Prompt"/>.</summary>
public static class TaskPrompts
{
    public static readonly IReadOnlyDictionary<string, string> Default = new Dictionary<string, string>
    {
        ["spot-the-diff"] = "Describe the difference between the two images in one sentence.",
        ["image-editing-request"] = "Write the editing request that turns the first image into the second.",
        ["birds-to-words"] = "Describe how the bird in the first image differs from the bird in the second.",
        ["clevr-change"] = "Describe the change between the two scenes, or say that nothing changed.",
        ["nlvr2"] = "Make a statement about these two images.",
        ["instructpix2pix"] = "Write the editing request that turns the first image into the second.",
        ["synthetic"] = Synthetic.ProceduralPairGenerator.Prompt,
        ["cst"] = "Describe the two images.",
    };

    public static string For(string task) => Default.TryGetValue(task, out var p) ? p : "Describe the difference between the two images.";
}

/// <summary>How to read a dataset.</summary>
public sealed record ReadOptions
{
    /// <summary>The split ("train", "val"/"valid", "test"); readers accept their dataset's names.</summary>
    public string Split { get; init; } = "train";
    /// <summary>Check that every image file exists (off to count annotations without images).</summary>
    public bool CheckImages { get; init; } = true;
    /// <summary>Overrides the dataset's task prompt.</summary>
    public string? Prompt { get; init; }
}
