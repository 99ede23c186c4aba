using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>
/// InstructPix2Pix generated data: one folder per prompt holding <c>prompt.json</c>
/// (<c>input</c>/<c>caption</c>, <c>edit</c>, <c>output</c>) and image pairs <c>{seed}_0.jpg</c>
/// (before) / <c>{seed}_1.jpg</c> (after); the edit instruction is the reference. All folders are
/// one split.
/// </summary>
public sealed class InstructPix2PixReader : DatasetReader
{
    public override string Name => "instructpix2pix";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        var records = new List<DiffCapRecord>();
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string promptFile = Path.Combine(dir, "prompt.json");
            string name = Path.GetFileName(dir);
            if (!File.Exists(promptFile)) { report.Problem($"folder {name}", promptFile, "has no prompt.json"); continue; }
            string? edit;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(promptFile));
                edit = doc.RootElement.TryGetProperty("edit", out var e) ? e.GetString() : null;
            }
            catch (JsonException ex) { report.Problem($"folder {name}", promptFile, $"not valid JSON ({ex.Message})"); continue; }
            if (string.IsNullOrWhiteSpace(edit)) { report.Problem($"folder {name}", promptFile, "has no \"edit\" instruction"); continue; }
            var befores = Directory.GetFiles(dir, "*_0.*").Order(StringComparer.Ordinal).ToList();
            if (befores.Count == 0) report.Problem($"folder {name}", dir, "has no {seed}_0 images");
            foreach (var before in befores)
            {
                string seed = Path.GetFileName(before)[..^("_0" + Path.GetExtension(before)).Length];
                string record = $"folder {name} seed {seed}";
                string? a = Image(root, record, o, report, Path.GetRelativePath(root, before));
                string? b = Image(root, record, o, report, Path.Combine(name, $"{seed}_1{Path.GetExtension(before)}"));
                if (a is null || b is null) continue;
                records.Add(new DiffCapRecord($"{name}/{seed}", a, b, PromptOf(o), [edit.Trim()], Name, null, Name));
            }
        }
        return records;
    }
}
