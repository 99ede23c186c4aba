using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>
/// NLVR2 (Suhr et al. 2019) as OneDiff uses it: JSON lines with <c>sentence</c>, <c>label</c>
/// ("True"/"False"), <c>identifier</c> (split-set-pair-sentence); only True statements are kept,
/// and the statements of one image pair are its references. Images
/// <c>&lt;split&gt;-&lt;set&gt;-&lt;pair&gt;-img0.png</c> / <c>-img1.png</c> under <c>images/&lt;split&gt;/</c>,
/// <c>&lt;split&gt;/</c> or the root.
/// </summary>
public sealed class Nlvr2Reader : DatasetReader
{
    public override string Name => "nlvr2";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        string file = Annotation(root, $"{o.Split}.json", $"data/{o.Split}.json", $"{o.Split}.jsonl");
        var pairs = new Dictionary<string, List<string?>>(StringComparer.Ordinal);
        var order = new List<string>();
        int lineNo = 0;
        foreach (var text in File.ReadLines(file))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement e;
            try { using var d = JsonDocument.Parse(text); e = d.RootElement.Clone(); }
            catch (JsonException ex) { report.Problem($"line {lineNo}", file, $"not valid JSON ({ex.Message})"); continue; }
            if (!e.TryGetProperty("identifier", out var idEl) || !e.TryGetProperty("sentence", out var s) || !e.TryGetProperty("label", out var label))
            {
                report.Problem($"line {lineNo}", file, "needs \"identifier\", \"sentence\" and \"label\"");
                continue;
            }
            if (label.GetString() != "True") continue; // only true statements describe the pair
            var parts = idEl.GetString()!.Split('-');
            if (parts.Length < 4) { report.Problem($"line {lineNo}", file, $"identifier '{idEl.GetString()}' is not split-set-pair-sentence"); continue; }
            string pair = string.Join('-', parts.Take(3));
            if (!pairs.TryGetValue(pair, out var list)) { pairs[pair] = list = []; order.Add(pair); }
            list.Add(s.GetString());
        }
        var records = new List<DiffCapRecord>();
        foreach (var pair in order)
        {
            string record = $"pair {pair}";
            string split = pair.Split('-')[0];
            string? a = Image(root, record, o, report, $"images/{split}/{pair}-img0.png", $"{split}/{pair}-img0.png", $"{pair}-img0.png");
            string? b = Image(root, record, o, report, $"images/{split}/{pair}-img1.png", $"{split}/{pair}-img1.png", $"{pair}-img1.png");
            if (a is null || b is null) continue;
            records.Add(new DiffCapRecord(pair, a, b, PromptOf(o), CleanCaptions(pairs[pair]), Name, null, $"{Name}/{o.Split}"));
        }
        return records;
    }
}
