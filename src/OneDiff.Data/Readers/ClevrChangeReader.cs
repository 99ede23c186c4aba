using System.Globalization;
using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>
/// CLEVR-Change (Park et al. 2019): <c>images/CLEVR_default_%06d.png</c> (before),
/// <c>sc_images/CLEVR_semantic_%06d.png</c> (after, changed), <c>nsc_images/CLEVR_nonsemantic_%06d.png</c>
/// (after, distractor only); <c>change_captions.json</c> and <c>no_change_captions.json</c> map the
/// before image's file name to captions; <c>splits.json</c> lists numbers per split;
/// <c>type_mapping.json</c> maps change type to file names. Each number gives a change pair (id
/// "%06d.png", its change type as group) and a no-change pair (id "%06d.png_n", group "no-change").
/// </summary>
public sealed class ClevrChangeReader : DatasetReader
{
    public override string Name => "clevr-change";

    /// <summary>The numbers of one split (splits.json).</summary>
    public static List<int> SplitIds(string root, string split)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Annotation(root, "splits.json", "data/splits.json")));
        if (!doc.RootElement.TryGetProperty(split, out var ids)) throw new InvalidDataException($"{root}: splits.json has no split '{split}'");
        return ids.EnumerateArray().Select(x => x.GetInt32()).ToList();
    }

    /// <summary>Change type of each "%06d.png" file name (type_mapping.json).</summary>
    public static Dictionary<string, string> ChangeTypes(string root)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Annotation(root, "type_mapping.json", "data/type_mapping.json")));
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in doc.RootElement.EnumerateObject())
            foreach (var f in t.Value.EnumerateArray()) map[f.GetString()!] = t.Name;
        return map;
    }

    static Dictionary<string, List<string?>> Captions(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetString()).ToList(), StringComparer.Ordinal);
    }

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        var ids = SplitIds(root, o.Split);
        var types = ChangeTypes(root);
        string changeFile = Annotation(root, "change_captions.json", "data/change_captions.json");
        string noChangeFile = Annotation(root, "no_change_captions.json", "data/no_change_captions.json");
        var change = Captions(changeFile);
        var noChange = Captions(noChangeFile);
        var records = new List<DiffCapRecord>();
        foreach (int n in ids)
        {
            string num = n.ToString("D6", CultureInfo.InvariantCulture);
            string before = $"CLEVR_default_{num}.png";
            string id = $"{num}.png";
            string? a = Image(root, $"id {id}", o, report, $"images/{before}");
            if (a is null) continue;
            var cc = CleanCaptions(change.GetValueOrDefault(before) ?? []);
            if (cc.Count == 0) report.Problem($"id {id}", changeFile, $"no change captions for {before}");
            else if (Image(root, $"id {id}", o, report, $"sc_images/CLEVR_semantic_{num}.png") is { } b)
                records.Add(new DiffCapRecord(id, a, b, PromptOf(o), cc, Name, types.GetValueOrDefault(id, "unknown"), $"{Name}/{o.Split}"));
            var nc = CleanCaptions(noChange.GetValueOrDefault(before) ?? []);
            if (nc.Count == 0) report.Problem($"id {id}_n", noChangeFile, $"no no-change captions for {before}");
            else if (Image(root, $"id {id}_n", o, report, $"nsc_images/CLEVR_nonsemantic_{num}.png") is { } c)
                records.Add(new DiffCapRecord($"{id}_n", a, c, PromptOf(o), nc, Name, "no-change", $"{Name}/{o.Split}"));
        }
        return records;
    }
}
