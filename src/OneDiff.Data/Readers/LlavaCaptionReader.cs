namespace OneDiff.Data.Readers;

/// <summary>A single image and its caption (LLaVA's pretraining data), the material of Coupled Sample Training.</summary>
public sealed record ImageCaption(string Id, string Image, string Caption);

/// <summary>
/// LLaVA's JSON (a list of <c>{"id", "image", "conversations": [{"from": "human", ...}, {"from": "gpt", ...}]}</c>):
/// each record with an image gives (image, first answer). Text-only records carry no image; they are
/// counted in <see cref="TextOnly"/>, not read.
/// </summary>
public sealed class LlavaCaptionReader
{
    public int TextOnly { get; private set; }

    public List<ImageCaption> Read(string jsonFile, string imageRoot, DataReport report, bool checkImages = true, string? arrayProperty = null)
    {
        var result = new List<ImageCaption>();
        foreach (var (id, image, messages) in LlavaJson.Records(jsonFile, arrayProperty))
        {
            if (image is null) { TextOnly++; continue; }
            string? caption = messages.Where(m => m.From == "gpt").Select(m => m.Value).FirstOrDefault();
            if (string.IsNullOrWhiteSpace(caption)) { report.Problem($"id {id}", jsonFile, "has no gpt answer to use as caption"); continue; }
            var path = Formats.DatasetPaths.Resolve(imageRoot, image, $"id {id}", report);
            if (path is null) continue;
            if (checkImages && !File.Exists(path)) { report.Problem($"id {id}", path, "image file is missing"); continue; }
            result.Add(new ImageCaption(id, path, caption.Trim()));
        }
        return result;
    }
}

/// <summary>
/// Coupled Sample Training: pseudo pairs from single-image captions, paired at random (seeded),
/// the two captions joined as the target.
/// </summary>
public static class CoupledSamples
{
    public static List<DiffCapRecord> Create(IReadOnlyList<ImageCaption> captions, int seed, int? count = null, string separator = " ")
    {
        if (captions.Count < 2) throw new ArgumentException("coupled samples need at least two captioned images", nameof(captions));
        var rng = new Random(seed);
        int n = count ?? captions.Count / 2;
        var order = Enumerable.Range(0, captions.Count).OrderBy(_ => rng.Next()).ToArray();
        var records = new List<DiffCapRecord>(n);
        for (int k = 0; k < n; k++)
        {
            var a = captions[order[(2 * k) % order.Length]];
            var b = captions[order[(2 * k + 1) % order.Length]];
            if (a.Id == b.Id) b = captions[order[(2 * k + 2) % order.Length]];
            records.Add(new DiffCapRecord($"cst-{a.Id}-{b.Id}", a.Image, b.Image, TaskPrompts.For("cst"),
                [$"{a.Caption.TrimEnd()}{separator}{b.Caption.Trim()}"], "cst", null, "cst"));
        }
        return records;
    }
}
