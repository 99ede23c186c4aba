using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>
/// Spot-the-Diff (Jhamtani &amp; Berg-Kirkpatrick 2018): <c>data/annotations/{train,val,test}.json</c>,
/// a list of <c>{"img_id", "sentences"}</c>; images <c>resized_images/&lt;id&gt;.png</c> (before) and
/// <c>&lt;id&gt;_2.png</c> (after). Entries sharing an img_id are merged; empty sentences dropped;
/// every sentence is its own reference.
/// </summary>
public sealed class SpotTheDiffReader : DatasetReader
{
    public override string Name => "spot-the-diff";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        string file = Annotation(root, $"data/annotations/{o.Split}.json", $"annotations/{o.Split}.json", $"{o.Split}.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
        var merged = new Dictionary<string, List<string?>>(StringComparer.Ordinal);
        var order = new List<string>();
        int index = 0;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("img_id", out var idEl) || !e.TryGetProperty("sentences", out var sents))
            {
                report.Problem($"entry {index}", file, "needs \"img_id\" and \"sentences\"");
                index++;
                continue;
            }
            string id = idEl.ValueKind == JsonValueKind.String ? idEl.GetString()! : idEl.GetRawText();
            if (!merged.TryGetValue(id, out var list)) { merged[id] = list = []; order.Add(id); }
            list.AddRange(sents.EnumerateArray().Select(s => s.GetString()));
            index++;
        }
        var records = new List<DiffCapRecord>();
        foreach (var id in order)
        {
            string record = $"img_id {id}";
            var captions = CleanCaptions(merged[id]);
            if (captions.Count == 0) { report.Problem(record, file, "has no non-empty sentences"); continue; }
            string? a = Image(root, record, o, report, $"resized_images/{id}.png", $"data/resized_images/{id}.png");
            string? b = Image(root, record, o, report, $"resized_images/{id}_2.png", $"data/resized_images/{id}_2.png");
            if (a is null || b is null) continue;
            records.Add(new DiffCapRecord(id, a, b, PromptOf(o), captions, Name, null, $"{Name}/{o.Split}"));
        }
        return records;
    }
}
