using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>One InstructPix2Pix pair with its folder's three prompts: the original image's
/// caption (<c>input</c>), the edited image's (<c>output</c>) and the instruction (<c>edit</c>).</summary>
public sealed record EditPair(string Id, string Image1, string Image2, string Input, string Output, string Edit);

/// <summary>
/// InstructPix2Pix generated data: one folder per prompt holding <c>prompt.json</c>
/// (<c>input</c>/<c>caption</c>, <c>edit</c>, <c>output</c>) and image pairs <c>{seed}_0.jpg</c>
/// (before) / <c>{seed}_1.jpg</c> (after); the edit instruction is the reference. All folders are
/// one split.
/// </summary>
public sealed class InstructPix2PixReader : DatasetReader
{
    public override string Name => "instructpix2pix";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report) =>
        ReadPairs(root, o, report, requirePrompts: false)
            .Select(p => new DiffCapRecord(p.Id, p.Image1, p.Image2, PromptOf(o), [p.Edit], Name, null, Name)).ToList();

    /// <summary>The pairs with all three prompts, for a chat model to describe the edit (the
    /// paper's synthetic DiffCap pairs); a folder without <c>input</c> or <c>output</c> is a problem.</summary>
    public List<EditPair> ReadEditPairs(string root, DataReport report) => ReadPairs(root, new ReadOptions(), report, requirePrompts: true);

    List<EditPair> ReadPairs(string root, ReadOptions o, DataReport report, bool requirePrompts)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"InstructPix2Pix folder not found: {root}");
        var pairs = new List<EditPair>();
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string promptFile = Path.Combine(dir, "prompt.json");
            string name = Path.GetFileName(dir);
            string where = $"folder {name}";
            if (!File.Exists(promptFile)) { report.Problem(where, promptFile, "has no prompt.json"); continue; }
            string? input, edit, output;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(promptFile));
                string? Field(string key) => doc.RootElement.TryGetProperty(key, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                (input, edit, output) = (Field("input") ?? Field("caption"), Field("edit"), Field("output"));
            }
            catch (JsonException ex) { report.Problem(where, promptFile, $"not valid JSON ({ex.Message})"); continue; }
            if (string.IsNullOrWhiteSpace(edit)) { report.Problem(where, promptFile, "has no \"edit\" instruction"); continue; }
            if (requirePrompts && string.IsNullOrWhiteSpace(input)) { report.Problem(where, promptFile, "has no \"input\" (the original caption)"); continue; }
            if (requirePrompts && string.IsNullOrWhiteSpace(output)) { report.Problem(where, promptFile, "has no \"output\" (the edited caption)"); continue; }
            var befores = Directory.GetFiles(dir, "*_0.*").Order(StringComparer.Ordinal).ToList();
            if (befores.Count == 0) report.Problem(where, dir, "has no {seed}_0 images");
            foreach (var before in befores)
            {
                string seed = Path.GetFileName(before)[..^("_0" + Path.GetExtension(before)).Length];
                string record = $"folder {name} seed {seed}";
                string? a = Image(root, record, o, report, Path.GetRelativePath(root, before));
                string? b = Image(root, record, o, report, Path.Combine(name, $"{seed}_1{Path.GetExtension(before)}"));
                if (a is null || b is null) continue;
                pairs.Add(new EditPair($"{name}/{seed}", a, b, input?.Trim() ?? "", output?.Trim() ?? "", edit.Trim()));
            }
        }
        return pairs;
    }
}
