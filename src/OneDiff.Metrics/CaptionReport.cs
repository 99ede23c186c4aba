using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OneDiff.Metrics;

/// <summary>Renders an evaluation as a text table (x100, as papers print) or as pycocoevalcap-style JSON.</summary>
public static class CaptionReport
{
    static readonly string[] Columns = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"];

    public static string ToTable(CaptionEvaluation e)
    {
        var rows = new List<(string Name, int Count, CaptionScores Scores)> { ("all", e.PerItem.Count, e.Corpus) };
        rows.AddRange(e.PerGroup.Select(g => (g.Key, e.GroupSizes[g.Key], g.Value)));
        int nameWidth = Math.Max(5, rows.Max(r => r.Name.Length));
        var sb = new StringBuilder();
        sb.Append("group".PadRight(nameWidth)).Append("  items");
        foreach (var c in Columns) sb.Append(c.PadLeft(9));
        sb.AppendLine();
        foreach (var (name, count, scores) in rows)
        {
            sb.Append(name.PadRight(nameWidth)).Append(count.ToString(CultureInfo.InvariantCulture).PadLeft(7));
            foreach (var c in Columns) sb.Append((scores.ToDictionary()[c] * 100).ToString("F2", CultureInfo.InvariantCulture).PadLeft(9));
            sb.AppendLine();
        }
        sb.Append($"(scores x100; METEOR modules: {string.Join(" ", e.MeteorModules)})");
        return sb.ToString();
    }

    /// <summary>pycocoevalcap's keys plus METEOR_modules; optionally per_group and per_item.</summary>
    public static string ToJson(CaptionEvaluation e, bool perItem = false, bool indented = true)
    {
        var doc = new Dictionary<string, object>();
        foreach (var (k, v) in e.Corpus.ToDictionary()) doc[k] = v;
        doc["METEOR_modules"] = e.MeteorModules;
        if (e.PerGroup.Count > 0)
            doc["per_group"] = e.PerGroup.ToDictionary(g => g.Key, g => (object)new Dictionary<string, object>(g.Value.ToDictionary().Select(kv => new KeyValuePair<string, object>(kv.Key, kv.Value))) { ["items"] = e.GroupSizes[g.Key] });
        if (perItem) doc["per_item"] = e.PerItem.ToDictionary(i => i.Key, i => i.Value.ToDictionary());
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = indented });
    }
}
