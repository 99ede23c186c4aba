using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>
/// Image-Editing-Request (Tan et al. 2019): <c>{train,valid,test}.json</c> of
/// <c>{"img0", "img1", "sents", "uid"}</c>; images under <c>images/</c> (or beside the json). The
/// references are imperative edit requests, kept as written (trimmed).
/// </summary>
public sealed class ImageEditingRequestReader : DatasetReader
{
    public override string Name => "image-editing-request";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        string split = o.Split == "val" ? "valid" : o.Split;
        string file = Annotation(root, $"{split}.json", $"json/{split}.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
        var records = new List<DiffCapRecord>();
        int index = 0;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            string id = e.TryGetProperty("uid", out var uid) ? uid.GetString()! : $"{index}";
            string record = $"uid {id}";
            index++;
            if (!e.TryGetProperty("img0", out var i0) || !e.TryGetProperty("img1", out var i1))
            {
                report.Problem(record, file, "needs \"img0\" and \"img1\"");
                continue;
            }
            var captions = e.TryGetProperty("sents", out var s) ? CleanCaptions(s.EnumerateArray().Select(x => x.GetString())) : [];
            if (captions.Count == 0) { report.Problem(record, file, "has no edit requests"); continue; }
            string? a = Image(root, record, o, report, $"images/{i0.GetString()}", i0.GetString()!);
            string? b = Image(root, record, o, report, $"images/{i1.GetString()}", i1.GetString()!);
            if (a is null || b is null) continue;
            records.Add(new DiffCapRecord(id, a, b, PromptOf(o), captions, Name, null, $"{Name}/{split}"));
        }
        return records;
    }
}
